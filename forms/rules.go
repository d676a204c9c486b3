package forms

import (
	"fmt"
	"slices"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/metadata"
)

// compiled is a form's rules compiled once per form version, with the
// engine's one expression implementation (expression.Program).
type compiled struct {
	version int64
	fields  []*rule
}

type rule struct {
	*FormField
	show, require, readOnly, def *expression.Program
	options                      []optionProgram
	broken                       []problem.FieldError // rules that no longer compile
}

type optionProgram struct {
	when    *expression.Program
	options []string
}

// compiled returns f's rules, compiling them on first use of a version.
func (s *Forms) compiled(f *Form) *compiled {
	if c, ok := s.cache.Load(f.ID); ok && c.(*compiled).version == f.Version {
		return c.(*compiled)
	}
	c := compileForm(f)
	s.cache.Store(f.ID, c)
	return c
}

func compileForm(f *Form) *compiled {
	c := &compiled{version: f.Version}
	for _, ff := range f.Fields() {
		r := &rule{FormField: ff}
		prog := func(what, src string) *expression.Program {
			if src == "" {
				return nil
			}
			p, err := expression.Compile(src)
			if err != nil {
				r.broken = append(r.broken, problem.FieldError{Field: ff.Field, Code: "rule",
					Message: fmt.Sprintf("the form's %s rule does not compile: %v", what, err)})
			}
			return p
		}
		r.show = prog("show_when", ff.ShowWhen)
		r.require = prog("require_when", ff.RequireWhen)
		r.readOnly = prog("read_only_when", ff.ReadOnlyWhen)
		r.def = prog("default_expr", ff.DefaultExpr)
		for _, o := range ff.OptionsWhen {
			if p := prog("options_when", o.When); p != nil {
				r.options = append(r.options, optionProgram{when: p, options: o.Options})
			}
		}
		c.fields = append(c.fields, r)
	}
	return c
}

// fieldState is what a form's rules say of one field for some values.
type fieldState struct {
	visible  bool
	required bool // by the form: enforced on submission
	readOnly bool
	// entityRequired: the entity requires it anyway (shown, not enforced
	// here: the JSON Schema does).
	entityRequired bool
	options        []string // a select's allowed options; nil for other fields
	narrowed       bool     // options come from an options_when rule
}

// state is a form's rules evaluated over one record.
type state struct {
	fields map[string]*fieldState
	order  []string
	errs   []problem.FieldError
}

// fieldAccess says whether the one filling the form may not see a field,
// or may not change it (the role's field permissions).
type fieldAccess func(field string) (hidden, readOnly bool)

// evaluate runs every rule of the form over env (records.Env of the
// record as it would be written). A rule that fails to run counts the
// safe way — shown, read-only, not required — and is reported.
func evaluate(c *compiled, e *catalog.Entity, access fieldAccess, env map[string]any) *state {
	st := &state{fields: make(map[string]*fieldState, len(c.fields))}
	run := func(r *rule, what string, p *expression.Program, onErr bool) bool {
		ok, err := p.Bool(env)
		if err != nil {
			st.errs = append(st.errs, problem.FieldError{Field: r.Field, Code: "rule",
				Message: fmt.Sprintf("the form's %s rule could not be checked: %v", what, err)})
			return onErr
		}
		return ok
	}
	for _, r := range c.fields {
		def := e.Field(r.Field)
		if def == nil {
			continue // deleted from the entity since the form was saved
		}
		hidden, ro := access(r.Field)
		if hidden {
			continue
		}
		st.errs = append(st.errs, r.broken...)
		fs := &fieldState{visible: true, entityRequired: def.Required}
		if r.show != nil {
			fs.visible = run(r, "show_when", r.show, true)
		}
		fs.readOnly = r.ReadOnly || ro || metadata.IsReadOnly(def)
		if !fs.readOnly && r.readOnly != nil {
			fs.readOnly = run(r, "read_only_when", r.readOnly, true)
		}
		fs.required = r.Required
		if !fs.required && r.require != nil {
			fs.required = run(r, "require_when", r.require, false)
		}
		if !fs.visible || fs.readOnly {
			fs.required = false
		}
		if def.Type == "select" || def.Type == "multi_select" {
			fs.options = make([]string, 0, len(def.Options))
			for _, o := range def.Options {
				fs.options = append(fs.options, o.Value)
			}
			for _, o := range r.options {
				if run(r, "options_when", o.when, false) {
					allowed := make([]string, 0, len(o.options))
					for _, v := range fs.options {
						if slices.Contains(o.options, v) {
							allowed = append(allowed, v)
						}
					}
					fs.options, fs.narrowed = allowed, true
					break
				}
			}
		}
		st.fields[r.Field] = fs
		st.order = append(st.order, r.Field)
	}
	return st
}

// Evaluation is what POST /forms/{id}/evaluate answers: which fields are
// shown, required and read-only for the values given, and the options
// each select allows.
type Evaluation struct {
	Visible  []string            `json:"visible"`
	Required []string            `json:"required"`
	ReadOnly []string            `json:"read_only"`
	Options  map[string][]string `json:"options"`
	// Defaults are the values a new record would start with.
	Defaults map[string]any `json:"defaults,omitempty"`
	// Errors are values that are not valid for their field, and rules
	// that could not be checked.
	Errors []problem.FieldError `json:"errors"`
}

func (st *state) evaluation() *Evaluation {
	ev := &Evaluation{Visible: []string{}, Required: []string{}, ReadOnly: []string{}, Options: map[string][]string{},
		Errors: append([]problem.FieldError{}, st.errs...)}
	for _, name := range st.order {
		fs := st.fields[name]
		if !fs.visible {
			continue
		}
		ev.Visible = append(ev.Visible, name)
		if fs.required || (fs.entityRequired && !fs.readOnly) {
			ev.Required = append(ev.Required, name)
		}
		if fs.readOnly {
			ev.ReadOnly = append(ev.ReadOnly, name)
		}
		if fs.options != nil {
			ev.Options[name] = fs.options
		}
	}
	return ev
}

// stored turns an expression's result into the value field f stores (as
// the pipeline does for its default expressions).
func stored(f *metadata.Field, v any) any {
	switch x := v.(type) {
	case time.Time:
		if f.Type == "date" {
			return x.UTC().Format(metadata.DateLayout)
		}
		return metadata.FormatDateTime(x)
	case int:
		return int64(x)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return v
}

// empty reports a value that does not fill a required field: nothing, an
// empty text or list, or an unticked box.
func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case bool:
		return !x
	}
	return false
}
