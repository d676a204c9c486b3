package records

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// assign copies the body into r: it refuses unknown, system, read-only and
// hidden fields by name (mass assignment), then normalizes each value per
// field type. A null removes the field.
func (s *Service) assign(p *identity.Principal, e *catalog.Entity, r *store.Record, body map[string]any, creating bool) error {
	var errs []problem.FieldError
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, name := range keys {
		v := body[name]
		if name == "owner" && e.Ownership {
			if !s.policy.CanAssignOwner(p, e) {
				errs = append(errs, problem.FieldError{Field: name, Code: "read_only", Message: "you may not assign the owner"})
				continue
			}
			id, ok := v.(string)
			if !ok || !validID(id) {
				errs = append(errs, problem.FieldError{Field: name, Code: "type", Message: "owner must be a user id"})
				continue
			}
			r.Owner = id
			continue
		}
		if _, sys := metadata.SystemFields[name]; sys {
			errs = append(errs, problem.FieldError{Field: name, Code: "read_only", Message: name + " is set by the system"})
			continue
		}
		f := e.Field(name)
		hidden, ro := false, false
		if f != nil {
			hidden, ro = s.policy.Field(p, e, name)
		}
		if f == nil || hidden {
			errs = append(errs, problem.FieldError{Field: name, Code: "unknown_field", Message: fmt.Sprintf("%s has no field %q", e.Name, name)})
			continue
		}
		if metadata.IsReadOnly(f) || ro {
			errs = append(errs, problem.FieldError{Field: name, Code: "read_only", Message: name + " is read-only"})
			continue
		}
		if v == nil {
			delete(r.Data, name)
			continue
		}
		nv, err := metadata.Normalize(f, v)
		if err != nil {
			errs = append(errs, fieldErr(name, err))
			continue
		}
		if nv == nil {
			delete(r.Data, name)
			continue
		}
		r.Data[name] = nv
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}

func fieldErr(name string, err error) problem.FieldError {
	if fe, ok := err.(*metadata.FieldError); ok {
		return problem.FieldError{Field: name, Code: fe.Code, Message: fe.Message}
	}
	return problem.FieldError{Field: name, Code: "invalid", Message: err.Error()}
}

// defaults fills the fields a new record left out.
func (s *Service) defaults(e *catalog.Entity, p *identity.Principal, r *store.Record) error {
	var errs []problem.FieldError
	for _, f := range e.LiveFields() {
		if _, set := r.Data[f.Name]; set || metadata.IsReadOnly(f) {
			continue
		}
		var v any
		switch {
		case f.Default != nil:
			v = f.Default
		case e.Defaults[f.Name] != nil:
			out, err := e.Defaults[f.Name].Run(env(e, p, r))
			if err != nil {
				errs = append(errs, problem.FieldError{Field: f.Name, Code: "default", Message: err.Error()})
				continue
			}
			v = fromExpr(f, out)
		default:
			continue
		}
		if v == nil {
			continue
		}
		// A default the field cannot hold (an expression's 1/0) is the
		// field's error, not a silently empty field.
		nv, err := metadata.Normalize(f, v)
		if err != nil {
			fe := fieldErr(f.Name, err)
			fe.Message = "default: " + fe.Message
			errs = append(errs, fe)
			continue
		}
		r.Data[f.Name] = nv
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}

func (s *Service) autoNumbers(ctx context.Context, e *catalog.Entity, r *store.Record) error {
	for _, f := range e.LiveFields() {
		if f.Type != "auto_number" {
			continue
		}
		// Gaps are possible (a write that fails after taking a number), as
		// in every CRM; numbers are never reused.
		n, err := s.st.NextSequence(ctx, e.Name+"."+f.Name)
		if err != nil {
			return err
		}
		r.Data[f.Name] = metadata.FormatAutoNumber(f.Format, n)
	}
	return nil
}

// check computes formulas, then validates the record against the entity's
// JSON Schema, its validation rules and its lookups.
func (s *Service) check(ctx context.Context, p *identity.Principal, e *catalog.Entity, r *store.Record) error {
	var errs []problem.FieldError
	for _, fm := range e.Formulas {
		out, err := fm.Program.Run(env(e, p, r))
		if err != nil {
			// A formula over fields that are still empty (nil * 2) has no
			// value yet; it must not stop the record from being saved.
			delete(r.Data, fm.Field.Name)
			continue
		}
		v, err := metadata.Normalize(fm.Field, fromExpr(fm.Field, out))
		if err != nil {
			// A result no JSON client can read (revenue / 0 is +Inf) is
			// refused by the formula's name rather than stored as empty:
			// the inputs that made it are what the writer must change.
			fe := fieldErr(fm.Field.Name, err)
			fe.Message = "the formula's result " + fe.Message
			errs = append(errs, fe)
			continue
		}
		if v != nil {
			r.Data[fm.Field.Name] = v
		} else {
			delete(r.Data, fm.Field.Name)
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	for _, fe := range e.Validator.Validate(validatable(e, r.Data)) {
		errs = append(errs, problem.FieldError{Field: fe.Field, Code: fe.Code, Message: fe.Message})
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	if len(e.Rules) > 0 {
		ev := env(e, p, r)
		for _, rule := range e.Rules {
			ok, err := rule.Program.Bool(ev)
			if err != nil {
				errs = append(errs, problem.FieldError{Field: rule.Field, Code: "rule", Message: fmt.Sprintf("rule %s could not be checked: %v", rule.Name, err)})
				continue
			}
			if !ok {
				errs = append(errs, problem.FieldError{Field: rule.Field, Code: "rule", Message: rule.Message})
			}
		}
		if len(errs) > 0 {
			return problem.Invalid(errs...)
		}
	}
	for _, f := range e.LiveFields() {
		if f.Type != "lookup" {
			continue
		}
		id, ok := r.Data[f.Name].(string)
		if !ok {
			continue
		}
		target, err := s.cat.Get(f.Target)
		if err != nil {
			errs = append(errs, problem.FieldError{Field: f.Name, Code: "lookup", Message: fmt.Sprintf("target entity %s no longer exists", f.Target)})
			continue
		}
		// The target must exist and be readable by the writer: a lookup
		// must not reveal records the user cannot see.
		if _, err := s.scopedGet(ctx, p, target, id, OpRead); err != nil {
			errs = append(errs, problem.FieldError{Field: f.Name, Code: "lookup", Message: fmt.Sprintf("no %s record with id %s", f.Target, id)})
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}

// validatable is the data the JSON Schema sees: formula values are the
// engine's own and are not part of the contract callers write to.
func validatable(e *catalog.Entity, data map[string]any) map[string]any {
	if len(e.Formulas) == 0 {
		return data
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		out[k] = v
	}
	for _, fm := range e.Formulas {
		delete(out, fm.Field.Name)
	}
	return out
}

// Env is what an expression over r sees, as the pipeline's formulas,
// defaults and rules see it: a form's conditions run on the same.
func Env(e *catalog.Entity, p *identity.Principal, r *store.Record) map[string]any {
	return env(e, p, r)
}

// env is what an expression over a record sees: its fields (dates as
// time.Time, so they compare with date() and now()), the system fields and
// the user.
func env(e *catalog.Entity, p *identity.Principal, r *store.Record) map[string]any {
	m := make(map[string]any, len(r.Data)+8)
	for k, v := range r.Data {
		m[k] = v
	}
	for _, f := range e.LiveFields() {
		v, ok := m[f.Name].(string)
		if !ok {
			continue
		}
		switch kind, _ := e.KindOf(f.Name); kind {
		case metadata.KindDate:
			if d, ok := expression.NewDate(v); ok {
				m[f.Name] = d
			}
		case metadata.KindDateTime:
			if t, err := metadata.ParseDateTime(v); err == nil {
				m[f.Name] = t
			}
		}
	}
	m["id"] = r.ID
	m["version"] = r.Version
	m["created_at"] = r.CreatedAt
	m["updated_at"] = r.UpdatedAt
	m["created_by"] = r.CreatedBy
	if e.Ownership {
		m["owner"] = r.Owner
	}
	m["user"] = p.Vars()
	return m
}

// fromExpr turns an expression's result into a stored value of field f.
func fromExpr(f *metadata.Field, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
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

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case float64:
		return int64(x), x == math.Trunc(x)
	case int64:
		return x, true
	}
	return 0, false
}
