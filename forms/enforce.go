package forms

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// hook is the records.Hook of a write through form f: it fills the form's
// defaults (and, on the public page, the publication's hidden ones), then
// holds the write to the form's rules as they evaluate on the record that
// is about to be written. It runs inside the write pipeline, so whichever
// path a write takes — the form's own endpoint, the records API with
// ?form=, the public page — the same rules hold, and a browser that skips
// them changes nothing.
func (s *Forms) hook(f *Form, pub *Publication, access fieldAccess) records.Hook {
	c := s.compiled(f)
	return func(ctx context.Context, w *records.Write) error {
		e, p := w.Entity, w.Principal
		if w.Old == nil {
			if pub != nil {
				if err := hiddenDefaults(e, pub, w.New); err != nil {
					return err
				}
			}
			if err := formDefaults(c, e, p, w.New, w.Body); err != nil {
				return err
			}
		}
		st := evaluate(c, e, access, records.Env(e, p, w.New))
		var before *state
		if w.Old != nil {
			before = evaluate(c, e, access, records.Env(e, p, w.Old))
		}
		return enforce(f, e, access, st, before, w)
	}
}

// hiddenDefaults sets what a publication sets on every public submission.
func hiddenDefaults(e *catalog.Entity, pub *Publication, r *store.Record) error {
	for _, name := range sortedKeys(pub.Defaults) {
		v := pub.Defaults[name]
		if name == "owner" && e.Ownership {
			if id, ok := v.(string); ok {
				r.Owner = id
			}
			continue
		}
		def := e.Field(name)
		if def == nil {
			continue // deleted from the entity since publication
		}
		nv, err := metadata.Normalize(def, v)
		if err != nil {
			return fmt.Errorf("forms: hidden default %s: %w", name, err)
		}
		r.Data[name] = nv
	}
	return nil
}

// formDefaults fills the fields a new record was not sent with the form's
// defaults, over the entity's own.
func formDefaults(c *compiled, e *catalog.Entity, p *identity.Principal, r *store.Record, body map[string]any) error {
	var errs []problem.FieldError
	for _, ru := range c.fields {
		if _, sent := body[ru.Field]; sent || (ru.Default == nil && ru.def == nil) {
			continue
		}
		def := e.Field(ru.Field)
		if def == nil || metadata.IsReadOnly(def) {
			continue
		}
		v := ru.Default
		if ru.def != nil {
			out, err := ru.def.Run(records.Env(e, p, r))
			if err != nil {
				errs = append(errs, problem.FieldError{Field: ru.Field, Code: "default", Message: err.Error()})
				continue
			}
			v = stored(def, out)
		}
		if v == nil {
			continue
		}
		nv, err := metadata.Normalize(def, v)
		if err != nil {
			errs = append(errs, problem.FieldError{Field: ru.Field, Code: "default", Message: "the form's default: " + err.Error()})
			continue
		}
		r.Data[ru.Field] = nv
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}

// enforce holds one write to the form's rules: st for the record as it
// would be written, before for the record as it was (nil on a create).
func enforce(f *Form, e *catalog.Entity, access fieldAccess, st, before *state, w *records.Write) error {
	errs := append([]problem.FieldError{}, st.errs...)
	refused := map[string]bool{}
	refuse := func(name, code, format string, args ...any) {
		refused[name] = true
		errs = append(errs, problem.FieldError{Field: name, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	for _, name := range sortedKeys(w.Body) {
		if name == "owner" && e.Ownership {
			refuse(name, "not_on_form", "the owner is not on form %s", f.Name)
			continue
		}
		if _, sys := metadata.SystemFields[name]; sys {
			continue // the pipeline refuses it by name
		}
		if e.Field(name) == nil {
			continue // unknown: the pipeline refuses it by name
		}
		if hidden, _ := access(name); hidden {
			continue // unknown to the writer: the pipeline says so
		}
		fs := st.fields[name]
		if fs == nil {
			refuse(name, "not_on_form", "%s is not on form %s", name, f.Name)
			continue
		}
		if !fs.visible {
			refuse(name, "hidden", "%s is not shown on this form for these values: leave it out", name)
			continue
		}
		ro := fs.readOnly
		if b := before; b != nil && b.fields[name] != nil && b.fields[name].readOnly {
			ro = true
		}
		if ro && (w.Old == nil || changed(w.Old.Data[name], w.New.Data[name])) {
			refuse(name, "read_only", "%s is read-only on this form", name)
			continue
		}
		if fs.narrowed {
			if bad, ok := outside(w.New.Data[name], fs.options); !ok {
				refuse(name, "option", "%q is not one of the options this form allows here", bad)
			}
		}
	}
	for _, name := range st.order {
		if fs := st.fields[name]; fs.required && !refused[name] && empty(w.New.Data[name]) {
			errs = append(errs, problem.FieldError{Field: name, Code: "required", Message: "is required"})
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}

// outside returns the first value of a select (a string) or multi-select
// (a list) that is not among the allowed options.
func outside(v any, allowed []string) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, slices.Contains(allowed, x)
	case []any:
		for _, e := range x {
			s, _ := e.(string)
			if !slices.Contains(allowed, s) {
				return s, false
			}
		}
	}
	return "", true
}

// changed compares two stored values as JSON, so 3 and 3.0 are the same.
func changed(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) != string(jb)
}

// WriteHook is the check of ?form={id} on the records API
// (server.FormHooks): the write holds to the form's rules for p.
func (s *Forms) WriteHook(ctx context.Context, p *identity.Principal, entity, id string) (records.Hook, error) {
	f, err := s.Get(ctx, id)
	if err != nil {
		return nil, problem.BadRequest("form", "unknown_form", "no form %q", id)
	}
	if f.Entity != entity {
		return nil, problem.BadRequest("form", "entity", "form %s is for %s records, not %s", f.Name, f.Entity, entity)
	}
	return s.userHook(p, f)
}

// userHook is the hook of a signed-in writer: their own field rights hold.
func (s *Forms) userHook(p *identity.Principal, f *Form) (records.Hook, error) {
	e, err := s.cat.Get(f.Entity)
	if err != nil {
		return nil, err
	}
	return s.hook(f, nil, func(name string) (bool, bool) { return s.rec.FieldAccess(p, e, name) }), nil
}
