// Package catalog keeps the live metadata: every entity's definition as a
// versioned document in the store, compiled once per version into the
// validator, formula, default and rule programs that the write pipeline
// uses. Every change is validated, versioned, kept in a history, audited,
// and applied to the store's tables and indexes, with no restart.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

const (
	docKind     = "entity"
	historyKind = "entity_history"
)

// Entity is an entity's metadata compiled for use: the contract every write
// of its current version is checked against.
type Entity struct {
	*metadata.Entity
	Validator *metadata.Validator
	Schema    map[string]any
	Formulas  []Formula
	Defaults  map[string]*expression.Program
	Rules     []Rule
}

// Formula is a compiled formula field.
type Formula struct {
	Field   *metadata.Field
	Program *expression.Program
}

// Rule is a compiled validation rule.
type Rule struct {
	*metadata.Rule
	Program *expression.Program
}

// Catalog is the set of live entities.
type Catalog struct {
	st  store.Store
	log *slog.Logger

	mu       sync.RWMutex
	entities map[string]*Entity
	writeMu  sync.Mutex // one metadata change at a time on this node
}

// New returns an empty catalog; call Load.
func New(st store.Store, log *slog.Logger) *Catalog {
	if log == nil {
		log = slog.Default()
	}
	return &Catalog{st: st, log: log, entities: map[string]*Entity{}}
}

// Load reads every entity from the store, compiles it and makes sure its
// storage exists.
func (c *Catalog) Load(ctx context.Context) error {
	docs, err := c.st.ListDocs(ctx, docKind)
	if err != nil {
		return fmt.Errorf("catalog: load: %w", err)
	}
	m := map[string]*Entity{}
	for _, d := range docs {
		var e metadata.Entity
		if err := json.Unmarshal(d.Data, &e); err != nil {
			return fmt.Errorf("catalog: entity %s: %w", d.ID, err)
		}
		e.Version = d.Version
		ce, err := compile(&e)
		if err != nil {
			return fmt.Errorf("catalog: entity %s: %w", d.ID, err)
		}
		if err := c.st.EnsureEntity(ctx, &e); err != nil {
			return fmt.Errorf("catalog: entity %s: %w", d.ID, err)
		}
		m[e.Name] = ce
	}
	c.mu.Lock()
	c.entities = m
	c.mu.Unlock()
	return nil
}

// Get returns the compiled entity called name.
func (c *Catalog) Get(name string) (*Entity, error) {
	c.mu.RLock()
	e := c.entities[name]
	c.mu.RUnlock()
	if e == nil {
		return nil, problem.NotFound("unknown entity %q", name)
	}
	return e, nil
}

// List returns every entity, by name.
func (c *Catalog) List() []*Entity {
	c.mu.RLock()
	out := make([]*Entity, 0, len(c.entities))
	for _, e := range c.entities {
		out = append(out, e)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c *Catalog) exists(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.entities[name] != nil
}

func compile(e *metadata.Entity) (*Entity, error) {
	v, err := metadata.Compile(e)
	if err != nil {
		return nil, err
	}
	ce := &Entity{Entity: e, Validator: v, Schema: e.JSONSchema(), Defaults: map[string]*expression.Program{}}
	var errs []problem.FieldError
	for _, f := range e.LiveFields() {
		if f.Type == "formula" {
			p, err := expression.Compile(f.Formula)
			if err != nil {
				errs = append(errs, problem.FieldError{Field: "fields." + f.Name + ".formula", Code: "expression", Message: err.Error()})
				continue
			}
			ce.Formulas = append(ce.Formulas, Formula{Field: f, Program: p})
		}
		if f.DefaultEx != "" {
			p, err := expression.Compile(f.DefaultEx)
			if err != nil {
				errs = append(errs, problem.FieldError{Field: "fields." + f.Name + ".default_expr", Code: "expression", Message: err.Error()})
				continue
			}
			ce.Defaults[f.Name] = p
		}
	}
	for i, r := range e.Rules {
		p, err := expression.Compile(r.Expression)
		if err != nil {
			errs = append(errs, problem.FieldError{Field: fmt.Sprintf("rules.%d.expression", i), Code: "expression", Message: err.Error()})
			continue
		}
		if r.Field != "" && e.Field(r.Field) == nil {
			errs = append(errs, problem.FieldError{Field: fmt.Sprintf("rules.%d.field", i), Code: "unknown_field", Message: fmt.Sprintf("unknown field %q", r.Field)})
		}
		ce.Rules = append(ce.Rules, Rule{Rule: r, Program: p})
	}
	if len(errs) > 0 {
		return nil, problem.Invalid(errs...)
	}
	return ce, nil
}

// Create adds a new entity.
func (c *Catalog) Create(ctx context.Context, p *identity.Principal, e *metadata.Entity) (*Entity, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.exists(e.Name) {
		return nil, problem.Conflict("entity %q already exists", e.Name)
	}
	for _, f := range e.Fields {
		f.Deleted, f.DeletedAt = false, nil
	}
	return c.commit(ctx, p, nil, e, "meta.entity.create", nil)
}

// Update replaces an entity's definition (PUT). expected is the version the
// caller read (0: any).
func (c *Catalog) Update(ctx context.Context, p *identity.Principal, name string, e *metadata.Entity, expected int64) (*Entity, error) {
	if e.Name != name {
		return nil, problem.Invalid(problem.FieldError{Field: "name", Code: "immutable", Message: "an entity cannot be renamed"})
	}
	return c.Change(ctx, p, name, expected, "meta.entity.update", func(cur *metadata.Entity) error {
		// Fields left out of a PUT are deleted (hidden, data kept), never
		// dropped.
		next := e.Clone()
		for _, of := range cur.Fields {
			if next.AnyField(of.Name) == nil {
				f := *of
				markDeleted(&f)
				next.Fields = append(next.Fields, &f)
			}
		}
		*cur = *next
		return nil
	})
}

// Change applies fn to a copy of the entity and commits the result: the
// shared path of the field endpoints.
func (c *Catalog) Change(ctx context.Context, p *identity.Principal, name string, expected int64, action string, fn func(e *metadata.Entity) error) (*Entity, error) {
	return c.change(ctx, p, name, expected, action, fn, nil)
}

// change is Change with more writes for the unit that saves the new
// version (extra may be nil).
func (c *Catalog) change(ctx context.Context, p *identity.Principal, name string, expected int64, action string, fn func(e *metadata.Entity) error, extra func(store.Tx) error) (*Entity, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	old, err := c.Get(name)
	if err != nil {
		return nil, err
	}
	if expected != 0 && expected != old.Version {
		return nil, problem.Conflict("entity %s is at version %d, not %d", name, old.Version, expected)
	}
	next := old.Entity.Clone()
	if err := fn(next); err != nil {
		return nil, err
	}
	return c.commit(ctx, p, old.Entity, next, action, extra)
}

// AddField adds a field; existing records simply lack it until written.
func (c *Catalog) AddField(ctx context.Context, p *identity.Principal, entity string, f *metadata.Field) (*Entity, error) {
	return c.Change(ctx, p, entity, 0, "meta.field.create", func(e *metadata.Entity) error {
		if old := e.AnyField(f.Name); old != nil {
			if old.Deleted {
				return problem.Conflict("field %q was deleted and still holds data; restore it with PATCH or purge it first", f.Name)
			}
			return problem.Conflict("field %q already exists", f.Name)
		}
		e.Fields = append(e.Fields, f)
		return nil
	})
}

// UpdateField replaces one field's definition. A type change converts every
// existing record or is refused with the records that would not convert.
func (c *Catalog) UpdateField(ctx context.Context, p *identity.Principal, entity, name string, f *metadata.Field) (*Entity, error) {
	return c.Change(ctx, p, entity, 0, "meta.field.update", func(e *metadata.Entity) error {
		return replaceField(e, entity, name, f)
	})
}

func replaceField(e *metadata.Entity, entity, name string, f *metadata.Field) error {
	for i, old := range e.Fields {
		if old.Name == name {
			if f.Name != name {
				return problem.Invalid(problem.FieldError{Field: "name", Code: "immutable", Message: "a field cannot be renamed"})
			}
			e.Fields[i] = f
			return nil
		}
	}
	return problem.NotFound("entity %s has no field %q", entity, name)
}

// DeleteField hides a field. Its data stays in the records until PurgeField.
func (c *Catalog) DeleteField(ctx context.Context, p *identity.Principal, entity, name string) (*Entity, error) {
	return c.Change(ctx, p, entity, 0, "meta.field.delete", func(e *metadata.Entity) error {
		f := e.Field(name)
		if f == nil {
			return problem.NotFound("entity %s has no field %q", entity, name)
		}
		markDeleted(f)
		// Compound indexes over the field go with it.
		kept := e.Indexes[:0]
		for _, ix := range e.Indexes {
			if !slices.Contains(ix.Fields, name) {
				kept = append(kept, ix)
			}
		}
		e.Indexes = kept
		return nil
	})
}

// PurgeField removes a deleted field from the metadata and its data from
// every record. It cannot be undone.
func (c *Catalog) PurgeField(ctx context.Context, p *identity.Principal, entity, name string) (*Entity, error) {
	c.mu.RLock()
	old := c.entities[entity]
	c.mu.RUnlock()
	if old == nil {
		return nil, problem.NotFound("unknown entity %q", entity)
	}
	f := old.AnyField(name)
	if f == nil {
		return nil, problem.NotFound("entity %s has no field %q", entity, name)
	}
	if !f.Deleted {
		return nil, problem.Conflict("field %q is live; delete it before purging its data", name)
	}
	// The data goes in the unit that saves the metadata, with an audit
	// entry and an event of its own. Neither carries the values: a purge
	// that copied them into the append-only audit log would keep what it
	// was asked to remove.
	now := time.Now().UTC()
	uid, ip := actor(p)
	purge := func(tx store.Tx) error {
		return tx.UnsetField(ctx, entity, name, store.Sides{
			Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: uid, IP: ip, Action: "meta.field.purge_data",
				Entity: entity, Changes: map[string]any{"field": name}},
			Event: &store.Event{ID: store.NewID(), Type: "meta.field.purged", Entity: entity, Actor: uid,
				Origin: origin(ctx, p), At: now, Payload: map[string]any{"field": name}},
		})
	}
	return c.change(ctx, p, entity, 0, "meta.field.purge", func(e *metadata.Entity) error {
		if f := e.AnyField(name); f == nil || !f.Deleted {
			return problem.Conflict("field %q changed while it was being purged; try again", name)
		}
		for i, f := range e.Fields {
			if f.Name == name {
				e.Fields = append(e.Fields[:i], e.Fields[i+1:]...)
				break
			}
		}
		return nil
	}, purge)
}

// Delete removes an entity definition. It refuses while records exist, so
// no data is orphaned by accident.
func (c *Catalog) Delete(ctx context.Context, p *identity.Principal, name string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	old, err := c.Get(name)
	if err != nil {
		return err
	}
	for _, o := range c.List() {
		for _, f := range o.LiveFields() {
			if f.Type == "lookup" && f.Target == name && o.Name != name {
				pe := problem.Conflict("entity %s is referenced by %s.%s", name, o.Name, f.Name)
				pe.Errors = []problem.FieldError{{Field: "name", Code: "referenced", Message: pe.Detail,
					Params: map[string]any{"entity": o.Name, "field": f.Name}}}
				return pe
			}
		}
	}
	n, _, err := c.st.Count(ctx, name, nil, 1)
	if err != nil {
		return err
	}
	if n > 0 {
		pe := problem.Conflict("entity %s still has records; delete them first", name)
		pe.Errors = []problem.FieldError{{Field: "name", Code: "has_records", Message: pe.Detail}}
		return pe
	}
	// The history goes with the definition: one created later under the
	// name starts its own at version 1, which the old one's would shadow.
	// The audit log keeps every version.
	hist, err := c.st.ListDocs(ctx, historyKind)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	before, _ := json.Marshal(old.Entity)
	err = c.st.Atomic(ctx, func(tx store.Tx) error {
		err := tx.DeleteDoc(ctx, docKind, name, store.Sides{
			Audit: audit(p, now, "meta.entity.delete", name, map[string]any{"before": json.RawMessage(before)}),
			Event: event(ctx, p, now, "meta.entity.deleted", name),
		})
		if err != nil {
			return err
		}
		for _, d := range hist {
			if strings.HasPrefix(d.ID, name+"@") {
				if err := tx.DeleteDoc(ctx, historyKind, d.ID, store.Sides{}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.entities, name)
	c.mu.Unlock()
	return nil
}

// History returns every stored version of an entity, oldest first.
func (c *Catalog) History(ctx context.Context, name string) ([]*metadata.Entity, error) {
	if _, err := c.Get(name); err != nil {
		return nil, err
	}
	docs, err := c.st.ListDocs(ctx, historyKind)
	if err != nil {
		return nil, err
	}
	var out []*metadata.Entity
	for _, d := range docs {
		var e metadata.Entity
		if err := json.Unmarshal(d.Data, &e); err != nil || e.Name != name {
			continue
		}
		out = append(out, &e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func markDeleted(f *metadata.Field) {
	if f.Deleted {
		return
	}
	now := time.Now().UTC()
	f.Deleted, f.DeletedAt = true, &now
	// A hidden field must not keep blocking writes.
	f.Required, f.Unique, f.Indexed = false, false, false
}

// commit validates next, brings the store's storage in line, and saves the
// new version with its audit entry and event, in one unit of work with the
// conversion of existing records when a field's type changed and with
// extra (a purge's data).
func (c *Catalog) commit(ctx context.Context, p *identity.Principal, old, next *metadata.Entity, action string, extra func(store.Tx) error) (*Entity, error) {
	if errs := next.Check(c.exists); len(errs) > 0 {
		return nil, problem.Invalid(toProblem(errs)...)
	}
	now := time.Now().UTC()
	next.UpdatedAt = now
	if old == nil {
		next.Version = 1
		next.CreatedAt = now
	} else {
		next.Version = old.Version + 1
		next.CreatedAt = old.CreatedAt
	}
	ce, err := compile(next)
	if err != nil {
		return nil, err
	}
	if errs := checkNames(next); len(errs) > 0 {
		return nil, problem.Invalid(errs...)
	}
	var conversions []conversion
	if old != nil {
		conversions, err = c.planConversions(ctx, old, next)
		if err != nil {
			return nil, err
		}
	}
	// The stored version decides before the storage is touched: a node
	// whose cached definition is stale would otherwise bring the tables
	// and indexes in line with a version the store then refuses (and drop
	// a unique index another node made).
	if err := c.checkStored(ctx, old, next.Name); err != nil {
		return nil, err
	}
	// Storage first: creating a unique index over existing duplicates fails
	// here, before the new version is saved.
	if err := c.st.EnsureEntity(ctx, next); err != nil {
		var ue *store.UniqueError
		if errors.As(err, &ue) {
			return nil, problem.Invalid(problem.FieldError{Field: "fields." + ue.Field + ".unique", Code: "duplicates",
				Message: fmt.Sprintf("existing records hold duplicate values of %s; fix them before making it unique", ue.Field)})
		}
		return nil, err
	}
	data, err := json.Marshal(next)
	if err != nil {
		return nil, err
	}
	changes := map[string]any{"after": json.RawMessage(data)}
	if old != nil {
		before, _ := json.Marshal(old)
		changes["before"] = json.RawMessage(before)
	}
	err = c.st.Atomic(ctx, func(tx store.Tx) error {
		if err := c.applyConversions(ctx, tx, p, next, conversions); err != nil {
			return err
		}
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		return tx.PutDoc(ctx, &store.Doc{Kind: docKind, ID: next.Name, Version: next.Version, Data: data}, store.Sides{
			Audit: audit(p, now, action, next.Name, changes),
			Event: event(ctx, p, now, "meta.entity.updated", next.Name),
		})
	})
	if err != nil {
		// Nothing was saved: the storage goes back to what the stored
		// definition wants (a unique index of the refused version goes).
		c.restoreStorage(ctx, next.Name)
	}
	var ue *store.UniqueError
	switch {
	case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists):
		return nil, problem.Conflict("entity %s was changed by someone else; reload and try again", next.Name)
	case errors.As(err, &ue):
		// Values that differed before a conversion may not after it.
		return nil, problem.Invalid(problem.FieldError{Field: "fields." + ue.Field + ".unique", Code: "duplicates",
			Message: fmt.Sprintf("converted, existing records would hold duplicate values of %s; fix them first", ue.Field)})
	case err != nil:
		return nil, err
	}
	hist := &store.Doc{Kind: historyKind, ID: fmt.Sprintf("%s@%010d", next.Name, next.Version), Version: 1, Data: data}
	if err := c.st.PutDoc(ctx, hist, store.Sides{}); err != nil && !errors.Is(err, store.ErrExists) {
		c.log.Warn("catalog: history not written", "entity", next.Name, "version", next.Version, "err", err)
	}
	c.mu.Lock()
	c.entities[next.Name] = ce
	c.mu.Unlock()
	return ce, nil
}

// checkStored refuses a change made from a version that is no longer the
// stored one (old nil: a create, of a name that must not be stored yet).
func (c *Catalog) checkStored(ctx context.Context, old *metadata.Entity, name string) error {
	d, err := c.st.GetDoc(ctx, docKind, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if old == nil {
			return nil
		}
	case err != nil:
		return err
	case old != nil && d.Version == old.Version:
		return nil
	}
	return problem.Conflict("entity %s was changed by someone else; reload and try again", name)
}

// restoreStorage brings the storage back in line with the stored
// definition after a change that was not saved. A create that failed has
// none, and leaves an empty table, which is harmless.
func (c *Catalog) restoreStorage(ctx context.Context, name string) {
	ctx = context.WithoutCancel(ctx)
	d, err := c.st.GetDoc(ctx, docKind, name)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	var e metadata.Entity
	if err == nil {
		err = json.Unmarshal(d.Data, &e)
	}
	if err == nil {
		err = c.st.EnsureEntity(ctx, &e)
	}
	if err != nil {
		c.log.Warn("catalog: storage not restored after a refused change", "entity", name, "err", err)
	}
}

func toProblem(errs []*metadata.FieldError) []problem.FieldError {
	out := make([]problem.FieldError, len(errs))
	for i, e := range errs {
		out[i] = problem.FieldError{Field: e.Field, Code: e.Code, Message: e.Message}
	}
	return out
}

func actor(p *identity.Principal) (string, string) {
	if p == nil {
		return "", ""
	}
	return p.UserID, p.IP
}

func audit(p *identity.Principal, at time.Time, action, entity string, changes map[string]any) *store.AuditEntry {
	id, ip := actor(p)
	return &store.AuditEntry{ID: store.NewID(), At: at, Actor: id, IP: ip, Action: action, Entity: entity, Changes: changes}
}

func event(ctx context.Context, p *identity.Principal, at time.Time, typ, entity string) *store.Event {
	id, _ := actor(p)
	return &store.Event{ID: store.NewID(), Type: typ, Entity: entity, Actor: id, Origin: origin(ctx, p), At: at}
}

// origin is what an event says made a change (records.Origin, which this
// package cannot import, says the same).
func origin(ctx context.Context, p *identity.Principal) store.Origin {
	run := identity.RunFrom(ctx)
	o := store.Origin{Run: run.ID, Depth: run.Depth}
	if p != nil {
		o.User = p.UserID
		if p.TokenKind == "api" {
			o.Token = p.TokenID
		}
	}
	return o
}
