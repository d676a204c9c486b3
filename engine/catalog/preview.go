package catalog

import (
	"context"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Plan is what a change of an entity would do, worked out and written
// nowhere: the records each field's type change would convert, and, for
// fields that would lose their data (hidden now, purged later), how many
// records hold a value.
type Plan struct {
	Conversions []PlannedConversion `json:"conversions"`
	Holding     map[string]int64    `json:"holding,omitempty"`
}

// PlannedConversion is one field's type change and the records it would
// rewrite.
type PlannedConversion struct {
	Field   string `json:"field"`
	From    string `json:"from"`
	To      string `json:"to"`
	Records int    `json:"records"`
}

// UpdateFieldPlan is UpdateField's plan: the same checks and the same
// convert-all-or-refuse report (a 422 listing the records that would not
// convert), with nothing changed.
func (c *Catalog) UpdateFieldPlan(ctx context.Context, p *identity.Principal, entity, name string, f *metadata.Field) (*Plan, error) {
	return c.plan(ctx, entity, func(e *metadata.Entity) error { return replaceField(e, entity, name, f) })
}

// DeleteFieldPlan says how many records hold a value of the field that
// deleting (then purging) it would take away.
func (c *Catalog) DeleteFieldPlan(ctx context.Context, p *identity.Principal, entity, name string) (*Plan, error) {
	old, err := c.Get(entity)
	if err != nil {
		return nil, err
	}
	if old.AnyField(name) == nil {
		return nil, problem.NotFound("entity %s has no field %q", entity, name)
	}
	n, capped, err := c.st.Count(ctx, entity, &store.Cond{Op: store.OpNotNull, Field: name}, 1_000_000)
	if err != nil {
		return nil, err
	}
	if capped {
		n = 1_000_000
	}
	return &Plan{Conversions: []PlannedConversion{}, Holding: map[string]int64{name: n}}, nil
}

// plan runs commit's checks and conversion plan over fn's change.
func (c *Catalog) plan(ctx context.Context, name string, fn func(e *metadata.Entity) error) (*Plan, error) {
	old, err := c.Get(name)
	if err != nil {
		return nil, err
	}
	next := old.Entity.Clone()
	if err := fn(next); err != nil {
		return nil, err
	}
	if errs := next.Check(c.exists); len(errs) > 0 {
		return nil, problem.Invalid(toProblem(errs)...)
	}
	if _, err := compile(next); err != nil {
		return nil, err
	}
	if errs := checkNames(next); len(errs) > 0 {
		return nil, problem.Invalid(errs...)
	}
	convs, err := c.planConversions(ctx, old.Entity, next)
	if err != nil {
		return nil, err
	}
	out := &Plan{Conversions: []PlannedConversion{}}
	for _, cv := range convs {
		out.Conversions = append(out.Conversions, PlannedConversion{Field: cv.field.Name,
			From: old.AnyField(cv.field.Name).Type, To: cv.field.Type, Records: len(cv.updates)})
	}
	return out, nil
}
