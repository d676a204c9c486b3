// Package records is the write pipeline and the read path of every entity,
// in one place: decode → mass-assignment check → access → normalize →
// defaults → formulas → JSON Schema → validation rules → lookups and
// uniqueness → one store transaction with the audit entry and the outbox
// event. Every entity is served by this one generic service.
package records

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Operations a Policy is asked about.
const (
	OpCreate = "create"
	OpRead   = "read"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Policy decides what a principal may do. The access-control module
// implements it (access.Policy); there is no default.
type Policy interface {
	// Allowed reports whether p may perform op on the entity at all, and
	// audits a refusal.
	Allowed(ctx context.Context, p *identity.Principal, e *catalog.Entity, op string) bool
	// Permits is Allowed without the audit entry: a question about p's
	// rights, not a request to act.
	Permits(ctx context.Context, p *identity.Principal, e *catalog.Entity, op string) bool
	// Scope returns the row condition that limits op for p (nil: all rows).
	// It is pushed down into every query, so a record outside it is never
	// read.
	Scope(ctx context.Context, p *identity.Principal, e *catalog.Entity, op string) (*store.Cond, error)
	// Field returns whether a field is hidden from p or read-only for p.
	Field(p *identity.Principal, e *catalog.Entity, field string) (hidden, readOnly bool)
	// CanAssignOwner reports whether p may set or change a record's owner.
	CanAssignOwner(p *identity.Principal, e *catalog.Entity) bool
}

// System is the policy of the system acting on its own behalf, with no
// user's rights to apply: tools that load data (jimubench load) and tests
// of the pipeline. A server never runs with it: cmd/jimu wires the roles'
// policy (access.Policy).
type System struct{}

func (System) Allowed(context.Context, *identity.Principal, *catalog.Entity, string) bool {
	return true
}
func (System) Permits(context.Context, *identity.Principal, *catalog.Entity, string) bool {
	return true
}
func (System) Scope(context.Context, *identity.Principal, *catalog.Entity, string) (*store.Cond, error) {
	return nil, nil
}
func (System) Field(*identity.Principal, *catalog.Entity, string) (bool, bool) { return false, false }
func (System) CanAssignOwner(*identity.Principal, *catalog.Entity) bool        { return true }

// Service serves records of every entity.
type Service struct {
	st       store.Store
	cat      *catalog.Catalog
	policy   Policy
	log      *slog.Logger
	CountCap int64
	// Heavy admits counts, aggregates and unindexed lists (heavy.go).
	Heavy  *Admission
	locks  *recordLocks
	now    func() time.Time
	warned *logOnce // records logged as holding unservable numbers
}

// New returns the records service.
func New(st store.Store, cat *catalog.Catalog, policy Policy, log *slog.Logger) *Service {
	if policy == nil {
		// A nil policy would let everyone do everything; that is never
		// a default (say records.System to mean it).
		panic("records: New needs a Policy")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, cat: cat, policy: policy, log: log, CountCap: 10_000,
		Heavy: NewAdmission(AdmissionLimits{}), locks: &recordLocks{}, warned: &logOnce{}, now: time.Now}
}

// WithPolicy is the same service — store, catalog, admission, record
// locks — deciding by another policy. The activity module runs notes and
// tasks under the rights on the record they hang on this way.
func (s *Service) WithPolicy(p Policy) *Service {
	if p == nil {
		panic("records: WithPolicy needs a Policy")
	}
	c := *s
	c.policy = p
	return &c
}

// Check reports whether p may perform op on one record: nil, or the 403
// or 404 the operation itself would answer.
func (s *Service) Check(ctx context.Context, p *identity.Principal, entity, id, op string) error {
	e, err := s.entity(ctx, p, entity, op)
	if err != nil {
		return err
	}
	_, err = s.scopedGet(ctx, p, e, id, op)
	return err
}

// Permits reports whether p may perform op on e, auditing nothing.
func (s *Service) Permits(ctx context.Context, p *identity.Principal, e *catalog.Entity, op string) bool {
	return s.policy.Permits(ctx, p, e, op)
}

// CanAssignOwner reports whether p may set and change the owner of e's
// records (for an app to offer an owner picker).
func (s *Service) CanAssignOwner(p *identity.Principal, e *catalog.Entity) bool {
	return e.Ownership && s.policy.CanAssignOwner(p, e)
}

// FieldAccess reports whether field is hidden from p or read-only for p.
func (s *Service) FieldAccess(p *identity.Principal, e *catalog.Entity, field string) (hidden, readOnly bool) {
	return s.policy.Field(p, e, field)
}

func (s *Service) entity(ctx context.Context, p *identity.Principal, name, op string) (*catalog.Entity, error) {
	e, err := s.cat.Get(name)
	if err != nil {
		return nil, err
	}
	if !s.policy.Allowed(ctx, p, e, op) {
		return nil, problem.New(http.StatusForbidden, "you may not %s %s records", op, name)
	}
	return e, nil
}

// Get returns one record the principal may read, or 404.
func (s *Service) Get(ctx context.Context, p *identity.Principal, entity, id string) (*store.Record, *catalog.Entity, error) {
	defer s.Heavy.Light()()
	e, err := s.entity(ctx, p, entity, OpRead)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.scopedGet(ctx, p, e, id, OpRead)
	return r, e, err
}

// scopedGet reads a record through the principal's row scope for op: a
// record outside it is reported exactly like a missing one.
func (s *Service) scopedGet(ctx context.Context, p *identity.Principal, e *catalog.Entity, id, op string) (*store.Record, error) {
	if !validID(id) {
		return nil, problem.NotFound("%s %s not found", e.Name, id)
	}
	scope, err := s.policy.Scope(ctx, p, e, op)
	if err != nil {
		return nil, err
	}
	if scope == nil {
		r, err := s.st.Get(ctx, e.Name, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, problem.NotFound("%s %s not found", e.Name, id)
		}
		if err != nil {
			return nil, err
		}
		s.servable(e, r)
		return r, nil
	}
	rs, err := s.st.Find(ctx, e.Name, store.Query{Filter: store.And(idCond(id), scope), Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, problem.NotFound("%s %s not found", e.Name, id)
	}
	s.servable(e, rs[0])
	return rs[0], nil
}

func idCond(id string) *store.Cond {
	return &store.Cond{Op: store.OpEq, Field: "id", Kind: metadata.KindString, Value: id}
}

func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

// Hook is a further check on one write, beyond the entity's own rules: a
// form's conditions (the forms module). It runs inside the pipeline, after
// the body is assigned (and, on a create, the defaults filled) and before
// formulas, the JSON Schema and the validation rules, so it judges the very
// record that is written and its errors are reported with the pipeline's.
// It may fill fields of w.New. An update that raced another write runs it
// again on the fresh record.
type Hook func(ctx context.Context, w *Write) error

// Write is what a Hook judges.
type Write struct {
	Entity    *catalog.Entity
	Principal *identity.Principal
	Old       *store.Record  // nil on a create
	New       *store.Record  // the record as it will be written
	Body      map[string]any // the fields as sent
}

// Create runs the write pipeline for a new record.
func (s *Service) Create(ctx context.Context, p *identity.Principal, entity string, body map[string]any) (*store.Record, error) {
	return s.CreateWith(ctx, p, entity, body, nil)
}

// CreateWith is Create with a further check (nil: none).
func (s *Service) CreateWith(ctx context.Context, p *identity.Principal, entity string, body map[string]any, hook Hook) (*store.Record, error) {
	defer s.Heavy.Light()()
	e, err := s.entity(ctx, p, entity, OpCreate)
	if err != nil {
		return nil, err
	}
	if _, has := body["version"]; has {
		return nil, problem.Invalid(problem.FieldError{Field: "version", Code: "read_only", Message: "version is set by the system"})
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
		CreatedBy: p.UserID, UpdatedBy: p.UserID, Data: map[string]any{}}
	if e.Ownership {
		r.Owner = p.UserID
	}
	// Input errors and validation errors are reported together, so a form
	// shows every problem at once.
	inputErr := s.assign(p, e, r, body, true)
	if err := s.defaults(e, p, r); err != nil {
		return nil, merge(inputErr, err)
	}
	if hook != nil {
		inputErr = merge(inputErr, hook(ctx, &Write{Entity: e, Principal: p, New: r, Body: body}))
	}
	if err := merge(inputErr, s.check(ctx, p, e, r)); err != nil {
		return nil, err
	}
	if u := unitFrom(ctx); u != nil && u.DryRun {
		u.Would = cloneRecord(r) // before an auto-number is drawn
		return nil, ErrDryRun
	}
	if err := s.autoNumbers(ctx, e, r); err != nil {
		return nil, err
	}
	sides := s.sides(ctx, p, now, "record.create", "record.created", e, nil, r, diff(e, nil, r))
	sides.Event.Record = fullView(e).Render(r)
	if err := s.commit(ctx, e.Name, r, func(w store.Writes) error { return w.Insert(ctx, e.Name, r, sides) }); err != nil {
		return nil, s.storeErr(e, r.ID, err)
	}
	return r, nil
}

// Update applies a change to a record. With replace (PUT) the body is the
// whole record: data fields it leaves out are removed. expected is the
// version the client read (If-Match or "version" in the body; 0: none).
func (s *Service) Update(ctx context.Context, p *identity.Principal, entity, id string, body map[string]any, expected int64, replace bool) (*store.Record, error) {
	return s.UpdateWith(ctx, p, entity, id, body, expected, replace, nil)
}

// UpdateWith is Update with a further check (nil: none).
func (s *Service) UpdateWith(ctx context.Context, p *identity.Principal, entity, id string, body map[string]any, expected int64, replace bool, hook Hook) (*store.Record, error) {
	defer s.Heavy.Light()()
	e, err := s.entity(ctx, p, entity, OpUpdate)
	if err != nil {
		return nil, err
	}
	if v, has := body["version"]; has {
		n, ok := toInt(v)
		if !ok || n < 1 {
			return nil, problem.Invalid(problem.FieldError{Field: "version", Code: "type", Message: "version must be a positive integer"})
		}
		if expected != 0 && expected != n {
			return nil, problem.BadRequest("version", "mismatch", "If-Match %d and body version %d disagree", expected, n)
		}
		expected = n
		delete(body, "version")
	}
	unlock := s.locks.lock(e.Name, id)
	defer unlock()
	for attempt := 1; ; attempt++ {
		r, err := s.update(ctx, p, e, id, body, expected, replace, hook)
		if !errors.Is(err, errRaced) {
			return r, err
		}
		if expected != 0 || attempt == maxAttempts {
			return nil, s.conflict(ctx, e, id, expected)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// maxAttempts bounds how often a write without If-Match is re-read,
// re-applied and re-validated after another node's write landed between
// its read and its commit (on one node, recordLocks already queues them).
// With two nodes writing one record, ten attempts were lost in a row about
// once in a thousand writes; each retry now waits a random moment
// (backoff), so the writers stop meeting in lockstep.
const maxAttempts = 50

// backoff waits up to attempt milliseconds (at most 20), at random.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(min(attempt, 20))*int64(time.Millisecond) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errRaced is a write that lost a race with another write of the record
// between its read and its commit.
var errRaced = errors.New("raced")

// conflict is the 409 of a write that could not be applied: the client's
// version is stale, or (rarely) other writers kept winning.
func (s *Service) conflict(ctx context.Context, e *catalog.Entity, id string, expected int64) error {
	v := int64(0)
	if cur, _ := s.st.Get(ctx, e.Name, id); cur != nil {
		v = cur.Version
	}
	return versionConflict(e.Name, id, v, expected)
}

// update is one read → apply → validate → write of Update.
func (s *Service) update(ctx context.Context, p *identity.Principal, e *catalog.Entity, id string, body map[string]any, expected int64, replace bool, hook Hook) (*store.Record, error) {
	old, err := s.scopedGet(ctx, p, e, id, OpUpdate)
	if err != nil {
		return nil, err
	}
	if expected != 0 && expected != old.Version {
		return nil, versionConflict(e.Name, id, old.Version, expected)
	}
	r := cloneRecord(old)
	if replace {
		// PUT keeps what the caller may not write: read-only and hidden
		// fields stay as they are.
		for name := range r.Data {
			f := e.Field(name)
			if f == nil || metadata.IsReadOnly(f) {
				continue
			}
			if hidden, ro := s.policy.Field(p, e, name); hidden || ro {
				continue
			}
			delete(r.Data, name)
		}
	}
	inputErr := s.assign(p, e, r, body, false)
	if hook != nil {
		inputErr = merge(inputErr, hook(ctx, &Write{Entity: e, Principal: p, Old: old, New: r, Body: body}))
	}
	if err := merge(inputErr, s.check(ctx, p, e, r)); err != nil {
		return nil, err
	}
	changes := diff(e, old, r)
	if len(changes) == 0 { // diff includes an owner change
		return old, nil // nothing changed: no new version, no event
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	r.Version = old.Version + 1
	r.UpdatedAt = now
	r.UpdatedBy = p.UserID
	sides := s.sides(ctx, p, now, "record.update", "record.updated", e, old, r, changes)
	// The new record rides along, so a follower evaluates a rule over the
	// record as this write left it, not as a later write did.
	sides.Event.Record = fullView(e).Render(r)
	if err := s.commit(ctx, e.Name, r, func(w store.Writes) error { return w.Update(ctx, e.Name, r, sides) }); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, errRaced
		}
		return nil, s.storeErr(e, r.ID, err)
	}
	return r, nil
}

// Delete moves a record to the recycle bin. Without expected (If-Match) a
// record changed by another write since it was read is deleted all the
// same, as the client asked.
func (s *Service) Delete(ctx context.Context, p *identity.Principal, entity, id string, expected int64) error {
	defer s.Heavy.Light()()
	e, err := s.entity(ctx, p, entity, OpDelete)
	if err != nil {
		return err
	}
	unlock := s.locks.lock(e.Name, id)
	defer unlock()
	for attempt := 1; ; attempt++ {
		err := s.delete(ctx, p, e, id, expected)
		if !errors.Is(err, errRaced) {
			return err
		}
		if expected != 0 || attempt == maxAttempts {
			return problem.Conflict("%s %s changed while it was being deleted; reload and try again", e.Name, id)
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

func (s *Service) delete(ctx context.Context, p *identity.Principal, e *catalog.Entity, id string, expected int64) error {
	old, err := s.scopedGet(ctx, p, e, id, OpDelete)
	if err != nil {
		return err
	}
	if expected != 0 && expected != old.Version {
		return versionConflict(e.Name, id, old.Version, expected)
	}
	now := s.now().UTC()
	sides := s.sides(ctx, p, now, "record.delete", "record.deleted", e, old, old, diff(e, old, nil))
	sides.Event.Record = fullView(e).Render(old)
	if err := s.commit(ctx, e.Name, old, func(w store.Writes) error { return w.Delete(ctx, e.Name, id, old.Version, sides) }); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errRaced
		}
		return s.storeErr(e, id, err)
	}
	return nil
}

func versionConflict(entity, id string, have, want int64) error {
	return &problem.Error{Status: http.StatusConflict, Type: "about:blank", Title: "Version conflict",
		Detail: fmt.Sprintf("%s %s is at version %d, not %d; reload it and apply your change again", entity, id, have, want),
		Errors: []problem.FieldError{{Field: "version", Code: "conflict", Message: fmt.Sprintf("current version is %d", have)}}}
}

// sides are the audit entry and the outbox event of a change to r (the
// new record, or the old one for a delete).
func (s *Service) sides(ctx context.Context, p *identity.Principal, at time.Time, action, evType string, e *catalog.Entity, old, r *store.Record, changes map[string]store.Change) store.Sides {
	// One id for both: a store may keep the audit entry as its event
	// (store.AuditOf).
	id := store.NewID()
	return store.Sides{
		Audit: &store.AuditEntry{ID: id, At: at, Actor: p.UserID, IP: p.IP,
			Action: action, Entity: e.Name, RecordID: r.ID, Changes: auditChanges(changes, old)},
		Event: &store.Event{ID: id, Type: evType, Entity: e.Name, RecordID: r.ID, Version: r.Version,
			Actor: p.UserID, Origin: Origin(ctx, p), At: at, Changes: changes},
	}
}

// Origin is what an event says made a change: the principal, its API
// token, and the workflow run ctx carries.
func Origin(ctx context.Context, p *identity.Principal) store.Origin {
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

// auditChanges is a change set as the audit log keeps it: field →
// {from, to}, a side left out when it is not set, and for a value old held
// that could not be read, its stored text under "unreadable".
func auditChanges(changes map[string]store.Change, old *store.Record) map[string]any {
	out := store.AuditChanges(changes)
	if old != nil {
		for path, stored := range old.Unreadable {
			f, _, _ := strings.Cut(path, "/")
			ch, _ := out[f].(map[string]any)
			if ch == nil {
				ch = map[string]any{}
				out[f] = ch
			}
			u, _ := ch["unreadable"].(map[string]string)
			if u == nil {
				u = map[string]string{}
				ch["unreadable"] = u
			}
			u[path] = stored
		}
	}
	return out
}

// fullView renders every live field: events are internal and carry all
// of a record, hidden fields included.
func fullView(e *catalog.Entity) *View {
	v := &View{e: e}
	for _, f := range e.LiveFields() {
		kind, _ := e.KindOf(f.Name)
		v.fields = append(v.fields, f)
		v.kinds = append(v.kinds, kind)
	}
	return v
}

func (s *Service) storeErr(e *catalog.Entity, id string, err error) error {
	var ue *store.UniqueError
	switch {
	case errors.As(err, &ue):
		label := ue.Field
		if f := e.Field(ue.Field); f != nil && !f.Label.IsZero() {
			label = f.Label.String()
		}
		return &problem.Error{Status: http.StatusConflict, Type: "about:blank", Title: "Duplicate value",
			Detail: fmt.Sprintf("another %s record already has this %s", e.Name, label),
			Errors: []problem.FieldError{{Field: ue.Field, Code: "unique", Message: "must be unique; another record has this value"}}}
	case errors.Is(err, store.ErrNotFound):
		return problem.NotFound("%s %s not found", e.Name, id)
	case errors.Is(err, store.ErrExists):
		return problem.Conflict("%s %s already exists", e.Name, id)
	}
	return err
}

// diff lists changed data fields (and the owner) with their old and new
// values, for the event and, as auditChanges, the audit log. Hidden-field
// redaction happens when the log is read.
func diff(e *catalog.Entity, old, cur *store.Record) map[string]store.Change {
	out := map[string]store.Change{}
	var a, b map[string]any
	if old != nil {
		a = old.Data
	}
	if cur != nil {
		b = cur.Data
	}
	names := map[string]bool{}
	for k := range a {
		names[k] = true
	}
	for k := range b {
		names[k] = true
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		av, bv := a[k], b[k]
		if reflect.DeepEqual(av, bv) || sameNumber(av, bv) {
			continue
		}
		out[k] = store.Change{Old: av, New: bv}
	}
	if old != nil && cur != nil && old.Owner != cur.Owner {
		out["owner"] = store.Change{Old: old.Owner, New: cur.Owner}
	}
	if old != nil {
		// A value that could not be read is gone once the record is
		// written again: that is a change of the field, whose stored text
		// the audit entry keeps (auditChanges).
		for _, f := range old.Unreadable.Fields() {
			if _, ok := out[f]; !ok {
				out[f] = store.Change{New: b[f]}
			}
		}
	}
	return out
}

func sameNumber(a, b any) bool {
	fa, ok1 := toFloat(a)
	fb, ok2 := toFloat(b)
	return ok1 && ok2 && fa == fb
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func cloneRecord(r *store.Record) *store.Record {
	c := *r
	c.Data = make(map[string]any, len(r.Data))
	for k, v := range r.Data {
		c.Data[k] = v
	}
	return &c
}

// merge joins an input error with a validation error into one 422 that
// names each field once (the input error wins: it is the cause).
func merge(input, validation error) error {
	if input == nil {
		return validation
	}
	a, ok1 := input.(*problem.Error)
	b, ok2 := validation.(*problem.Error)
	if !ok1 || !ok2 || a.Status != http.StatusUnprocessableEntity || b.Status != http.StatusUnprocessableEntity {
		return input
	}
	seen := map[string]bool{}
	out := append([]problem.FieldError(nil), a.Errors...)
	for _, fe := range a.Errors {
		seen[fe.Field] = true
	}
	for _, fe := range b.Errors {
		if !seen[fe.Field] {
			out = append(out, fe)
		}
	}
	return problem.Invalid(out...)
}
