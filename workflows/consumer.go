package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
	"github.com/jimu-crm/jimu/workflows/action"
)

// batchSize is how many events one step reads.
const batchSize = 100

// The follower's checkpoint is saved at most every checkpointEvents events
// or checkpointEvery (on the service's clock), when a drain ends and when
// the runner stops — not after every batch: each save is a write through
// SQLite's one writer, and a runner that keeps up with the creates reads
// a few events per step. What a checkpoint saved late costs is events read
// again after a crash or a takeover, and those make nothing twice: a run's
// key ("ev:<event>:<rule>") is unique, so the runs they made are there and
// are left out (insertRuns), and load starts them with the rules as they
// were at the checkpoint, so they make no run they did not make the first
// time either. Variables so that a test can make them small.
var (
	checkpointEvents = 1000
	checkpointEvery  = time.Second
)

// load starts the follower from its checkpoint, with the enabled rules as
// they were there.
func (s *Service) load(ctx context.Context) error {
	rn := s.rn
	c, err := s.st.Checkpoint(ctx, consumerName)
	if err != nil {
		return err
	}
	rules, err := s.List(ctx)
	if err != nil {
		return err
	}
	rn.rules = map[string]*Rule{}
	for _, r := range rules {
		if r.Enabled {
			rn.rules[r.ID] = r
		}
	}
	if err := s.rewind(ctx, c); err != nil {
		return err
	}
	rn.mu.Lock()
	rn.cursor = c
	rn.mu.Unlock()
	rn.saved, rn.unsaved, rn.savedAt, rn.loaded = c, 0, s.now(), true
	return nil
}

// rewind puts the rules back as they were at cursor c. The events after c
// are read again, and each rule change among them is handled in its turn
// (handle): an event written before a rule was enabled must not trigger
// it, whether it was read before (a checkpoint saved late) or not (a
// backlog while no node ran). So for each rule the first change after c
// says what it was at c: the version before that change (none before the
// first), or the version a deletion removed.
func (s *Service) rewind(ctx context.Context, c store.Cursor) error {
	rn := s.rn
	seen := map[string]bool{}
	for {
		// Only the rule changes carry their bodies: a backlog of a million
		// record events decoded took half the CPU of the creates beside it.
		evs, err := s.st.EventsFor(ctx, c, 10*batchSize, func(typ, _ string) bool { return changesRules(typ) })
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if !changesRules(ev.Type) {
				continue
			}
			id, _ := ev.Payload["workflow"].(string)
			v, _ := ev.Payload["version"].(int64)
			if seen[id] {
				continue
			}
			seen[id] = true
			delete(rn.rules, id)
			if ev.Type == evRuleChanged {
				v--
			}
			if v < 1 {
				continue // made after c
			}
			r, err := s.version(ctx, id, v)
			if err != nil {
				s.log.Warn("workflows: a rule version the outbox names cannot be read", "workflow", id, "version", v, "err", err)
				continue
			}
			if r.Enabled {
				rn.rules[id] = r
			}
		}
		if len(evs) < 10*batchSize {
			return nil
		}
		c = evs[len(evs)-1].Cursor
	}
}

// consume reads the next batch of events, makes a run for each rule an
// event triggers whose condition holds, writes the runs, then (when one is
// due) the checkpoint, then hands the runs to the workers. A crash before
// the checkpoint reads the events again; their runs' keys are taken, so
// none is made twice.
func (s *Service) consume(ctx context.Context) (int, error) {
	rn := s.rn
	if !rn.loaded {
		if err := s.load(ctx); err != nil {
			return 0, err
		}
	}
	now := s.now()
	var runs []*Run
	var evs []*store.Event
	for cursor := rn.cursor; len(evs) < batchSize; {
		batch, err := s.st.EventsFor(ctx, cursor, batchSize-len(evs), s.wanted)
		if err != nil {
			return 0, err
		}
		reread := false
		for _, ev := range batch {
			rs, err := s.handle(ctx, ev, now)
			if err != nil {
				return 0, fmt.Errorf("event %s: %w", ev.ID, err)
			}
			runs = append(runs, rs...)
			evs, cursor = append(evs, ev), ev.Cursor
			if changesRules(ev.Type) {
				// The events after it were read for the rules before it
				// (those a new rule triggers on may have come bare): read
				// them again.
				reread = true
				break
			}
		}
		if !reread {
			break
		}
	}
	if len(evs) == 0 {
		return 0, nil
	}
	written, err := s.insertRuns(ctx, runs)
	if err != nil {
		return 0, err
	}
	rn.mu.Lock()
	rn.cursor = evs[len(evs)-1].Cursor
	rn.mu.Unlock()
	rn.unsaved += len(evs)
	if err := s.checkpoint(ctx, false); err != nil {
		return 0, err
	}
	s.dispatch(written)
	return len(evs), nil
}

// wanted is whether the runner needs an event's body: every event that
// is not a record change, and a record change some rule triggers on.
func (s *Service) wanted(typ, entity string) bool {
	if typ != OnCreate && typ != OnUpdate && typ != OnDelete {
		return true
	}
	for _, r := range s.rn.rules {
		if triggers(r, typ, entity) {
			return true
		}
	}
	return false
}

// triggers is whether rule r triggers on events of typ about entity.
func triggers(r *Rule, typ, entity string) bool {
	return r.Entity == entity && r.Trigger.Type == typ
}

// changesRules is whether an event of type typ changes the runner's rules.
func changesRules(typ string) bool {
	return typ == evRuleChanged || typ == evRuleDeleted
}

// checkpoint saves how far the follower has read: when one is due, or
// now (force: a drain ends, the runner stops).
func (s *Service) checkpoint(ctx context.Context, force bool) error {
	rn := s.rn
	if !rn.loaded || rn.cursor == rn.saved {
		return nil
	}
	now := s.now()
	if !force && rn.unsaved < checkpointEvents && now.Sub(rn.savedAt) < checkpointEvery {
		return nil
	}
	if err := s.st.SaveCheckpoint(ctx, consumerName, rn.cursor); err != nil {
		return err
	}
	rn.saved, rn.unsaved, rn.savedAt = rn.cursor, 0, now
	return nil
}

// handle is what one event does: a rule change reloads the rule (the
// events after it see the new version), a metadata change reloads the
// catalog, a record change triggers the rules on its entity.
func (s *Service) handle(ctx context.Context, ev *store.Event, now time.Time) ([]*Run, error) {
	switch {
	case changesRules(ev.Type):
		return nil, s.reloadRule(ctx, ev)
	case strings.HasPrefix(ev.Type, "meta.entity."):
		return nil, s.freshEntity(ctx, ev.Entity)
	case ev.Type != OnCreate && ev.Type != OnUpdate && ev.Type != OnDelete:
		return nil, nil
	}
	var out []*Run
	seen := &eventView{}
	for _, r := range s.rn.rules {
		if !triggers(r, ev.Type, ev.Entity) {
			continue
		}
		if ev.Bare {
			return nil, errors.New("read without its body, which a rule needs")
		}
		run, err := s.match(ctx, r, ev, now, seen)
		if err != nil {
			return nil, err
		}
		if run != nil {
			out = append(out, run)
		}
	}
	return out, nil
}

func (s *Service) reloadRule(ctx context.Context, ev *store.Event) error {
	id, _ := ev.Payload["workflow"].(string)
	v, _ := ev.Payload["version"].(int64)
	if ev.Type == evRuleDeleted {
		delete(s.rn.rules, id)
		return nil
	}
	r, err := s.version(ctx, id, v)
	if err != nil {
		s.log.Warn("workflows: a rule version the outbox names cannot be read", "workflow", id, "version", v, "err", err)
		delete(s.rn.rules, id)
		return nil
	}
	if r.Enabled {
		s.rn.rules[id] = r
	} else {
		delete(s.rn.rules, id)
	}
	return nil
}

// freshEntity reloads the catalog when another node changed an entity
// this node's catalog does not have at its stored version.
func (s *Service) freshEntity(ctx context.Context, name string) error {
	d, err := s.st.GetDoc(ctx, "entity", name)
	cur, cerr := s.cat.Get(name)
	switch {
	case errors.Is(err, store.ErrNotFound) && cerr != nil:
		return nil
	case err == nil && cerr == nil && cur.Version == d.Version:
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	return s.cat.Load(ctx)
}

// match decides whether event ev triggers rule r: the trigger's fields
// changed, the chain is not too deep, and the condition holds over the
// record as the change left it and its old values. A condition that fails
// to evaluate makes a failed run, so the failure is seen.
//
// seen keeps what every rule of the event's entity reads alike, so ten
// rules on an entity build its record and expression environment once
// per event; and no run is made for a condition that does not hold.
func (s *Service) match(ctx context.Context, r *Rule, ev *store.Event, now time.Time, seen *eventView) (*Run, error) {
	c, err := s.rules.get(r)
	var stale *errStale
	if errors.As(err, &stale) {
		run := s.eventRun(r, ev, nil, nil, now)
		fail(run, now, "stale", stale)
		return run, nil
	}
	if err != nil {
		return nil, err
	}
	if ev.Type == OnUpdate && len(c.fields) > 0 {
		hit := false
		for f := range ev.Changes {
			if c.fields[f] {
				hit = true
				break
			}
		}
		if !hit {
			return nil, nil
		}
	}
	if seen.entity != c.entity {
		record, old, err := s.eventRecord(ctx, c.entity, ev)
		if err != nil {
			return nil, err
		}
		*seen = eventView{entity: c.entity, record: record, old: old}
	}
	if ev.Origin.Depth >= s.limits.MaxDepth {
		run := s.eventRun(r, ev, seen.record, seen.old, now)
		fail(run, now, "depth", fmt.Errorf("stopped: this change was made by a chain of %d rule runs, the most allowed (a rule whose actions trigger rules again, perhaps itself)", ev.Origin.Depth))
		return run, nil
	}
	var cond *Condition
	if c.cond != nil {
		env := seen.env
		if user := s.userVars(ctx, c, ev.Actor); user != nil || env == nil {
			env = action.Env(c.entity, seen.record, seen.old, user, ev.At, nil)
			if user == nil {
				seen.env = env // the same for every rule that does not read user
			}
		}
		ok, err := s.condition(c, env)
		cond = &Condition{Expression: c.Condition, Result: ok}
		if err != nil {
			run := s.eventRun(r, ev, seen.record, seen.old, now)
			cond.Error, run.Condition = err.Error(), cond
			fail(run, now, "condition", fmt.Errorf("the condition did not evaluate: %w", err))
			return run, nil
		}
		if !ok {
			return nil, nil
		}
	}
	run := s.eventRun(r, ev, seen.record, seen.old, now)
	run.Condition = cond
	s.held(run, now)
	return run, nil
}

// eventView is one event as the rules of an entity see it.
type eventView struct {
	entity      *catalog.Entity
	record, old map[string]any
	env         map[string]any // without user
}

// userVars is what user means in a condition: the person (or the rule's
// identity, for a change nobody made) — loaded only when the condition
// names user.
func (s *Service) userVars(ctx context.Context, c *compiled, actor string) map[string]any {
	if !strings.Contains(c.Condition, "user") {
		return nil
	}
	if actor == "" {
		actor = c.RunAs
	}
	p, err := s.users.principal(ctx, actor)
	if err != nil {
		return map[string]any{"id": actor}
	}
	return p.Vars()
}

// condition evaluates a rule's condition within its budgets: the memory
// budget stops an evaluation that loops or allocates too much, whatever
// the machine is doing; and one that took longer than the time budget
// fails too, but only when a second evaluation overruns it as well: a
// busy machine or a garbage collection can hold up one sub-microsecond
// evaluation past 50 ms (seen under CI load), and that is no reason to
// fail a run, while an evaluation that is slow in itself is slow twice.
func (s *Service) condition(c *compiled, env map[string]any) (bool, error) {
	var out any
	for try := 0; ; try++ {
		start := time.Now()
		var err error
		out, err = c.cond.RunBudget(env, s.limits.ExprBudget)
		if err != nil {
			return false, err
		}
		d := time.Since(start)
		if d <= s.limits.ExprTime {
			break
		}
		if try == 1 {
			return false, fmt.Errorf("the condition took %v, more than its budget of %v", d.Round(time.Microsecond), s.limits.ExprTime)
		}
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("the condition gives %v (%T), not true or false", out, out)
	}
	return b, nil
}

// eventRecord is the record an event is about, as the change left it (the
// deleted record for a delete), and its old values for an update. An
// update written before events carried the record (a type conversion)
// reads the record as it is now.
func (s *Service) eventRecord(ctx context.Context, e *catalog.Entity, ev *store.Event) (map[string]any, map[string]any, error) {
	record := ev.Record
	if record == nil && ev.Type == OnUpdate {
		r, err := s.st.Get(ctx, e.Name, ev.RecordID)
		if errors.Is(err, store.ErrNotFound) {
			record = map[string]any{"id": ev.RecordID}
		} else if err != nil {
			return nil, nil, err
		} else {
			record = plainRecord(e, r)
		}
	}
	if ev.Type != OnUpdate {
		return record, nil, nil
	}
	old := make(map[string]any, len(record))
	for k, v := range record {
		old[k] = v
	}
	for k, ch := range ev.Changes {
		if ch.Old == nil {
			delete(old, k)
		} else {
			old[k] = ch.Old
		}
	}
	return record, old, nil
}

// plainRecord is a stored record as an event carries it.
func plainRecord(e *catalog.Entity, r *store.Record) map[string]any {
	m := make(map[string]any, len(r.Data)+8)
	for k, v := range r.Data {
		m[k] = v
	}
	m["id"], m["version"] = r.ID, r.Version
	m["created_at"], m["updated_at"] = metadata.FormatDateTime(r.CreatedAt), metadata.FormatDateTime(r.UpdatedAt)
	m["created_by"], m["updated_by"] = r.CreatedBy, r.UpdatedBy
	if e.Ownership {
		m["owner"] = r.Owner
	}
	return m
}

// eventRun is the run an event makes for a rule.
func (s *Service) eventRun(r *Rule, ev *store.Event, record, old map[string]any, now time.Time) *Run {
	return &Run{ID: store.NewID(), Key: "ev:" + ev.ID + ":" + r.ID, Workflow: r.ID, Version: r.Version, Name: r.Name,
		Trigger: ev.Type, Entity: ev.Entity, RecordID: ev.RecordID, EventID: ev.ID, Status: StatusQueued,
		DueAt: now, Depth: ev.Origin.Depth + 1, CreatedAt: now.UTC().Truncate(time.Millisecond),
		Touched: []string{ev.Entity + ":" + ev.RecordID},
		Body:    Body{Input: Input{Record: record, Old: old, User: ev.Actor, At: ev.At}, Steps: []*Step{}}}
}

// fail ends a run that never ran its actions.
func fail(run *Run, now time.Time, reason string, err error) {
	fin := now
	run.Status, run.Reason, run.Error, run.FinishedAt = StatusFailed, reason, err.Error(), &fin
}
