package forms

import (
	"context"
	"fmt"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// usable returns a form p may fill, with its entity: one of an entity p
// may create or change records of (designers may preview any form).
func (s *Forms) usable(ctx context.Context, p *identity.Principal, id string) (*Form, *catalog.Entity, error) {
	f, err := s.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	e, err := s.cat.Get(f.Entity)
	if err != nil {
		return nil, nil, err
	}
	if s.rec.Permits(ctx, p, e, records.OpCreate) || s.rec.Permits(ctx, p, e, records.OpUpdate) ||
		s.rec.Permits(ctx, p, e, records.OpRead) || s.CanDesign(ctx, p) {
		return f, e, nil
	}
	return nil, nil, problem.NotFound("form %s not found", id)
}

// Evaluate runs a form's rules over draft values, as a submission would:
// on a new record (its defaults filled) or, with recordID, on that record
// as p may read it with the values applied. Values that a field cannot
// hold are reported, not applied; a value for a field that is not on the
// form (or that p may not see) is refused.
func (s *Forms) Evaluate(ctx context.Context, p *identity.Principal, id string, values map[string]any, recordID string) (*Evaluation, error) {
	f, e, err := s.usable(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return s.evaluateOn(ctx, p, f, e, s.compiled(f), values, recordID)
}

// Preview evaluates a form that is not saved yet (the builder's draft):
// it is checked as a save would check it, then its rules run over the
// values. Nothing is stored.
func (s *Forms) Preview(ctx context.Context, p *identity.Principal, f *Form, values map[string]any) (*Evaluation, error) {
	if err := s.designer(ctx, p); err != nil {
		return nil, err
	}
	f.Publish = nil
	if err := s.check(ctx, p, f, ""); err != nil {
		return nil, err
	}
	e, err := s.cat.Get(f.Entity)
	if err != nil {
		return nil, err
	}
	return s.evaluateOn(ctx, p, f, e, compileForm(f), values, "")
}

func (s *Forms) evaluateOn(ctx context.Context, p *identity.Principal, f *Form, e *catalog.Entity, c *compiled, values map[string]any, recordID string) (*Evaluation, error) {
	access := func(name string) (bool, bool) { return s.rec.FieldAccess(p, e, name) }
	var r *store.Record
	if recordID != "" {
		old, _, err := s.rec.Get(ctx, p, e.Name, recordID)
		if err != nil {
			return nil, err
		}
		cp := *old
		r = &cp
		r.Data = make(map[string]any, len(old.Data))
		for k, v := range old.Data {
			r.Data[k] = v
		}
	} else {
		now := time.Now().UTC()
		r = &store.Record{Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: p.UserID, Data: map[string]any{}}
		if e.Ownership {
			r.Owner = p.UserID
		}
	}
	var bad []problem.FieldError
	var errs []problem.FieldError
	for _, name := range sortedKeys(values) {
		def := e.Field(name)
		hidden := true
		if def != nil {
			hidden, _ = access(name)
		}
		switch {
		case hidden:
			bad = append(bad, problem.FieldError{Field: "values." + name, Code: "unknown_field", Message: fmt.Sprintf("%s has no field %q", e.Name, name)})
			continue
		case f.Field(name) == nil:
			bad = append(bad, problem.FieldError{Field: "values." + name, Code: "not_on_form", Message: fmt.Sprintf("%s is not on form %s", name, f.Name)})
			continue
		}
		if values[name] == nil {
			delete(r.Data, name)
			continue
		}
		nv, fe := valueOf(e, def, values[name])
		if fe != nil {
			errs = append(errs, *fe)
			continue
		}
		r.Data[name] = nv
	}
	if len(bad) > 0 {
		return nil, problem.Invalid(bad...)
	}
	var defaults map[string]any
	if recordID == "" {
		defaults = entityDefaults(e, p, r, values)
		if err := formDefaults(c, e, p, r, values); err == nil {
			for _, ru := range c.fields {
				if _, sent := values[ru.Field]; !sent && r.Data[ru.Field] != nil {
					defaults[ru.Field] = r.Data[ru.Field]
				}
			}
		}
	}
	ev := evaluate(c, e, access, records.Env(e, p, r)).evaluation()
	ev.Errors = append(append([]problem.FieldError{}, errs...), ev.Errors...)
	if len(defaults) > 0 {
		ev.Defaults = defaults
	}
	return ev, nil
}

// entityDefaults fills the entity's own defaults of the fields not sent
// into r and returns them (a preview: the pipeline computes them again).
func entityDefaults(e *catalog.Entity, p *identity.Principal, r *store.Record, sent map[string]any) map[string]any {
	out := map[string]any{}
	for _, f := range e.LiveFields() {
		if _, ok := sent[f.Name]; ok || metadata.IsReadOnly(f) {
			continue
		}
		v := f.Default
		if prog := e.Defaults[f.Name]; v == nil && prog != nil {
			res, err := prog.Run(records.Env(e, p, r))
			if err != nil {
				continue
			}
			v = stored(f, res)
		}
		if v == nil {
			continue
		}
		if nv, err := metadata.Normalize(f, v); err == nil && nv != nil {
			r.Data[f.Name], out[f.Name] = nv, nv
		}
	}
	return out
}

// Submit creates a record through a form, under p's own rights.
func (s *Forms) Submit(ctx context.Context, p *identity.Principal, id string, body map[string]any) (*store.Record, *catalog.Entity, error) {
	f, e, err := s.usable(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	hook, err := s.userHook(p, f)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.rec.CreateWith(ctx, p, e.Name, body, hook)
	return r, e, err
}

// Resubmit changes a record through a form, under p's own rights.
func (s *Forms) Resubmit(ctx context.Context, p *identity.Principal, id, recordID string, body map[string]any, expected int64) (*store.Record, *catalog.Entity, error) {
	f, e, err := s.usable(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	hook, err := s.userHook(p, f)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.rec.UpdateWith(ctx, p, e.Name, recordID, body, expected, false, hook)
	return r, e, err
}

// valueOf is a value as field def stores it, or why def cannot hold it:
// the field type's normalisation, then the entity's JSON Schema for that
// field alone.
func valueOf(e *catalog.Entity, def *metadata.Field, v any) (any, *problem.FieldError) {
	nv, err := metadata.Normalize(def, v)
	if err != nil {
		fe := &problem.FieldError{Field: def.Name, Code: "invalid", Message: err.Error()}
		if me, ok := err.(*metadata.FieldError); ok {
			fe.Code, fe.Message = me.Code, me.Message
		}
		return nil, fe
	}
	for _, ve := range e.Validator.Validate(map[string]any{def.Name: nv}) {
		if ve.Field == def.Name {
			return nil, &problem.FieldError{Field: def.Name, Code: ve.Code, Message: ve.Message}
		}
	}
	return nv, nil
}
