package catalog_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/metadata"
)

// TestRefusals: a definition that is wrong is refused with the path and
// code of every problem, and nothing is created: no entity, no event.
func TestRefusals(t *testing.T) {
	text := func(name string) *metadata.Field { return &metadata.Field{Name: name, Type: "text"} }
	with := func(fields ...*metadata.Field) *metadata.Entity {
		return &metadata.Entity{Name: "thing", Fields: append([]*metadata.Field{text("title")}, fields...)}
	}
	cases := []struct {
		name string
		e    *metadata.Entity
		want map[string]string // path → code
	}{
		{"entity name", &metadata.Entity{Name: "Thing", Fields: []*metadata.Field{text("title")}}, map[string]string{"name": "pattern"}},
		{"field name", with(text("Bad-Name")), map[string]string{"fields.Bad-Name.name": "pattern"}},
		{"empty field name", with(text("")), map[string]string{"fields.1.name": "pattern"}},
		{"system field name", with(text("owner")), map[string]string{"fields.owner.name": "reserved"}},
		{"reserved word", with(text("user")), map[string]string{"fields.user.name": "reserved"}},
		{"duplicate field", with(text("title")), map[string]string{"fields.title.name": "duplicate"}},
		{"unknown type", with(&metadata.Field{Name: "x", Type: "huge"}), map[string]string{"fields.x.type": "unknown_type"}},
		{"lookup without target", with(&metadata.Field{Name: "x", Type: "lookup"}), map[string]string{"fields.x.target": "target"}},
		{"lookup to nothing", with(&metadata.Field{Name: "x", Type: "lookup", Target: "nope"}), map[string]string{"fields.x.target": "unknown_entity"}},
		{"select without options", with(&metadata.Field{Name: "x", Type: "select"}), map[string]string{"fields.x.options": "options"}},
		{"min above max", with(&metadata.Field{Name: "x", Type: "number", Min: num(5), Max: num(1)}), map[string]string{"fields.x.min": "range"}},
		{"max out of range", with(&metadata.Field{Name: "x", Type: "integer", Max: num(1e300)}), map[string]string{"fields.x.max": "out_of_range"}},
		{"unique list", with(&metadata.Field{Name: "x", Type: "tags", Unique: true}), map[string]string{"fields.x.unique": "unsupported"}},
		{"indexed json", with(&metadata.Field{Name: "x", Type: "json", Indexed: true}), map[string]string{"fields.x.indexed": "unsupported"}},
		{"two defaults", with(&metadata.Field{Name: "x", Type: "text", Default: "a", DefaultEx: "'b'"}), map[string]string{"fields.x.default": "conflict"}},
		{"default not an option", with(&metadata.Field{Name: "x", Type: "select", Options: []metadata.Option{{Value: "a"}}, Default: "z"}),
			map[string]string{"fields.x.default": "invalid"}},
		{"bad pattern", with(&metadata.Field{Name: "x", Type: "text", Pattern: "("}), map[string]string{"fields.x.pattern": "pattern"}},
		{"index of one field", &metadata.Entity{Name: "thing", Fields: []*metadata.Field{text("title")}, Indexes: []*metadata.Index{{Fields: []string{"title"}}}},
			map[string]string{"indexes.0.fields": "range"}},
		{"index of an unknown field", &metadata.Entity{Name: "thing", Fields: []*metadata.Field{text("title")}, Indexes: []*metadata.Index{{Fields: []string{"title", "nope"}}}},
			map[string]string{"indexes.0.fields.1": "unknown_field"}},
		{"unknown title field", &metadata.Entity{Name: "thing", TitleField: "nope", Fields: []*metadata.Field{text("title")}}, map[string]string{"title_field": "unknown_field"}},
		{"title field not text", &metadata.Entity{Name: "thing", TitleField: "n", Fields: []*metadata.Field{{Name: "n", Type: "number"}}}, map[string]string{"title_field": "type"}},
		{"empty formula", with(&metadata.Field{Name: "f", Type: "formula"}), map[string]string{"fields.f.formula": "formula"}},
		{"formula syntax", with(&metadata.Field{Name: "f", Type: "formula", Formula: "1 +"}), map[string]string{"fields.f.formula": "expression"}},
		{"default_expr syntax", with(&metadata.Field{Name: "x", Type: "text", DefaultEx: "'a' +"}), map[string]string{"fields.x.default_expr": "expression"}},
		{"rule syntax", &metadata.Entity{Name: "thing", Fields: []*metadata.Field{text("title")}, Rules: []*metadata.Rule{{Name: "r", Expression: "title ==", Message: "m"}}},
			map[string]string{"rules.0.expression": "expression"}},
		{"rule on an unknown field", &metadata.Entity{Name: "thing", Fields: []*metadata.Field{text("title")},
			Rules: []*metadata.Rule{{Name: "r", Expression: "true", Message: "m", Field: "nope"}}}, map[string]string{"rules.0.field": "unknown_field"}},
		// names.go: what an expression reads must exist.
		{"formula names an unknown field", with(&metadata.Field{Name: "f", Type: "formula", Formula: "titel + '!'"}), map[string]string{"fields.f.formula": "unknown_field"}},
		{"default names an unknown field", with(&metadata.Field{Name: "x", Type: "text", DefaultEx: "nope"}), map[string]string{"fields.x.default_expr": "unknown_field"}},
		{"rule names an unknown field", &metadata.Entity{Name: "thing", Fields: []*metadata.Field{text("title")},
			Rules: []*metadata.Rule{{Name: "a", Expression: "true", Message: "m"}, {Name: "b", Expression: "title != '' and colour == 'red'", Message: "m"}}},
			map[string]string{"rules.1.expression": "unknown_field"}},
		{"owner without ownership", with(&metadata.Field{Name: "f", Type: "formula", Formula: "owner"}), map[string]string{"fields.f.formula": "unknown_field"}},
		{"several problems", &metadata.Entity{Name: "thing", Fields: []*metadata.Field{text("id"), {Name: "x", Type: "huge"}}},
			map[string]string{"fields.id.name": "reserved", "fields.x.type": "unknown_type"}},
	}
	st, _ := stores["sqlite"](t)
	c := newCatalog(t, st)
	ob := follow(t, st)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Create(t.Context(), admin, tc.e)
			got := fieldErrors(t, err, http.StatusUnprocessableEntity)
			for path, code := range tc.want {
				if got[path] != code {
					t.Errorf("%s: code %q, want %q (all: %v)", path, got[path], code, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("errors %v, want %v", got, tc.want)
			}
			if _, err := c.Get(tc.e.Name); err == nil {
				t.Error("a refused entity was created")
			}
		})
	}
	if evs := ob.next(); len(evs) != 0 {
		t.Fatalf("refused definitions wrote events: %v", types(evs))
	}
	if n := len(c.List()); n != 0 {
		t.Fatalf("%d entities after refusals only", n)
	}
}

// TestUnknownNamePosition: the refusal of an unknown name says where in the
// expression it is, for an editor to underline.
func TestUnknownNamePosition(t *testing.T) {
	st, _ := stores["sqlite"](t)
	c := newCatalog(t, st)
	e := &metadata.Entity{Name: "thing", Fields: []*metadata.Field{{Name: "title", Type: "text"},
		{Name: "f", Type: "formula", Formula: "title +\n  colour"}}}
	_, err := c.Create(t.Context(), admin, e)
	var pe *problem.Error
	if !errors.As(err, &pe) || len(pe.Errors) != 1 {
		t.Fatalf("refusal: %v", err)
	}
	if m := pe.Errors[0].Message; !strings.Contains(m, `"colour"`) || !strings.Contains(m, "line 2, column 3") {
		t.Fatalf("message: %q", m)
	}
}

// TestKnownNames: what formulas, defaults and rules may read is accepted:
// live fields, system fields, the user, functions and their own variables.
func TestKnownNames(t *testing.T) {
	st, _ := stores["sqlite"](t)
	c := newCatalog(t, st)
	e := &metadata.Entity{Name: "thing", Ownership: true, Fields: []*metadata.Field{
		{Name: "title", Type: "text", DefaultEx: "user.name + ' ' + string(today())"},
		{Name: "n", Type: "number"},
		{Name: "f", Type: "formula", Formula: "let x = n * 2; x + len(title) + (owner == user.id ? 1 : 0)"},
		{Name: "age", Type: "formula", Formula: "created_at != nil and updated_at != nil and version > 0 and id != ''"},
	}, Rules: []*metadata.Rule{{Name: "r", Expression: "n == nil or n >= 0 or created_by == user.id", Message: "m", Field: "n"}}}
	if _, err := c.Create(t.Context(), admin, e); err != nil {
		t.Fatal(err)
	}
}

// TestExpressionNames: the names an expression of an entity may use.
func TestExpressionNames(t *testing.T) {
	e := &metadata.Entity{Name: "thing", Fields: []*metadata.Field{
		{Name: "title", Type: "text"}, {Name: "gone", Type: "text", Deleted: true}}}
	known := catalog.ExpressionNames(e)
	for name, want := range map[string]bool{"title": true, "user": true, "id": true, "created_at": true,
		"gone": false, "owner": false, "nope": false} {
		if known(name) != want {
			t.Errorf("known(%q) = %v", name, !want)
		}
	}
	e.Ownership = true
	if !catalog.ExpressionNames(e)("owner") {
		t.Error("owner of an entity with ownership is unknown")
	}
}
