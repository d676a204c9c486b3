package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// JSONSchema returns the draft 2020-12 schema of the entity's records: the
// contract every write is validated against and the OpenAPI document reuses.
// System fields are listed read-only; the validator sees only data fields.
func (e *Entity) JSONSchema() map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range e.LiveFields() {
		t, ok := LookupType(f.Type)
		if !ok {
			continue
		}
		s := t.Schema(f)
		if !f.Label.IsZero() {
			s["title"] = f.Label.String()
		}
		if !f.HelpText.IsZero() {
			s["description"] = f.HelpText.String()
		}
		if IsReadOnly(f) {
			s["readOnly"] = true
		}
		props[f.Name] = s
		if f.Required && !IsReadOnly(f) {
			required = append(required, f.Name)
		}
	}
	sort.Strings(required)
	s := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "urn:jimu:entity:" + e.Name,
		"title":                e.title(),
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		s["required"] = required
	}
	if e.Version > 0 {
		s["x-jimu-version"] = e.Version
	}
	return s
}

func (e *Entity) title() string {
	if !e.Label.IsZero() {
		return e.Label.String()
	}
	return e.Name
}

// Validator is an entity's compiled schema: built once per metadata
// version, then used for every write.
type Validator struct {
	schema *jsonschema.Schema
}

// Compile builds the validator of the entity's current version.
func Compile(e *Entity) (*Validator, error) {
	doc, err := json.Marshal(e.JSONSchema())
	if err != nil {
		return nil, err
	}
	s, err := compileSchema("urn:jimu:entity:"+e.Name, doc)
	if err != nil {
		return nil, err
	}
	return &Validator{schema: s}, nil
}

func compileSchema(url string, doc []byte) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// Validate checks one record's data fields (system fields removed). The
// errors name the field and say what is wrong.
func (v *Validator) Validate(data map[string]any) []*FieldError {
	err := v.schema.Validate(data)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []*FieldError{{Code: "invalid", Message: err.Error()}}
	}
	var out []*FieldError
	seen := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			fe := toFieldError(e)
			key := fe.Field + "\x00" + fe.Message
			if !seen[key] {
				seen[key] = true
				out = append(out, fe)
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

func toFieldError(e *jsonschema.ValidationError) *FieldError {
	field := strings.TrimPrefix(e.InstanceLocation, "/")
	if i := strings.IndexByte(field, '/'); i >= 0 {
		field = field[:i]
	}
	code := e.KeywordLocation
	if i := strings.LastIndexByte(code, '/'); i >= 0 {
		code = code[i+1:]
	}
	msg := e.Message
	switch code {
	case "required":
		// "missing properties: 'name'" names the field in the message only.
		if i := strings.Index(msg, "'"); i >= 0 {
			rest := msg[i+1:]
			if j := strings.Index(rest, "'"); j >= 0 {
				field = rest[:j]
			}
		}
		msg = "is required"
	case "additionalProperties":
		if i := strings.Index(msg, "'"); i >= 0 {
			rest := msg[i+1:]
			if j := strings.Index(rest, "'"); j >= 0 {
				field = rest[:j]
			}
		}
		msg = "is not a field of this entity"
		code = "unknown_field"
	}
	return &FieldError{Field: field, Code: code, Message: msg}
}

// metaSchema is the JSON Schema of an entity document itself: metadata is
// validated like any record before it is stored.
const metaSchemaDoc = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["name"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
    "label": {"$ref": "#/$defs/label"},
    "label_plural": {"$ref": "#/$defs/label"},
    "description": {"$ref": "#/$defs/text"},
    "icon": {"type": "string", "pattern": "^[a-z0-9-]{1,40}$"},
    "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
    "title_field": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
    "ownership": {"type": "boolean"},
    "version": {"type": "integer"},
    "created_at": {"type": "string"},
    "updated_at": {"type": "string"},
    "fields": {"type": "array", "maxItems": 500, "items": {"$ref": "#/$defs/field"}},
    "indexes": {"type": "array", "maxItems": 20, "items": {
      "type": "object", "additionalProperties": false, "required": ["fields"],
      "properties": {
        "fields": {"type": "array", "minItems": 2, "maxItems": 4, "uniqueItems": true,
          "items": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}}
      }}},
    "rules": {"type": "array", "maxItems": 100, "items": {
      "type": "object", "additionalProperties": false,
      "required": ["name", "expression", "message"],
      "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "expression": {"type": "string", "minLength": 1, "maxLength": 2000},
        "message": {"type": "string", "minLength": 1, "maxLength": 500},
        "field": {"type": "string"}
      }}}
  },
  "$defs": {
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
    "field": {
      "type": "object",
      "required": ["name", "type"],
      "additionalProperties": false,
      "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "label": {"$ref": "#/$defs/label"},
        "type": {"type": "string", "enum": %s},
        "help_text": {"$ref": "#/$defs/text"},
        "section": {"type": "string", "maxLength": 100},
        "required": {"type": "boolean"},
        "unique": {"type": "boolean"},
        "indexed": {"type": "boolean"},
        "default": {},
        "default_expr": {"type": "string", "maxLength": 2000},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "max_length": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "pattern": {"type": "string", "maxLength": 1000},
        "options": {"type": "array", "maxItems": 1000, "items": {
          "type": "object", "additionalProperties": false, "required": ["value"],
          "properties": {
            "value": {"type": "string", "minLength": 1, "maxLength": 200},
            "label": {"$ref": "#/$defs/label"},
            "color": {"type": "string", "pattern": "^(#[0-9a-fA-F]{3,8}|[a-z]{1,20})$"},
            "order": {"type": "integer"}
          }}},
        "target": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "formula": {"type": "string", "maxLength": 2000},
        "format": {"type": "string", "maxLength": 100},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "region": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
        "deleted": {"type": "boolean"},
        "deleted_at": {"type": ["string", "null"]}
      }
    }
  }
}`

var (
	metaOnce   sync.Once
	metaSchema *jsonschema.Schema
	metaErr    error
)

// MetaSchema returns the JSON Schema of entity documents.
func MetaSchema() json.RawMessage {
	names, _ := json.Marshal(TypeNames())
	return json.RawMessage(fmt.Sprintf(metaSchemaDoc, names))
}

// FieldSchemaPointer is where a single field's schema sits in MetaSchema.
const FieldSchemaPointer = "#/$defs/field"

// ValidateDocument checks a decoded entity document (as generic JSON)
// against the metadata schema. path prefixes the reported field names.
func ValidateDocument(doc any, fieldOnly bool) []*FieldError {
	metaOnce.Do(func() {
		metaSchema, metaErr = compileSchema("urn:jimu:meta:entity", MetaSchema())
	})
	if metaErr != nil {
		return []*FieldError{{Code: "internal", Message: metaErr.Error()}}
	}
	// A number beyond float64 (a default or min of 1e400) would fail the
	// decode that follows with a bare 400, and one that decoded (1e-400 as
	// 0) would not be what the admin wrote: both are refused here, by name.
	if errs := metaNumbers(doc, ""); len(errs) > 0 {
		return errs
	}
	s := metaSchema
	if fieldOnly {
		wrapped := map[string]any{"name": "x", "fields": []any{doc}}
		doc = wrapped
	}
	err := s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []*FieldError{{Code: "invalid", Message: err.Error()}}
	}
	var out []*FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			loc := strings.TrimPrefix(e.InstanceLocation, "/")
			if fieldOnly {
				loc = strings.TrimPrefix(loc, "fields/0")
				loc = strings.TrimPrefix(loc, "/")
			}
			loc = strings.ReplaceAll(loc, "/", ".")
			out = append(out, &FieldError{Field: loc, Code: "invalid", Message: e.Message})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// metaNumbers lists the numbers of a metadata document that no float64
// holds, by their place ("fields.2.default").
func metaNumbers(v any, path string) []*FieldError {
	var out []*FieldError
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case json.Number:
		if _, err := parseFloat(&Field{Name: path}, string(x), ""); err != nil {
			out = append(out, err.(*FieldError))
		}
	case []any:
		for i, e := range x {
			out = append(out, metaNumbers(e, join(strconv.Itoa(i)))...)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, metaNumbers(x[k], join(k))...)
		}
	}
	return out
}
