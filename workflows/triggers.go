package workflows

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// enqueue writes runs made outside the runner (a manual trigger, an
// inbound webhook): on the node holding the runner lease they start at
// once, elsewhere they are queued for it.
func (s *Service) enqueue(ctx context.Context, runs []*Run) ([]*Run, error) {
	now := s.now()
	local := s.Holding()
	for _, r := range runs {
		r.DueAt = now
		if local {
			s.held(r, now)
		}
	}
	written, err := s.insertRuns(ctx, runs)
	if err != nil {
		return nil, err
	}
	if local {
		s.dispatch(written)
	}
	return written, nil
}

// ManualRequest is what a person asks of a manual rule: one record, or
// every record of a filter.
type ManualRequest struct {
	RecordID string `json:"record_id"`
	Filter   string `json:"filter"`
}

// MaxManual caps the records one manual request runs for.
const MaxManual = 1000

// Manual runs a manual rule for records the caller may change: one, or
// those a filter selects (at most MaxManual). The runs are written before
// the answer; their actions run as the rule's identity.
func (s *Service) Manual(ctx context.Context, p *identity.Principal, id string, req ManualRequest) ([]*Run, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Trigger.Type != OnManual {
		return nil, problem.New(http.StatusConflict, "workflow %s is not run by hand (its trigger is %s)", r.Name, r.Trigger.Type)
	}
	if !r.Enabled {
		return nil, problem.New(http.StatusConflict, "workflow %s is switched off", r.Name)
	}
	c, err := s.rules.get(r)
	if err != nil {
		return nil, problem.New(http.StatusConflict, "workflow %s cannot run: %v", r.Name, err)
	}
	if (req.RecordID == "") == (req.Filter == "") {
		return nil, problem.BadRequest("record_id", "required", "give record_id (one record) or filter (every record it selects)")
	}
	var recs []*store.Record
	if req.RecordID != "" {
		if err := s.recs.Check(ctx, p, r.Entity, req.RecordID, records.OpUpdate); err != nil {
			return nil, err
		}
		rec, err := s.st.Get(ctx, r.Entity, req.RecordID)
		if err != nil {
			return nil, err
		}
		recs = []*store.Record{rec}
	} else {
		cursor := ""
		for {
			res, _, err := s.recs.List(ctx, p, r.Entity, records.ListParams{Filter: req.Filter, Sort: "id", Limit: records.MaxLimit, Cursor: cursor})
			if err != nil {
				return nil, err
			}
			recs = append(recs, res.Items...)
			if len(recs) > MaxManual {
				return nil, problem.BadRequest("filter", "too_many", "the filter selects more than %d records; narrow it", MaxManual)
			}
			if res.NextCursor == "" {
				break
			}
			cursor = res.NextCursor
		}
		// Only the records the caller may change.
		kept := recs[:0]
		for _, rec := range recs {
			if s.recs.Check(ctx, p, r.Entity, rec.ID, records.OpUpdate) == nil {
				kept = append(kept, rec)
			}
		}
		recs = kept
	}
	now := s.now()
	req0 := store.NewID()
	runs := make([]*Run, 0, len(recs))
	for _, rec := range recs {
		run := s.timeRun(c, "man:"+req0+":"+rec.ID, plainRecord(c.entity, rec), now, now)
		run.Trigger, run.Condition, run.Input.User = OnManual, nil, p.UserID
		run.Depth = identity.RunFrom(ctx).Depth + 1
		runs = append(runs, run)
	}
	return s.enqueue(ctx, runs)
}

// MaxPayload caps an inbound webhook's body.
const MaxPayload = 256 << 10

// Inbound runs the webhook rule whose secret the URL carries, with the
// request's JSON body as payload. The run is written before the answer.
func (s *Service) Inbound(ctx context.Context, secret string, payload any) (*Run, error) {
	r, err := s.hookRule(ctx, secret)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("no webhook here")
	}
	if err != nil {
		return nil, err
	}
	if !r.Enabled {
		return nil, problem.New(http.StatusConflict, "this webhook's workflow is switched off")
	}
	c, err := s.rules.get(r)
	if err != nil {
		return nil, problem.New(http.StatusConflict, "this webhook's workflow cannot run: %v", err)
	}
	now := s.now()
	run := s.timeRun(c, "hook:"+store.NewID(), nil, now, now)
	run.Trigger, run.Input.Payload = OnWebhook, payload
	runs, err := s.enqueue(ctx, []*Run{run})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("workflows: the webhook's run was not written")
	}
	return runs[0], nil
}

// ManualRule is a rule a person can run from a record page or a list.
type ManualRule struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Entity      string `json:"entity"`
}

// ManualRules lists the enabled manual rules of an entity (every one with
// entity empty), for the buttons the app shows.
func (s *Service) ManualRules(ctx context.Context, p *identity.Principal, entity string) ([]ManualRule, error) {
	rules, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := []ManualRule{}
	for _, r := range rules {
		if !r.Enabled || r.Trigger.Type != OnManual || entity != "" && r.Entity != entity {
			continue
		}
		if e, err := s.cat.Get(r.Entity); err != nil || !s.recs.Permits(ctx, p, e, records.OpUpdate) {
			continue
		}
		out = append(out, ManualRule{ID: r.ID, Name: r.Name, Description: r.Description, Entity: r.Entity})
	}
	return out, nil
}

// RetryAnswer says what a retry will do.
type RetryAnswer struct {
	Run      string `json:"run"`
	FromStep int    `json:"from_step"`
	// NotRepeated are the earlier steps that succeeded: their effects
	// stay and are not applied again.
	NotRepeated []StepRef `json:"not_repeated"`
	// Partial names effects the failed step had applied before it failed
	// (a step updating several records): they are not applied again.
	Partial []string `json:"partial,omitempty"`
	Message string   `json:"message"`
}

// StepRef names a step.
type StepRef struct {
	Index   int      `json:"index"`
	Type    string   `json:"type"`
	Name    string   `json:"name,omitempty"`
	Effects []string `json:"effects,omitempty"`
}

// Retry queues a failed or dead run again from its first step that did
// not succeed; the steps before it are not run again.
func (s *Service) Retry(ctx context.Context, p *identity.Principal, id string) (*RetryAnswer, error) {
	run, err := s.getRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("no run %s", id)
	}
	if err != nil {
		return nil, err
	}
	if run.Status != StatusFailed && run.Status != StatusDead {
		return nil, problem.New(http.StatusConflict, "run %s is %s; only a failed or dead run can be retried", id, run.Status)
	}
	ans := &RetryAnswer{Run: id, NotRepeated: []StepRef{}}
	from := len(run.Steps)
	for i, st := range run.Steps {
		if st.Status == StepSucceeded {
			continue
		}
		from = i
		break
	}
	if len(run.Steps) == 0 {
		from = 0
	}
	for i, st := range run.Steps {
		if i < from && st.Status == StepSucceeded {
			ans.NotRepeated = append(ans.NotRepeated, StepRef{Index: i, Type: st.Type, Name: st.Name, Effects: st.Effects})
		}
		if i == from {
			ans.Partial = st.Effects
			st.Status = StepPending
		}
	}
	ans.FromStep = from
	ans.Message = fmt.Sprintf("the run starts again at step %d", from)
	if len(ans.NotRepeated) > 0 {
		ans.Message += fmt.Sprintf("; the %d step(s) before it succeeded and their effects are not applied again", len(ans.NotRepeated))
	}
	if len(ans.Partial) > 0 {
		ans.Message += fmt.Sprintf("; %d effect(s) step %d applied before it failed are not applied again", len(ans.Partial), from)
	}
	now := s.now()
	run.Status, run.DueAt, run.Attempt, run.FromStep = StatusQueued, now, 0, from
	run.Error, run.Reason, run.FinishedAt = "", "", nil
	if run.Condition != nil && run.Condition.Error != "" {
		run.Condition = nil // evaluated again
	}
	run.Note = fmt.Sprintf("retried by %s at %s from step %d", p.Name, ts(now), from)
	if err := s.putRun(ctx, s.st, run); err != nil {
		if errors.Is(err, errTakenOver) {
			return nil, problem.Conflict("run %s changed at the same moment; reload it", id)
		}
		return nil, err
	}
	if s.Holding() {
		s.held(run, now)
		if err := s.putRun(ctx, s.st, run); err == nil {
			s.dispatch([]*Run{run})
		}
	}
	return ans, nil
}
