package workflows

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/workflows/action"
)

// governorError is a limit of the governor: the step fails with its
// reason, and no retry is made (the same run would meet it again).
type governorError struct {
	reason string
	msg    string
}

func (e *governorError) Error() string { return e.msg }

// execute runs a run this node holds: its rule version, as its identity,
// its steps from the first not yet done, each effect at most once.
func (s *Service) execute(parent context.Context, run *Run) {
	defer s.inflight.Delete(run.ID)
	if err := s.executeRun(parent, run); err != nil {
		if errors.Is(err, errTakenOver) {
			s.log.Info("workflows: a run was taken over while it ran", "run", run.ID)
			return
		}
		if parent.Err() == nil {
			s.log.Warn("workflows: recording a run failed", "run", run.ID, "err", err)
		}
	}
}

func (s *Service) executeRun(parent context.Context, run *Run) error {
	if run.Depth > s.limits.MaxDepth {
		return s.end(parent, run, nil, "depth", fmt.Errorf("stopped: a chain of %d rule runs is the most allowed", s.limits.MaxDepth))
	}
	r, err := s.version(parent, run.Workflow, run.Version)
	var c *compiled
	if err == nil {
		c, err = s.rules.get(r)
	}
	if err != nil {
		return s.end(parent, run, nil, "stale", fmt.Errorf("rule version %d: %w", run.Version, err))
	}
	// The wall-time budget is real time on this node, whatever clock the
	// schedules read.
	ctx, cancel := context.WithTimeout(parent, s.limits.RunTimeout)
	defer cancel()
	p, err := s.users.principal(ctx, c.RunAs)
	if err != nil {
		return s.end(parent, run, nil, "run_as", err)
	}
	ctx = identity.WithRun(ctx, identity.Run{ID: run.ID, Depth: run.Depth})
	user := p.Vars()
	if a := run.Input.User; a != "" && a != p.UserID {
		if ap, err := s.users.principal(ctx, a); err == nil {
			user = ap.Vars()
		}
	}
	at := run.Input.At
	if at.IsZero() {
		at = run.CreatedAt
	}
	env := action.Env(c.entity, run.Input.Record, run.Input.Old, user, at, run.Input.Payload)
	if run.Condition == nil && c.cond != nil {
		ok, err := s.condition(c, env)
		run.Condition = &Condition{Expression: c.Condition, Result: ok}
		if err != nil {
			run.Condition.Error = err.Error()
			return s.end(parent, run, nil, "condition", fmt.Errorf("the condition did not evaluate: %w", err))
		}
		if !ok {
			run.Status, run.Note = StatusSkipped, "the condition is false for this record"
			return s.finish(parent, run)
		}
	}
	if len(run.Steps) != len(c.actions) {
		run.Steps = make([]*Step, len(c.actions))
		for i, a := range c.Actions {
			run.Steps[i] = &Step{Index: i, Type: a.Type, Name: a.Name, Status: StepPending, Input: c.inputs[i]}
		}
	}
	effects := 0
	for _, st := range run.Steps {
		effects += len(st.Effects)
	}
	for i := run.FromStep; i < len(c.actions); i++ {
		st := run.Steps[i]
		if st.Status == StepSucceeded {
			continue
		}
		t0 := s.now()
		st.StartedAt, st.Attempts, st.Error, st.Reason = &t0, st.Attempts+1, "", ""
		led := &ledger{s: s, run: run, step: st, effects: &effects, max: s.limits.MaxActions, last: i == len(c.actions)-1}
		x := &action.Exec{Env: env, Entity: c.entity, RecordID: run.RecordID, Record: run.Input.Record, Old: run.Input.Old,
			As: p, Svc: s.svc, RunID: run.ID, Step: i, Rule: c.ID, Ledger: led, Budget: s.limits.ExprBudget, Now: at, Loc: c.loc}
		var out any
		if ctx.Err() != nil {
			err = ctx.Err()
		} else {
			out, err = safeDo(ctx, c.actions[i], x)
		}
		st.DurationMS = float64(s.now().Sub(t0).Microseconds()) / 1000
		st.Output = out
		for _, t := range led.touched {
			if !slices.Contains(run.Touched, t) {
				run.Touched = append(run.Touched, t)
			}
		}
		if err != nil {
			if errors.Is(err, errTakenOver) {
				return err
			}
			st.Status, st.Error = StepFailed, err.Error()
			st.Reason = classify(ctx, err)
			if st.Reason == "wall_time" {
				st.Error = fmt.Sprintf("the run's wall-time budget of %v ran out (%v)", s.limits.RunTimeout, err)
			}
			return s.end(parent, run, st, st.Reason, err)
		}
		if led.finalized {
			// The effect's unit wrote the run done (st is the run's own
			// step again after the copy): nothing is left to write.
			return nil
		}
		st.Status = StepSucceeded
		if len(st.Effects) > 0 && st.AppliedIn == 0 {
			st.AppliedIn = run.Attempt
		}
	}
	run.Status = StatusSucceeded
	return s.finish(parent, run)
}

// classify names why a step failed.
func classify(ctx context.Context, err error) string {
	var g *governorError
	switch {
	case errors.As(err, &g):
		return g.reason
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "wall_time"
	case action.IsPermanent(err):
		return "permanent"
	}
	return "transient"
}

// safeDo runs an action; a panic in it fails the step, not the node.
func safeDo(ctx context.Context, a action.Action, x *action.Exec) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = action.Permanentf("the action %s panicked: %v\n%s", a.ID(), p, debug.Stack())
		}
	}()
	return a.Do(ctx, x)
}

// end records a failure: a transient one queues the run for another
// attempt after a backoff (or dead-letters it after the last), anything
// else fails it.
func (s *Service) end(ctx context.Context, run *Run, st *Step, reason string, err error) error {
	now := s.now()
	run.Error, run.Reason = err.Error(), reason
	if st != nil {
		run.Error = fmt.Sprintf("step %d (%s): %v", st.Index, st.Type, err)
	}
	if reason == "transient" {
		if run.Attempt < s.limits.MaxAttempts {
			next := now.Add(s.backoff(run.Attempt))
			run.Status, run.DueAt, run.Holder, run.LeaseUntil = StatusQueued, next, "", nil
			run.Note = fmt.Sprintf("attempt %d of %d failed; the next starts at %s", run.Attempt, s.limits.MaxAttempts, ts(next))
			return s.putRun(ctx, s.st, run)
		}
		run.Status, run.Reason = StatusDead, "attempts"
		run.Note = fmt.Sprintf("dead-lettered: each of %d attempts failed; retry it from the run log once the cause is fixed", run.Attempt)
		return s.finish(ctx, run)
	}
	run.Status = StatusFailed
	return s.finish(ctx, run)
}

// finish writes a run's last state.
func (s *Service) finish(ctx context.Context, run *Run) error {
	fin := s.now()
	run.FinishedAt, run.Holder, run.LeaseUntil = &fin, "", nil
	return s.putRun(ctx, s.st, run)
}

// ledger is a step's action.Ledger: it marks each effect in the run log
// in the effect's own unit of work (the mark first, so a store without
// transactions applies an effect at most once), counts effects against the
// run's limit, and in a dry run writes nothing.
type ledger struct {
	s       *Service
	run     *Run
	step    *Step
	dry     bool
	effects *int
	max     int
	touched []string
	// last: the step is the run's last; finalized: its effect's unit
	// recorded the run done, so nothing is left to write.
	last, finalized bool
}

var _ action.Ledger = (*ledger)(nil)

func (l *ledger) Done(key string) bool { return !l.dry && slices.Contains(l.step.Effects, key) }

func (l *ledger) count() error {
	if *l.effects >= l.max {
		return &governorError{reason: "max_actions", msg: fmt.Sprintf("the run reached its limit of %d actions", l.max)}
	}
	*l.effects++
	return nil
}

// begin adds key to the step's effects and returns the run's next row
// (none when row is false: the caller writes another).
func (l *ledger) begin(key string, row bool) (*store.Record, error) {
	if err := l.count(); err != nil {
		return nil, err
	}
	l.step.Effects = append(l.step.Effects, key)
	l.step.AppliedIn = l.run.Attempt
	if !row {
		return nil, nil
	}
	l.run.version++
	rec, err := l.run.record()
	l.run.version--
	if err != nil {
		l.undo(key)
		return nil, err
	}
	return rec, nil
}

func (l *ledger) undo(key string) {
	l.step.Effects = slices.DeleteFunc(l.step.Effects, func(k string) bool { return k == key })
	*l.effects--
}

// mark writes the run's next row in a unit: unless a first try of the
// same unit already did (a store without transactions keeps it when the
// pipeline tries the record's write again).
func (l *ledger) mark(ctx context.Context, tx store.Tx, next *store.Record, first bool) error {
	if first {
		// The unit's first try: the row is where this worker left it, or
		// the compare-and-set fails the unit (taken over).
		next.UpdatedAt = l.s.now().UTC()
		if err := tx.Update(ctx, RunEntity, next, store.Sides{}); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errTakenOver
			}
			return err
		}
		return nil
	}
	cur, err := tx.Get(ctx, RunEntity, l.run.ID)
	if err != nil {
		return err
	}
	switch cur.Version {
	case next.Version - 1:
		next.UpdatedAt = l.s.now().UTC()
		return tx.Update(ctx, RunEntity, next, store.Sides{})
	case next.Version:
		return nil
	}
	return errTakenOver
}

// failed puts the run's row back in step after a unit failed: where a
// store without transactions kept the mark of an effect that was not
// applied, the row is written again without it.
func (l *ledger) failed(ctx context.Context) error {
	cur, err := l.s.st.Get(ctx, RunEntity, l.run.ID)
	if err != nil {
		return err
	}
	if cur.Version == l.run.version {
		return nil
	}
	if cur.Version != l.run.version+1 {
		return errTakenOver
	}
	l.run.version = cur.Version - 1
	return l.s.putRun(ctx, l.s.st, l.run)
}

func (l *ledger) Write(ctx context.Context, key string, fn func(ctx context.Context) (*store.Record, error), out func(r *store.Record) any) (*store.Record, error) {
	if l.dry {
		u := &records.Unit{DryRun: true}
		rec, err := fn(records.WithUnit(ctx, u))
		if errors.Is(err, records.ErrDryRun) {
			return u.Would, nil
		}
		return rec, err
	}
	if l.Done(key) {
		return nil, nil
	}
	// The last step's last effect records the run done in its own unit:
	// one write fewer per run (and the row of the mark alone is not made).
	finalize := l.last && out != nil
	next, err := l.begin(key, !finalize)
	if err != nil {
		return nil, err
	}
	var touched string
	var done *Run
	var doneRow *store.Record
	// prepare makes the finished run's row for the record r: before the
	// unit goes to the store's writer (Prepare), not in it — of what the
	// writer did for a set_fields run, encoding the run was a tenth.
	prepared := false // for this try of the unit
	prepare := func(entity string, r *store.Record) error {
		done = l.finished(out(r), entity+":"+r.ID)
		var err error
		doneRow, err = done.record()
		prepared = err == nil
		return err
	}
	tries := 0
	u := &records.Unit{Before: func(ctx context.Context, tx store.Tx, entity string, r *store.Record) error {
		touched = entity + ":" + r.ID
		tries++
		row := next
		if finalize {
			if !prepared { // a pipeline write that does not call Prepare
				if err := prepare(entity, r); err != nil {
					return err
				}
			}
			row, prepared = doneRow, false
		}
		// A later try of the unit is the pipeline writing the record
		// again after another writer's change: where there are no
		// transactions the first try's mark may already be there.
		return l.mark(ctx, tx, row, tries == 1)
	}}
	if finalize {
		u.Prepare = prepare
	}
	rec, err := fn(records.WithUnit(ctx, u))
	if err != nil {
		l.undo(key)
		var ue *records.UnitError
		if errors.As(err, &ue) && errors.Is(ue.Err, errTakenOver) {
			return nil, errTakenOver
		}
		if ferr := l.failed(context.WithoutCancel(ctx)); ferr != nil {
			return nil, ferr
		}
		return nil, err
	}
	switch {
	case u.Used && done != nil:
		*l.run = *done
		l.finalized = true
	case u.Used:
		l.run.version++
	default:
		// Nothing needed writing (the values were already there): the
		// mark goes on its own.
		if err := l.s.putRun(ctx, l.s.st, l.run); err != nil {
			return nil, err
		}
	}
	if touched != "" {
		l.touched = append(l.touched, touched)
	}
	return rec, nil
}

// finished is the run as it will be once this, its last step, succeeds
// with output: a copy, so the run is unchanged until the unit commits.
func (l *ledger) finished(output any, touched string) *Run {
	c := *l.run
	c.version++
	c.Steps = make([]*Step, len(l.run.Steps))
	for i, st := range l.run.Steps {
		if st != l.step {
			c.Steps[i] = st
			continue
		}
		cs := *st
		cs.Status, cs.Output = StepSucceeded, output
		if cs.StartedAt != nil {
			cs.DurationMS = float64(l.s.now().Sub(*cs.StartedAt).Microseconds()) / 1000
		}
		c.Steps[i] = &cs
	}
	c.Touched = append([]string(nil), l.run.Touched...)
	if !slices.Contains(c.Touched, touched) {
		c.Touched = append(c.Touched, touched)
	}
	fin := l.s.now()
	c.Status, c.FinishedAt, c.Holder, c.LeaseUntil = StatusSucceeded, &fin, "", nil
	return &c
}

func (l *ledger) Commit(ctx context.Context, key string, fn func(tx store.Writes) error) error {
	if l.dry || l.Done(key) {
		return nil
	}
	next, err := l.begin(key, true)
	if err != nil {
		return err
	}
	err = store.GroupedAtomic(ctx, l.s.st, func(tx store.Tx) error {
		if err := l.mark(ctx, tx, next, false); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		l.undo(key)
		if errors.Is(err, errTakenOver) {
			return err
		}
		if ferr := l.failed(context.WithoutCancel(ctx)); ferr != nil {
			return ferr
		}
		return err
	}
	l.run.version++
	return nil
}

func (l *ledger) Mark(ctx context.Context, key string) error {
	if l.dry || l.Done(key) {
		return nil
	}
	if _, err := l.begin(key, false); err != nil {
		return err
	}
	if err := l.s.putRun(context.WithoutCancel(ctx), l.s.st, l.run); err != nil {
		l.undo(key)
		return err
	}
	return nil
}
