package forms

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/problem"
)

// The control fields of a public page, beside the entity's fields (whose
// names never start with "_").
const (
	fieldToken    = "_t"
	fieldHoneypot = "_website" // a trap: people never see it, bots fill it
	fieldAnswer   = "_answer"
	fieldWork     = "_pow"
	fieldLang     = "_lang"
)

var controlFields = []string{fieldToken, fieldHoneypot, fieldAnswer, fieldWork, fieldLang}

// publicPost is a public submission, decoded.
type publicPost struct {
	values  map[string]any
	control map[string]string
	// echo are the values as sent, to fill the page again after a refusal.
	echo map[string][]string
}

// decodeForm reads an application/x-www-form-urlencoded body: each field
// once (a multi-select's boxes may repeat), values converted from text by
// the entity's field types, empty inputs left out. Names that are not the
// entity's are kept for the pipeline to refuse by name.
func decodeForm(body []byte, e *catalog.Entity) (*publicPost, error) {
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, problem.BadRequest("body", "malformed_form", "the form data cannot be read: %v", err)
	}
	p := &publicPost{values: map[string]any{}, control: map[string]string{}, echo: map[string][]string{}}
	var errs []problem.FieldError
	for _, name := range sortedKeys(q) {
		vs := q[name]
		if strings.HasPrefix(name, "_") {
			if !contains(controlFields, name) {
				errs = append(errs, problem.FieldError{Field: name, Code: "unknown_field", Message: "this form has no field " + name})
				continue
			}
			if len(vs) > 1 {
				errs = append(errs, problem.FieldError{Field: name, Code: "repeated", Message: name + " was sent more than once"})
				continue
			}
			p.control[name] = vs[0]
			continue
		}
		p.echo[name] = vs
		def := e.Field(name)
		if def == nil {
			p.values[name] = vs[0] // unknown: refused by name in the pipeline
			continue
		}
		if def.Type == "multi_select" {
			list := []any{}
			for _, v := range vs {
				if v = strings.TrimSpace(v); v != "" {
					list = append(list, v)
				}
			}
			if len(list) > 0 {
				p.values[name] = list
			}
			continue
		}
		if len(vs) > 1 {
			errs = append(errs, problem.FieldError{Field: name, Code: "repeated", Message: name + " was sent more than once"})
			continue
		}
		if v, ok := fromText(def.Type, vs[0]); ok {
			p.values[name] = v
		}
	}
	if len(errs) > 0 {
		return p, problem.Invalid(errs...)
	}
	return p, nil
}

var numberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
var localDateTimeRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$`)

// fromText is a form input's text as the value of a field of type t; ok
// is false for an empty input (not sent). Text that is not a value of the
// type is passed on as text, for the pipeline to refuse with its message.
func fromText(t, s string) (any, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false
	}
	switch t {
	case "number", "currency", "percent", "integer":
		if numberRE.MatchString(s) {
			return json.Number(s), true
		}
	case "boolean":
		switch strings.ToLower(s) {
		case "true", "on", "yes", "1":
			return true, true
		case "false", "off", "no", "0":
			return false, true
		}
	case "datetime":
		// <input type="datetime-local"> has no zone: read as UTC.
		if localDateTimeRE.MatchString(s) {
			if len(s) == 16 {
				s += ":00"
			}
			return s + "Z", true
		}
	case "tags":
		list := []any{}
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				list = append(list, x)
			}
		}
		return list, len(list) > 0
	}
	return s, true
}

// decodeJSONPost reads a JSON submission: the entity's fields as the
// records API takes them, and the control fields as strings.
func decodeJSONPost(body []byte, decode func([]byte) (map[string]any, error)) (*publicPost, error) {
	m, err := decode(body)
	if err != nil {
		return nil, err
	}
	p := &publicPost{values: map[string]any{}, control: map[string]string{}}
	var errs []problem.FieldError
	for _, name := range sortedKeys(m) {
		v := m[name]
		if !strings.HasPrefix(name, "_") {
			p.values[name] = v
			continue
		}
		s, ok := v.(string)
		switch {
		case !contains(controlFields, name):
			errs = append(errs, problem.FieldError{Field: name, Code: "unknown_field", Message: "this form has no field " + name})
		case !ok:
			errs = append(errs, problem.FieldError{Field: name, Code: "type", Message: name + " is a string"})
		default:
			p.control[name] = s
		}
	}
	if len(errs) > 0 {
		return p, problem.Invalid(errs...)
	}
	return p, nil
}

// markupRE finds what could start an HTML tag, a comment or a processing
// instruction. Pages escape every value anyway; a public form refuses
// markup so that what it collects is never a payload for another system
// (an e-mail template, a spreadsheet, a CRM that forgot to escape).
var markupRE = regexp.MustCompile(`<\s*[a-zA-Z!/?]|(?i)javascript\s*:`)

// markup names the text values that hold markup.
func markup(values map[string]any) []problem.FieldError {
	var errs []problem.FieldError
	for _, name := range sortedKeys(values) {
		var texts []string
		switch x := values[name].(type) {
		case string:
			texts = []string{x}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					texts = append(texts, s)
				}
			}
		}
		for _, s := range texts {
			if markupRE.MatchString(s) {
				errs = append(errs, problem.FieldError{Field: name, Code: "markup", Message: "must not contain HTML or scripts"})
				break
			}
		}
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
