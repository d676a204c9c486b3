package forms

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/metadata"
)

// checker collects the problems of one form document, each by its path.
type checker struct{ errs []problem.FieldError }

func (c *checker) add(path, code, format string, args ...any) {
	c.errs = append(c.errs, problem.FieldError{Field: path, Code: code, Message: fmt.Sprintf(format, args...)})
}

// expr checks one expression of the form: it compiles, and every name it
// uses is a field of the entity the designer may see, a system field or
// the user; a problem carries its place in the expression.
func (c *checker) expr(path, src string, known func(string) bool) {
	if src == "" {
		return
	}
	err := func() error {
		if _, err := expression.Compile(src); err != nil {
			return err
		}
		return expression.CheckNames(src, known)
	}()
	if err == nil {
		return
	}
	fe := problem.FieldError{Field: path, Code: "expression", Message: err.Error()}
	var xe *expression.Error
	if errors.As(err, &xe) {
		fe.Message = xe.Message
		if xe.Field != "" {
			fe.Code = "unknown_field"
		}
		if xe.Pos != nil {
			fe.Position = &problem.Position{Offset: xe.Pos.Offset, Line: xe.Pos.Line, Column: xe.Pos.Column}
			fe.Message = fmt.Sprintf("%s (line %d, column %d)", fe.Message, xe.Pos.Line, xe.Pos.Column+1)
		}
	}
	c.errs = append(c.errs, fe)
}

// check validates a form against its entity as the designer p sees it.
// pubPath prefixes the paths of the publication's problems: "" when the
// publication is the request's body, "publish." when the form is.
func (s *Forms) check(ctx context.Context, p *identity.Principal, f *Form, pubPath string) error {
	c := &checker{}
	e, err := s.cat.Get(f.Entity)
	if err != nil || !(s.rec.Permits(ctx, p, e, records.OpRead) || s.rec.Permits(ctx, p, e, records.OpCreate)) {
		c.add("entity", "unknown_entity", "no entity %q that you may use", f.Entity)
		return problem.Invalid(c.errs...)
	}
	visible := func(name string) *metadata.Field {
		def := e.Field(name)
		if def == nil {
			return nil
		}
		if hidden, _ := s.rec.FieldAccess(p, e, name); hidden {
			return nil
		}
		return def
	}
	known := func(name string) bool {
		if name == "user" {
			return true
		}
		if _, sys := metadata.SystemFields[name]; sys {
			_, ok := e.KindOf(name)
			return ok
		}
		return visible(name) != nil
	}
	seen := map[string]string{}
	for si, sec := range f.Sections {
		cols := max(1, sec.Columns)
		for fi, ff := range sec.Fields {
			path := fmt.Sprintf("sections.%d.fields.%d", si, fi)
			def := visible(ff.Field)
			if def == nil {
				c.add(path+".field", "unknown_field", "%s has no field %q", e.Name, ff.Field)
				continue
			}
			if first, dup := seen[ff.Field]; dup {
				c.add(path+".field", "duplicate", "%s is on the form already (%s)", ff.Field, first)
				continue
			}
			seen[ff.Field] = path
			checkField(c, path, e, def, ff, cols, known)
		}
	}
	if f.Publish != nil {
		s.checkPublication(ctx, c, e, f, pubPath)
	}
	if len(c.errs) > 0 {
		return problem.Invalid(c.errs...)
	}
	return nil
}

func checkField(c *checker, path string, e *catalog.Entity, def *metadata.Field, ff *FormField, cols int, known func(string) bool) {
	if ff.Column > cols {
		c.add(path+".column", "range", "the section has %d column(s)", cols)
	}
	if ff.Required && ff.ReadOnly {
		c.add(path+".read_only", "conflict", "a field cannot be both required and read-only")
	}
	if metadata.IsReadOnly(def) && (ff.Required || ff.RequireWhen != "" || ff.Default != nil || ff.DefaultExpr != "") {
		c.add(path, "read_only_field", "%s is computed by the system: the form can only show it", def.Name)
	}
	if def.Required && ff.ShowWhen != "" && def.Default == nil && def.DefaultEx == "" && ff.Default == nil && ff.DefaultExpr == "" {
		c.add(path+".show_when", "required_by_entity", "%s requires %s on every record: the form cannot hide it without a default", e.Name, def.Name)
	}
	if ff.Default != nil && ff.DefaultExpr != "" {
		c.add(path+".default_expr", "conflict", "a field has a default or a default expression, not both")
	}
	if ff.Default != nil {
		checkValue(c, path+".default", e, def, ff.Default)
	}
	c.expr(path+".default_expr", ff.DefaultExpr, known)
	c.expr(path+".show_when", ff.ShowWhen, known)
	c.expr(path+".require_when", ff.RequireWhen, known)
	c.expr(path+".read_only_when", ff.ReadOnlyWhen, known)
	if len(ff.OptionsWhen) > 0 && def.Type != "select" && def.Type != "multi_select" {
		c.add(path+".options_when", "type", "only a select field's options can be narrowed (%s is %s)", def.Name, def.Type)
		return
	}
	for i, r := range ff.OptionsWhen {
		rp := fmt.Sprintf("%s.options_when.%d", path, i)
		c.expr(rp+".when", r.When, known)
		for j, o := range r.Options {
			if !hasOption(def, o) {
				c.add(fmt.Sprintf("%s.options.%d", rp, j), "unknown_option", "%q is not an option of %s", o, def.Name)
			}
		}
	}
}

func hasOption(def *metadata.Field, v string) bool {
	for _, o := range def.Options {
		if o.Value == v {
			return true
		}
	}
	return false
}

// checkValue checks a value the form or publication sets: the field's
// type holds it and the entity's JSON Schema accepts it.
func checkValue(c *checker, path string, e *catalog.Entity, def *metadata.Field, v any) {
	nv, err := metadata.Normalize(def, v)
	if err != nil {
		c.add(path, "invalid", "%s", err.Error())
		return
	}
	if !optionOK(def, nv) {
		c.add(path, "unknown_option", "%v is not an option of %s", v, def.Name)
		return
	}
	if _, fe := valueOf(e, def, nv); fe != nil {
		c.add(path, "invalid", "%s", fe.Message)
	}
}

// optionOK reports whether a literal default of a select field is one of
// its options (the JSON Schema would refuse it at every submission).
func optionOK(def *metadata.Field, v any) bool {
	switch def.Type {
	case "select":
		s, ok := v.(string)
		return ok && hasOption(def, s)
	case "multi_select":
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, x := range list {
			if s, ok := x.(string); !ok || !hasOption(def, s) {
				return false
			}
		}
	}
	return true
}

// publicTypes are the field types a public page can ask a stranger for.
// Lookups and users would let them pick records and people they cannot
// see; json has no input a person fills.
var publicTypes = []string{"text", "long_text", "number", "currency", "percent", "integer", "boolean", "date",
	"datetime", "email", "phone", "url", "select", "multi_select", "tags", "formula", "auto_number"}

// checkPublication checks what a publication names: the fields it sets
// exist and are not on the form, the owner is a user, the redirect is a
// web address, the origins are origins.
func (s *Forms) checkPublication(ctx context.Context, c *checker, e *catalog.Entity, f *Form, at string) {
	pub := f.Publish
	for si, sec := range f.Sections {
		for fi, ff := range sec.Fields {
			if def := e.Field(ff.Field); def != nil && !slices.Contains(publicTypes, def.Type) {
				c.add(fmt.Sprintf("sections.%d.fields.%d.field", si, fi), "not_public",
					"a public form cannot ask for a %s field (%s)", def.Type, def.Name)
			}
		}
	}
	for _, name := range sortedKeys(pub.Defaults) {
		path := at + "defaults." + name
		v := pub.Defaults[name]
		if name == "owner" && e.Ownership {
			id, ok := v.(string)
			if !ok {
				c.add(path, "type", "owner is a user id")
			} else if s.users != nil {
				if u, err := s.users.GetUser(ctx, id); err != nil || !u.Active {
					c.add(path, "unknown_user", "no active user %q", id)
				}
			}
			continue
		}
		def := e.Field(name)
		if def == nil || metadata.IsReadOnly(def) {
			c.add(path, "unknown_field", "%s has no field %q that a form may set", e.Name, name)
			continue
		}
		if f.Field(name) != nil {
			c.add(path, "on_form", "%s is on the form: give it a default there instead", name)
			continue
		}
		checkValue(c, path, e, def, v)
	}
	// A field every record needs must come from the visitor or the
	// publication, or every submission would fail.
	for _, def := range e.LiveFields() {
		if def.Required && def.Default == nil && def.DefaultEx == "" && !metadata.IsReadOnly(def) && f.Field(def.Name) == nil {
			if _, set := pub.Defaults[def.Name]; !set {
				c.add(at+"defaults."+def.Name, "required", "%s requires %s: put it on the form or give it a default here", e.Name, def.Name)
			}
		}
	}
	if pub.RedirectURL != "" {
		u, err := url.Parse(pub.RedirectURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			c.add(at+"redirect_url", "invalid", "the redirect is an http or https address")
		}
	}
	for i, o := range pub.AllowedOrigins {
		if !server.ValidOrigin(o) {
			c.add(fmt.Sprintf("%sallowed_origins.%d", at, i), "invalid", "an origin is scheme://host[:port], such as https://www.example.com")
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
