package forms

import (
	"errors"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/jimu-crm/jimu/engine/problem"
)

// FormSchema is the JSON Schema (draft 2020-12) of a form document as a
// client writes it: the shape is checked here, before what the shape
// names (fields, expressions) is checked against the entity. The server's
// own properties (id, version, times, publish) may be sent back as read
// and are ignored.
const FormSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "urn:jimu:meta:form",
  "type": "object",
  "additionalProperties": false,
  "required": ["name", "entity", "sections"],
  "properties": {
    "name": {"$ref": "#/$defs/name"},
    "entity": {"$ref": "#/$defs/name"},
    "label": {"$ref": "#/$defs/label"},
    "description": {"$ref": "#/$defs/text"},
    "submit_label": {"$ref": "#/$defs/label"},
    "sections": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"$ref": "#/$defs/section"}},
    "id": {"type": "string"},
    "version": {"type": "integer"},
    "created_at": {"type": "string"},
    "updated_at": {"type": "string"},
    "created_by": {"type": "string"},
    "updated_by": {"type": "string"},
    "publish": {}
  },
  "$defs": {
    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
    "expr": {"type": "string", "maxLength": 2000},
    "label": {"oneOf": [
      {"type": "string", "maxLength": 200},
      {"type": "object", "minProperties": 1, "maxProperties": 20,
       "propertyNames": {"pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"},
       "additionalProperties": {"type": "string", "maxLength": 200}}]},
    "text": {"oneOf": [
      {"type": "string", "maxLength": 2000},
      {"type": "object", "minProperties": 1, "maxProperties": 20,
       "propertyNames": {"pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"},
       "additionalProperties": {"type": "string", "maxLength": 2000}}]},
    "section": {
      "type": "object",
      "additionalProperties": false,
      "required": ["fields"],
      "properties": {
        "label": {"$ref": "#/$defs/label"},
        "columns": {"type": "integer", "minimum": 1, "maximum": 4},
        "fields": {"type": "array", "maxItems": 200, "items": {"$ref": "#/$defs/field"}}
      }
    },
    "field": {
      "type": "object",
      "additionalProperties": false,
      "required": ["field"],
      "properties": {
        "field": {"$ref": "#/$defs/name"},
        "column": {"type": "integer", "minimum": 1, "maximum": 4},
        "label": {"$ref": "#/$defs/label"},
        "help_text": {"$ref": "#/$defs/text"},
        "placeholder": {"$ref": "#/$defs/label"},
        "required": {"type": "boolean"},
        "read_only": {"type": "boolean"},
        "default": {},
        "default_expr": {"$ref": "#/$defs/expr"},
        "show_when": {"$ref": "#/$defs/expr"},
        "require_when": {"$ref": "#/$defs/expr"},
        "read_only_when": {"$ref": "#/$defs/expr"},
        "options_when": {"type": "array", "maxItems": 50, "items": {
          "type": "object", "additionalProperties": false, "required": ["when", "options"],
          "properties": {
            "when": {"type": "string", "minLength": 1, "maxLength": 2000},
            "options": {"type": "array", "maxItems": 1000, "uniqueItems": true,
              "items": {"type": "string", "minLength": 1, "maxLength": 200}}
          }}}
      }
    }
  }
}`

// PublishSchema is the JSON Schema of POST /meta/forms/{id}/publish.
const PublishSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "urn:jimu:meta:form-publish",
  "type": "object",
  "additionalProperties": false,
  "required": ["slug"],
  "properties": {
    "slug": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"},
    "defaults": {"type": "object", "maxProperties": 50},
    "success_message": {"oneOf": [
      {"type": "string", "maxLength": 2000},
      {"type": "object", "minProperties": 1, "maxProperties": 20,
       "propertyNames": {"pattern": "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"},
       "additionalProperties": {"type": "string", "maxLength": 2000}}]},
    "redirect_url": {"type": "string", "maxLength": 2000},
    "allowed_origins": {"type": "array", "maxItems": 20, "uniqueItems": true,
      "items": {"type": "string", "maxLength": 200}},
    "challenge": {"enum": ["none", "arithmetic", "proof_of_work"]},
    "min_fill_seconds": {"type": "integer", "minimum": 0, "maximum": 3600},
    "limits": {"type": "object", "additionalProperties": false, "properties": {
      "per_ip": {"type": "integer", "minimum": 1, "maximum": 10000},
      "per_form": {"type": "integer", "minimum": 1, "maximum": 1000000},
      "window_seconds": {"type": "integer", "minimum": 10, "maximum": 86400}
    }}
  }
}`

var (
	schemaOnce                  sync.Once
	formSchema, pubSchema       *jsonschema.Schema
	errFormSchema, errPubSchema error
)

func compileSchemas() {
	compile := func(url, doc string) (*jsonschema.Schema, error) {
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft2020
		if err := c.AddResource(url, strings.NewReader(doc)); err != nil {
			return nil, err
		}
		return c.Compile(url)
	}
	formSchema, errFormSchema = compile("urn:jimu:meta:form", FormSchema)
	pubSchema, errPubSchema = compile("urn:jimu:meta:form-publish", PublishSchema)
}

// validateShape checks a decoded document (generic JSON) against a
// schema and names each problem by its path ("sections.0.fields.2.field").
func validateShape(doc any, publish bool) error {
	schemaOnce.Do(compileSchemas)
	s, err := formSchema, errFormSchema
	if publish {
		s, err = pubSchema, errPubSchema
	}
	if err != nil {
		return err
	}
	verr := s.Validate(doc)
	if verr == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(verr, &ve) {
		return verr
	}
	seen := map[string]bool{}
	var out []problem.FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		path := strings.ReplaceAll(strings.TrimPrefix(e.InstanceLocation, "/"), "/", ".")
		code := e.KeywordLocation[strings.LastIndexByte(e.KeywordLocation, '/')+1:]
		msg := e.Message
		if code == "additionalProperties" || code == "required" {
			// The property is named in the message only.
			if i := strings.IndexByte(msg, '\''); i >= 0 {
				if j := strings.IndexByte(msg[i+1:], '\''); j >= 0 {
					name := msg[i+1 : i+1+j]
					path = strings.TrimPrefix(path+"."+name, ".")
				}
			}
			if code == "additionalProperties" {
				code, msg = "unknown_property", "is not a property of this document"
			} else {
				msg = "is required"
			}
		}
		if key := path + "\x00" + msg; !seen[key] {
			seen[key] = true
			out = append(out, problem.FieldError{Field: path, Code: code, Message: msg})
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return problem.Invalid(out...)
}
