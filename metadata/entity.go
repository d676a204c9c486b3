// Package metadata holds Jimu's runtime schema: entities, their fields, the
// field-type registry, and the JSON Schema each entity compiles to.
//
// Metadata is data: an Entity is a document in the store, versioned and
// validated like any record. Nothing here touches a store or HTTP.
package metadata

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"time"
)

// Entity is one custom object (客户, 线索, 商机, …) and its fields.
type Entity struct {
	Name        string `json:"name"`
	Label       Text   `json:"label,omitempty"`
	LabelPlural Text   `json:"label_plural,omitempty"`
	Description Text   `json:"description,omitempty"`
	// Icon and Color mark the entity in the app's navigation: an icon name
	// from the set the app ships, a #rrggbb colour.
	Icon  string `json:"icon,omitempty"`
	Color string `json:"color,omitempty"`
	// TitleField names a record in lists, links, search and the timeline
	// (default: TitleFieldOf).
	TitleField string   `json:"title_field,omitempty"`
	Ownership  bool     `json:"ownership,omitempty"` // records carry an owner (default: the creator)
	Fields     []*Field `json:"fields"`
	// Rules are validation rules checked on every write after the schema.
	Rules []*Rule `json:"rules,omitempty"`
	// Indexes are compound indexes, for filters that combine fields (an
	// equality first, then the range or sort field: ["stage", "amount"]).
	Indexes []*Index `json:"indexes,omitempty"`

	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Rule is a validation rule: an expression that must hold for a record to be
// written, and the message shown when it does not.
type Rule struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"` // the field the error is reported on
}

// Index is a compound index: two to four fields (data or system), in order.
type Index struct {
	Fields []string `json:"fields"`
}

// Name is the index's storage name, the same on every store.
func (ix *Index) Name() string { return strings.Join(ix.Fields, "_") }

// Field is one custom field of an entity.
type Field struct {
	Name     string `json:"name"`
	Label    Text   `json:"label,omitempty"`
	Type     string `json:"type"`
	HelpText Text   `json:"help_text,omitempty"`
	// Section groups the field on the record page (default: the first).
	Section string `json:"section,omitempty"`

	Required  bool     `json:"required,omitempty"`
	Unique    bool     `json:"unique,omitempty"`
	Indexed   bool     `json:"indexed,omitempty"`
	Default   any      `json:"default,omitempty"`      // a literal
	DefaultEx string   `json:"default_expr,omitempty"` // or an expression
	Min       *float64 `json:"min,omitempty"`
	Max       *float64 `json:"max,omitempty"`
	MaxLength int      `json:"max_length,omitempty"`
	Pattern   string   `json:"pattern,omitempty"`

	Options []Option `json:"options,omitempty"` // select, multi_select
	Target  string   `json:"target,omitempty"`  // lookup: the entity pointed at
	Formula string   `json:"formula,omitempty"` // formula: the expression
	Format  string   `json:"format,omitempty"`  // auto_number: e.g. LEAD-{0000}
	// Currency is the ISO 4217 code of a currency field (default CNY).
	Currency string `json:"currency,omitempty"`
	// Region is the default region of a phone field's numbers (default CN).
	Region string `json:"region,omitempty"`

	// Deleted hides a field without dropping its data; Purge removes the data.
	Deleted   bool       `json:"deleted,omitempty"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

// Option is one choice of a select or multi-select field.
type Option struct {
	Value string `json:"value"`
	Label Text   `json:"label,omitempty"`
	Color string `json:"color,omitempty"`
	Order int    `json:"order,omitempty"`
}

// SystemFields are present on every record and written only by the engine.
var SystemFields = map[string]Kind{
	"id":         KindString,
	"version":    KindInteger,
	"created_at": KindDateTime,
	"updated_at": KindDateTime,
	"created_by": KindString,
	"updated_by": KindString,
	"owner":      KindString,
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidName reports whether s may name an entity or a field: lower-case
// letters, digits and underscores, starting with a letter. Names reach SQL
// identifiers and MongoDB paths, so nothing else is allowed.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// TitleFieldOf is the field that names e's records: its title_field, or
// name when it has such a text field, or its first text field; "" when it
// has none (records are then named by id).
func (e *Entity) TitleFieldOf() string {
	if e.TitleField != "" && e.Field(e.TitleField) != nil {
		return e.TitleField
	}
	var first string
	for _, f := range e.LiveFields() {
		if f.Type != "text" {
			continue
		}
		if f.Name == "name" {
			return f.Name
		}
		if first == "" {
			first = f.Name
		}
	}
	return first
}

// Field returns the live (not deleted) field called name, or nil.
func (e *Entity) Field(name string) *Field {
	for _, f := range e.Fields {
		if f.Name == name && !f.Deleted {
			return f
		}
	}
	return nil
}

// AnyField returns the field called name, deleted or not, or nil.
func (e *Entity) AnyField(name string) *Field {
	for _, f := range e.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// LiveFields returns the fields that are not deleted, in order.
func (e *Entity) LiveFields() []*Field {
	out := make([]*Field, 0, len(e.Fields))
	for _, f := range e.Fields {
		if !f.Deleted {
			out = append(out, f)
		}
	}
	return out
}

// KindOf returns the storage kind of a live field or system field.
func (e *Entity) KindOf(name string) (Kind, bool) {
	if k, ok := SystemFields[name]; ok {
		if name == "owner" && !e.Ownership {
			return 0, false
		}
		return k, true
	}
	f := e.Field(name)
	if f == nil {
		return 0, false
	}
	t, ok := LookupType(f.Type)
	if !ok {
		return 0, false
	}
	return t.Kind(), true
}

// Clone returns a deep copy, so a caller can change it without touching the
// cached original.
func (e *Entity) Clone() *Entity {
	c := *e
	c.Label, c.LabelPlural, c.Description = maps.Clone(e.Label), maps.Clone(e.LabelPlural), maps.Clone(e.Description)
	c.Fields = make([]*Field, len(e.Fields))
	for i, f := range e.Fields {
		ff := *f
		ff.Options = append([]Option(nil), f.Options...)
		for j := range ff.Options {
			ff.Options[j].Label = maps.Clone(ff.Options[j].Label)
		}
		ff.Label, ff.HelpText = maps.Clone(f.Label), maps.Clone(f.HelpText)
		c.Fields[i] = &ff
	}
	c.Indexes = make([]*Index, len(e.Indexes))
	for i, ix := range e.Indexes {
		c.Indexes[i] = &Index{Fields: append([]string(nil), ix.Fields...)}
	}
	c.Rules = make([]*Rule, len(e.Rules))
	for i, r := range e.Rules {
		rr := *r
		c.Rules[i] = &rr
	}
	return &c
}

// FieldError names the field a metadata problem is about.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }
