package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/workflows/action"
)

// TestRequest is what POST …/test evaluates the rule on: a record (or the
// id of one, whose stored values the given ones override), optional old
// values (the record before an update: only what differs), and an inbound
// webhook's payload.
type TestRequest struct {
	RecordID string          `json:"record_id"`
	Record   map[string]any  `json:"record"`
	Old      map[string]any  `json:"old"`
	Payload  any             `json:"payload"`
	Rule     json.RawMessage `json:"rule"` // POST /meta/workflows/test: a rule not saved yet
}

// TestResult is what the rule would do, with nothing changed.
type TestResult struct {
	Matched   bool           `json:"matched"`
	Condition *Condition     `json:"condition,omitempty"`
	Record    map[string]any `json:"record,omitempty"`
	Actions   []TestAction   `json:"actions"`
	Note      string         `json:"note"`
}

// TestAction is one action's dry run.
type TestAction struct {
	Index  int    `json:"index"`
	Type   string `json:"type"`
	Name   string `json:"name,omitempty"`
	Output any    `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Test evaluates a rule (the saved one, or req.Rule) on a record and dry
// runs its actions: the write pipeline checks each write and stops before
// it, no e-mail is sent, no webhook called, no turn taken.
func (s *Service) Test(ctx context.Context, p *identity.Principal, id string, req TestRequest) (*TestResult, error) {
	var r *Rule
	var err error
	if id != "" {
		if r, err = s.Get(ctx, id); err != nil {
			return nil, err
		}
	} else {
		if len(req.Rule) == 0 {
			return nil, problem.BadRequest("rule", "required", "give the rule to test")
		}
		if r, err = decodeRule(req.Rule); err != nil {
			return nil, prefixed(err, "rule.")
		}
		r.ID, r.Version, r.UpdatedAt = "test", 0, s.now()
		if r.RunAs == "" {
			r.RunAs = p.UserID
		}
	}
	c, errs := s.compile(r)
	if len(errs) > 0 {
		return nil, prefixed(problem.Invalid(errs...), "rule.")
	}
	as, err := s.users.principal(ctx, c.RunAs)
	if err != nil {
		return nil, problem.Invalid(problem.FieldError{Field: "run_as", Code: "unknown_user", Message: err.Error()})
	}
	record := map[string]any{}
	if req.RecordID != "" {
		rec, _, err := s.recs.Get(ctx, as, c.Entity, req.RecordID)
		if err != nil {
			return nil, err
		}
		record = plainRecord(c.entity, rec)
	}
	for k, v := range req.Record {
		record[k] = v
	}
	var old map[string]any
	if req.Old != nil {
		old = make(map[string]any, len(record))
		for k, v := range record {
			old[k] = v
		}
		for k, v := range req.Old {
			old[k] = v
		}
	}
	now := s.now()
	env := action.Env(c.entity, record, old, p.Vars(), now, req.Payload)
	res := &TestResult{Record: record, Actions: []TestAction{}, Matched: true,
		Note: "a test: nothing was written, no e-mail sent, no webhook called"}
	if c.cond != nil {
		ok, err := s.condition(c, env)
		res.Condition = &Condition{Expression: c.Condition, Result: ok}
		if err != nil {
			res.Condition.Error = err.Error()
		}
		res.Matched = ok && err == nil
	}
	runID := "test-" + store.NewID()
	ctx = identity.WithRun(ctx, identity.Run{ID: runID, Depth: 1})
	recordID, _ := record["id"].(string)
	effects := 0
	for i, a := range c.actions {
		led := &ledger{s: s, run: &Run{ID: runID}, step: &Step{}, dry: true, effects: &effects, max: s.limits.MaxActions}
		x := &action.Exec{Env: env, Entity: c.entity, RecordID: recordID, Record: record, Old: old, As: as, DryRun: true,
			Svc: s.svc, RunID: runID, Step: i, Rule: c.ID, Ledger: led, Budget: s.limits.ExprBudget, Now: now, Loc: c.loc}
		out, err := safeDo(ctx, a, x)
		ta := TestAction{Index: i, Type: c.Actions[i].Type, Name: c.Actions[i].Name, Output: out}
		if err != nil {
			ta.Error = err.Error()
		}
		res.Actions = append(res.Actions, ta)
	}
	if !res.Matched {
		res.Note = "the condition does not match, so a real run would stop before its actions; " + res.Note
	}
	return res, nil
}

// prefixed puts a prefix on the fields of a 422's errors.
func prefixed(err error, prefix string) error {
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusUnprocessableEntity {
		return err
	}
	out := make([]problem.FieldError, len(pe.Errors))
	for i, fe := range pe.Errors {
		fe.Field = strings.TrimSuffix(prefix+fe.Field, ".")
		out[i] = fe
	}
	return problem.Invalid(out...)
}

// Fire is one time a schedule or date rule will fire in a preview.
type Fire struct {
	At       time.Time      `json:"at"`
	RecordID string         `json:"record_id,omitempty"`
	Record   map[string]any `json:"record,omitempty"`
}

// Preview is what a schedule or date rule will do in the next days.
type Preview struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
	// Times (schedule) are when it fires, and Matching the records its
	// condition selects now (each time selects afresh).
	Times    []time.Time      `json:"times,omitempty"`
	Matching []map[string]any `json:"matching,omitempty"`
	Count    *int             `json:"count,omitempty"`
	// Fires (date_relative) are the records it fires on and when.
	Fires     []Fire `json:"fires,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// MaxPreviewDays bounds a preview.
const MaxPreviewDays = 366

// Preview lists when a schedule or date rule fires in the next days, and
// on which records.
func (s *Service) Preview(ctx context.Context, id string, days int) (*Preview, error) {
	if days < 1 || days > MaxPreviewDays {
		return nil, problem.BadRequest("days", "range", "days must be between 1 and %d", MaxPreviewDays)
	}
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := s.rules.get(r)
	if err != nil {
		return nil, problem.New(http.StatusConflict, "workflow %s: %v", id, err)
	}
	now := s.now()
	until := now.AddDate(0, 0, days)
	p := &Preview{From: now, Until: until}
	switch c.Trigger.Type {
	case OnSchedule:
		times, n := c.sched.Between(now, until, 200)
		if n > len(times) {
			// Between keeps the latest; a preview wants the first.
			times, p.Truncated = nil, true
			for t := c.sched.Next(now); !t.IsZero() && !t.After(until) && len(times) < 200; t = c.sched.Next(t) {
				times = append(times, t)
			}
		}
		p.Times = times
		recs, err := s.selectRecords(ctx, c, "", nil)
		if err != nil {
			return nil, err
		}
		n = len(recs)
		p.Count = &n
		for i, rec := range recs {
			if i == 50 {
				p.Truncated = true
				break
			}
			p.Matching = append(p.Matching, plainRecord(c.entity, rec))
		}
	case OnDate:
		found, err := s.dueIn(ctx, c, now, until)
		if err != nil {
			return nil, err
		}
		for i, d := range found {
			if i == 200 {
				p.Truncated = true
				break
			}
			p.Fires = append(p.Fires, Fire{At: d.at, RecordID: d.rec.ID, Record: plainRecord(c.entity, d.rec)})
		}
	default:
		return nil, problem.New(http.StatusConflict, "a preview shows when a schedule or date rule fires; this rule's trigger is %s", c.Trigger.Type)
	}
	return p, nil
}

// MatchResult is how many records a condition selects now.
type MatchResult struct {
	Count  *int64 `json:"count"`
	Capped bool   `json:"capped,omitempty"`
	// Reason says why a condition cannot be counted (it reads old values,
	// which only a change has).
	Reason string `json:"reason,omitempty"`
}

// Matches counts the records of entity a condition selects now, as p may
// read them ("matches N records now", while the rule is being edited).
func (s *Service) Matches(ctx context.Context, p *identity.Principal, entity, condition string) (*MatchResult, error) {
	e, err := s.cat.Get(entity)
	if err != nil {
		return nil, problem.Invalid(problem.FieldError{Field: "entity", Code: "unknown_entity", Message: fmt.Sprintf("there is no entity %q", entity)})
	}
	if _, fe := action.Compile(e, condition, false); fe != nil {
		fe.Field = "condition"
		return nil, problem.Invalid(*fe)
	}
	res, _, err := s.recs.List(ctx, p, entity, records.ListParams{Filter: condition, Limit: 1, Count: true})
	if err != nil {
		var pe *problem.Error
		if errors.As(err, &pe) && pe.Status < 500 {
			reason := pe.Detail
			if strings.Contains(condition, "old.") {
				reason = "the condition reads old values, which only a change has: " + reason
			}
			return &MatchResult{Reason: reason}, nil
		}
		return nil, err
	}
	return &MatchResult{Count: res.Count, Capped: res.CountCapped}, nil
}
