// Package actions holds the workflow actions Jimu ships, each a plugin
// module under "actions.": set_fields, create_record, update_records,
// assign_owner, create_task, notify, email and webhook. They register
// themselves when the package is imported (workflows does).
package actions

import (
	"context"
	"fmt"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/plugins"
	"github.com/jimu-crm/jimu/workflows/action"
)

func init() {
	for _, m := range []func() plugins.Module{
		func() plugins.Module { return &SetFields{} },
		func() plugins.Module { return &CreateRecord{} },
		func() plugins.Module { return &UpdateRecords{} },
		func() plugins.Module { return &AssignOwner{} },
		func() plugins.Module { return &CreateTask{} },
		func() plugins.Module { return &Notify{} },
		func() plugins.Module { return &Email{} },
		func() plugins.Module { return &Webhook{} },
	} {
		plugins.Register(plugins.Info{ID: m().ID(), New: m})
	}
}

// rendered is a record as the run log shows it.
func rendered(x *action.Exec, e *catalog.Entity, r *store.Record) map[string]any {
	if r == nil {
		return nil
	}
	return x.Svc.Records.Render(x.As, e, r, nil)
}

// needRecord is the error of an action that acts on the run's record when
// the run has none.
func needRecord(x *action.Exec, what string) error {
	if x.RecordID == "" || x.Entity == nil {
		return action.Permanentf("%s needs a record, and this run has none", what)
	}
	return nil
}

// --- set_fields ---

// SetFields sets fields of the run's record: {"values": {"stage":
// "\"qualified\"", "score": "record.score + 10"}}.
type SetFields struct {
	Values map[string]string `json:"values"`
	progs  map[string]*expression.Program
}

func (*SetFields) ID() string { return "actions.set_fields" }

func (a *SetFields) Prepare(c *action.Compiler) {
	if len(a.Values) == 0 {
		c.Fail("values", "required", "name at least one field to set")
		return
	}
	if c.Entity == nil {
		c.Fail("", "no_record", "set_fields needs a rule on an entity")
		return
	}
	a.progs = c.Values("values", c.Entity, a.Values)
}

func (a *SetFields) Do(ctx context.Context, x *action.Exec) (any, error) {
	if err := needRecord(x, "set_fields"); err != nil {
		return nil, err
	}
	if x.Ledger.Done("set") {
		return map[string]any{"skipped": "applied by an earlier attempt"}, nil
	}
	values, err := x.Values(x.Entity, a.progs)
	if err != nil {
		return nil, err
	}
	out := func(r *store.Record) any {
		return map[string]any{"values": values, "id": x.RecordID, "version": versionOf(r)}
	}
	r, err := x.Ledger.Write(ctx, "set", func(ctx context.Context) (*store.Record, error) {
		return x.Svc.Records.Update(ctx, x.As, x.Entity.Name, x.RecordID, values, 0, false)
	}, out)
	if err != nil {
		return map[string]any{"values": values}, err
	}
	if x.DryRun {
		return map[string]any{"values": values, "record": rendered(x, x.Entity, r)}, nil
	}
	return out(r), nil
}

// --- create_record ---

// CreateRecord creates a record of any entity: {"entity": "task",
// "values": {"title": "\"Onboard \" + record.name"}}.
type CreateRecord struct {
	Entity string            `json:"entity"`
	Values map[string]string `json:"values"`
	target *catalog.Entity
	progs  map[string]*expression.Program
}

func (*CreateRecord) ID() string { return "actions.create_record" }

func (a *CreateRecord) Prepare(c *action.Compiler) {
	if a.target = c.Target("entity", a.Entity); a.target == nil {
		return
	}
	a.progs = c.Values("values", a.target, a.Values)
}

func (a *CreateRecord) Do(ctx context.Context, x *action.Exec) (any, error) {
	e, err := x.Svc.Catalog.Get(a.Entity)
	if err != nil {
		return nil, action.Permanentf("entity %s: %w", a.Entity, err)
	}
	if x.Ledger.Done("create") {
		return map[string]any{"skipped": "created by an earlier attempt"}, nil
	}
	values, err := x.Values(e, a.progs)
	if err != nil {
		return nil, err
	}
	out := func(r *store.Record) any {
		if r == nil {
			return map[string]any{"entity": e.Name, "values": values}
		}
		return map[string]any{"entity": e.Name, "id": r.ID, "values": values}
	}
	r, err := x.Ledger.Write(ctx, "create", func(ctx context.Context) (*store.Record, error) {
		return x.Svc.Records.Create(ctx, x.As, e.Name, values)
	}, out)
	if err != nil {
		return map[string]any{"entity": e.Name, "values": values}, err
	}
	if x.DryRun {
		return map[string]any{"entity": e.Name, "record": rendered(x, e, r)}, nil
	}
	return out(r), nil
}

// --- update_records ---

// MaxUpdated caps the records one update_records step changes (each is
// also an action against the run's limit).
const MaxUpdated = 200

// UpdateRecords changes records found from the run's record: through one
// of its lookup fields ({"lookup": "account"}) or a filter over another
// entity that may read the record ({"entity": "task", "filter":
// "parent_id == record.id and done == false"}).
type UpdateRecords struct {
	Entity string            `json:"entity"`
	Lookup string            `json:"lookup"`
	Filter string            `json:"filter"`
	Values map[string]string `json:"values"`
	target *catalog.Entity
	progs  map[string]*expression.Program
}

func (*UpdateRecords) ID() string { return "actions.update_records" }

func (a *UpdateRecords) Prepare(c *action.Compiler) {
	switch {
	case (a.Lookup == "") == (a.Filter == ""):
		c.Fail("", "invalid", "give either lookup (a lookup field of the record) or filter (over entity), not both or neither")
		return
	case a.Lookup != "":
		if c.Entity == nil {
			c.Fail("lookup", "no_record", "lookup needs a rule on an entity")
			return
		}
		f := c.Entity.Field(a.Lookup)
		if f == nil || f.Type != "lookup" {
			c.Fail("lookup", "unknown_field", "%s has no lookup field %q", c.Entity.Name, a.Lookup)
			return
		}
		if a.Entity != "" && a.Entity != f.Target {
			c.Fail("entity", "invalid", "%s.%s points at %s, not %s", c.Entity.Name, a.Lookup, f.Target, a.Entity)
			return
		}
		a.Entity = f.Target
		a.target = c.Target("entity", f.Target)
	default:
		if a.target = c.Target("entity", a.Entity); a.target == nil {
			return
		}
		vars := map[string]any{"record": probe(c.Entity), "old": probe(c.Entity), "user": map[string]any{}}
		res := &expression.EntityResolver{Entity: a.target.Entity, Vars: vars}
		if _, err := expression.Pushdown(a.Filter, res, time.Now()); err != nil {
			c.Fail("filter", "invalid_filter", "%v", err)
			return
		}
	}
	if a.target == nil {
		return
	}
	if len(a.Values) == 0 {
		c.Fail("values", "required", "name at least one field to set")
	}
	a.progs = c.Values("values", a.target, a.Values)
}

// probe is a record of e with every field empty, for checking a filter
// that reads the record.
func probe(e *catalog.Entity) map[string]any {
	m := map[string]any{"id": "", "owner": ""}
	if e == nil {
		return m
	}
	for _, f := range e.LiveFields() {
		m[f.Name] = nil
	}
	for name := range map[string]bool{"version": true, "created_at": true, "updated_at": true, "created_by": true, "updated_by": true} {
		m[name] = nil
	}
	return m
}

func (a *UpdateRecords) Do(ctx context.Context, x *action.Exec) (any, error) {
	e, err := x.Svc.Catalog.Get(a.Entity)
	if err != nil {
		return nil, action.Permanentf("entity %s: %w", a.Entity, err)
	}
	ids, err := a.find(ctx, x)
	if err != nil {
		return nil, err
	}
	values, err := x.Values(e, a.progs)
	if err != nil {
		return nil, err
	}
	var changed []map[string]any
	skipped := 0
	for _, id := range ids {
		key := "u:" + id
		if x.Ledger.Done(key) {
			skipped++
			continue
		}
		r, err := x.Ledger.Write(ctx, key, func(ctx context.Context) (*store.Record, error) {
			return x.Svc.Records.Update(ctx, x.As, e.Name, id, values, 0, false)
		}, nil)
		if err != nil {
			return map[string]any{"entity": e.Name, "values": values, "changed": changed}, fmt.Errorf("%s %s: %w", e.Name, id, err)
		}
		changed = append(changed, map[string]any{"id": id, "version": versionOf(r)})
	}
	out := map[string]any{"entity": e.Name, "values": values, "found": len(ids), "changed": changed}
	if skipped > 0 {
		out["skipped"] = fmt.Sprintf("%d changed by an earlier attempt", skipped)
	}
	return out, nil
}

func versionOf(r *store.Record) any {
	if r == nil {
		return nil
	}
	return r.Version
}

// find lists the ids to change: the lookup's value, or the filter's
// matches as the rule's identity may read them, in id order.
func (a *UpdateRecords) find(ctx context.Context, x *action.Exec) ([]string, error) {
	if a.Lookup != "" {
		if err := needRecord(x, "update_records with lookup"); err != nil {
			return nil, err
		}
		id, _ := x.Record[a.Lookup].(string)
		if id == "" {
			return nil, nil
		}
		return []string{id}, nil
	}
	vars := map[string]any{"record": orEmpty(x.Record), "old": orEmpty(x.Old)}
	res, _, err := x.Svc.Records.List(ctx, x.As, a.Entity, records.ListParams{Filter: a.Filter, Sort: "id", Limit: MaxUpdated + 1, Vars: vars})
	if err != nil {
		return nil, err
	}
	if len(res.Items) > MaxUpdated {
		return nil, action.Permanentf("the filter finds more than %d %s records; narrow it", MaxUpdated, a.Entity)
	}
	ids := make([]string, len(res.Items))
	for i, r := range res.Items {
		ids[i] = r.ID
	}
	return ids, nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
