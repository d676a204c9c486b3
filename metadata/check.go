package metadata

import (
	"fmt"
	"strings"
)

// reserved names cannot be used for fields: they are system fields, or words
// the expression language and the stores treat specially.
var reserved = map[string]bool{
	"_id": true, "deleted_at": true, "user": true, "now": true, "today": true,
	"true": true, "false": true, "nil": true, "null": true, "and": true, "or": true,
	"not": true, "in": true, "matches": true, "contains": true,
}

// SystemEntityPrefix begins the names of the tables modules keep in a
// store as entities of their own, outside the catalog (the workflow run
// log, notifications): no entity an admin defines may take such a name.
const SystemEntityPrefix = "sys_"

// Check validates an entity definition as a whole: names, field types and
// their options, duplicates, and lookups (exists reports whether an entity
// with that name is defined; the entity itself counts).
func (e *Entity) Check(exists func(name string) bool) []*FieldError {
	var errs []*FieldError
	add := func(field, code, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if !ValidName(e.Name) {
		add("name", "pattern", "entity name %q must be lower-case letters, digits and _ starting with a letter", e.Name)
	} else if strings.HasPrefix(e.Name, SystemEntityPrefix) {
		add("name", "reserved", "entity names beginning with %q are reserved for Jimu's own tables", SystemEntityPrefix)
	}
	seen := map[string]bool{}
	for i, f := range e.Fields {
		path := fmt.Sprintf("fields.%d", i)
		if f.Name != "" {
			path = "fields." + f.Name
		}
		if !ValidName(f.Name) {
			add(path+".name", "pattern", "field name %q must be lower-case letters, digits and _ starting with a letter", f.Name)
			continue
		}
		if _, sys := SystemFields[f.Name]; sys || reserved[f.Name] {
			add(path+".name", "reserved", "field name %q is reserved", f.Name)
		}
		if seen[f.Name] {
			add(path+".name", "duplicate", "field %q is defined twice", f.Name)
		}
		seen[f.Name] = true
		t, ok := LookupType(f.Type)
		if !ok {
			add(path+".type", "unknown_type", "unknown field type %q", f.Type)
			continue
		}
		if err := t.Check(e, f); err != nil {
			if fe, ok := err.(*FieldError); ok {
				add(path+"."+fe.Code, fe.Code, "%s", fe.Message)
			} else {
				add(path, "invalid", "%v", err)
			}
		}
		// A deleted field's limits are checked with it when it is restored:
		// a legacy one must not block every change of the entity.
		if r, ok := t.(Ranged); ok && !f.Deleted {
			lo, hi := r.Range(f)
			for _, b := range []struct {
				name string
				v    *float64
			}{{"min", f.Min}, {"max", f.Max}} {
				if b.v != nil && !(*b.v >= lo && *b.v <= hi) { // NaN fails both
					add(path+"."+b.name, "out_of_range", "%s %v is outside what a %s field holds (%v to %v)", b.name, *b.v, f.Type, lo, hi)
				}
			}
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			add(path+".min", "range", "min %v is greater than max %v", *f.Min, *f.Max)
		}
		if f.Type == "lookup" && f.Target != "" && exists != nil && !exists(f.Target) && f.Target != e.Name {
			add(path+".target", "unknown_entity", "lookup target entity %q does not exist", f.Target)
		}
		if f.Unique && (t.Kind() == KindJSON || t.Kind() == KindList) {
			add(path+".unique", "unsupported", "a %s field cannot be unique", f.Type)
		}
		if f.Indexed && t.Kind() == KindJSON {
			add(path+".indexed", "unsupported", "a %s field cannot be indexed", f.Type)
		}
		if f.Default != nil && f.DefaultEx != "" {
			add(path+".default", "conflict", "give either default or default_expr, not both")
		}
		if f.Default != nil && !f.Deleted {
			v, err := Normalize(f, f.Default)
			if fe, ok := err.(*FieldError); ok && fe.Code == "out_of_range" {
				add(path+".default", fe.Code, "default: %s", fe.Message)
			} else if err != nil {
				add(path+".default", "invalid", "default: %v", err)
			} else if vs := compileField(f, t, v); vs != "" {
				add(path+".default", "invalid", "default: %s", vs)
			}
		}
	}
	names := map[string]bool{}
	for i, ix := range e.Indexes {
		path := fmt.Sprintf("indexes.%d", i)
		if ix == nil || len(ix.Fields) < 2 || len(ix.Fields) > 4 {
			add(path+".fields", "range", "a compound index has two to four fields")
			continue
		}
		for j, name := range ix.Fields {
			if _, ok := e.KindOf(name); !ok {
				add(fmt.Sprintf("%s.fields.%d", path, j), "unknown_field", "unknown field %q", name)
			} else if k, _ := e.KindOf(name); k == KindJSON || k == KindList {
				add(fmt.Sprintf("%s.fields.%d", path, j), "unsupported", "field %q cannot be in an index", name)
			}
		}
		if names[ix.Name()] {
			add(path, "duplicate", "index on %v is defined twice", ix.Fields)
		}
		names[ix.Name()] = true
	}
	if e.TitleField != "" {
		if f := e.Field(e.TitleField); f == nil {
			add("title_field", "unknown_field", "title_field %q is not a field of %s", e.TitleField, e.Name)
		} else if k, _ := e.KindOf(f.Name); k != KindString {
			add("title_field", "type", "title_field %q is a %s field; a title is text", e.TitleField, f.Type)
		}
	}
	return errs
}

// compileField validates one value against the schema of a single field.
func compileField(f *Field, t FieldType, v any) string {
	probe := &Entity{Name: "probe", Fields: []*Field{{Name: f.Name, Type: f.Type, Options: f.Options,
		Min: f.Min, Max: f.Max, MaxLength: f.MaxLength, Pattern: f.Pattern, Format: f.Format}}}
	val, err := Compile(probe)
	if err != nil {
		return err.Error()
	}
	if errs := val.Validate(map[string]any{f.Name: v}); len(errs) > 0 {
		return errs[0].Message
	}
	return ""
}
