package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// RunEntity is the run log's table, beside the entities and outside the
// catalog.
const RunEntity = metadata.SystemEntityPrefix + "wf_run"

// Run statuses. A run is queued until a worker takes it, running while a
// worker holds its lease, then succeeded, failed (a step failed in a way
// no retry cures, or a governor limit), skipped (its condition was false,
// or a time it missed was skipped) or dead (it failed every attempt). A
// queued run with a later due time is waiting to be retried.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
	StatusDead      = "dead"
)

var statuses = []string{StatusQueued, StatusRunning, StatusSucceeded, StatusFailed, StatusSkipped, StatusDead}

func runDefinition() *metadata.Entity {
	f := func(name, typ string, indexed bool) *metadata.Field {
		return &metadata.Field{Name: name, Type: typ, Indexed: indexed}
	}
	return &metadata.Entity{Name: RunEntity, Fields: []*metadata.Field{
		{Name: "key", Type: "text", Unique: true},
		// workflow and status are indexed through the compound indexes
		// that start with them.
		f("workflow", "text", false), f("workflow_version", "integer", false), f("workflow_name", "text", false),
		f("trigger", "text", false), f("entity", "text", false), f("record_id", "text", true), f("event_id", "text", false),
		f("status", "text", false), f("due_at", "datetime", false), f("holder", "text", false), f("lease_until", "datetime", false),
		f("attempt", "integer", false), f("depth", "integer", false), f("note", "text", false),
		f("started_at", "datetime", false), f("finished_at", "datetime", false),
		f("touched", "tags", false), f("body", "long_text", false),
	}, Indexes: []*metadata.Index{{Fields: []string{"status", "due_at"}}, {Fields: []string{"workflow", "status"}}}}
}

// Run is one execution of a rule, as the run log keeps it.
type Run struct {
	ID       string `json:"id"`
	Key      string `json:"-"` // what made it, once: "ev:<event>:<rule>", "sch:<rule>:<time>:<record>", …
	Workflow string `json:"workflow"`
	// Version is the rule version it runs (and a retry runs again).
	Version  int64  `json:"workflow_version"`
	Name     string `json:"workflow_name"`
	Trigger  string `json:"trigger"`
	Entity   string `json:"entity,omitempty"`
	RecordID string `json:"record_id,omitempty"`
	EventID  string `json:"event_id,omitempty"`
	Status   string `json:"status"`
	// DueAt is when a queued run may start (a retry waits for it).
	DueAt      time.Time  `json:"due_at"`
	Holder     string     `json:"holder,omitempty"`
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
	Attempt    int        `json:"attempt"`
	Depth      int        `json:"depth"`
	// Note says what a reader should know: a time caught up or skipped
	// after downtime, a lease that expired, a retry asked for.
	Note       string     `json:"note,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Touched lists the records the run changed ("deal:<id>"), the one
	// it ran for first.
	Touched []string `json:"touched,omitempty"`
	Body
	version int64 // the stored record's, for compare-and-set
	// input is Input encoded, by the first record: a run's input is set
	// when it is made and never changes, while its row is written three
	// times or more (made, each effect's mark, finished), and the record
	// it carries is most of what encoding the row costs.
	input json.RawMessage
}

// storedBody is Body as the row keeps it, with the input encoded once:
// its Input, the shallower field, stands for the embedded Body's, so the
// encoding is Body's own.
type storedBody struct {
	Input json.RawMessage `json:"input"`
	*Body
}

// Body is what the run log keeps of a run besides its indexed columns.
type Body struct {
	Input     Input      `json:"input"`
	Condition *Condition `json:"condition,omitempty"`
	Steps     []*Step    `json:"steps"`
	Error     string     `json:"error,omitempty"`
	// Reason classifies a failure: the step's error (error), a limit of
	// the governor (depth, max_actions, wall_time), a rule that no longer
	// compiles (stale), a failure after every attempt (attempts).
	Reason string `json:"reason,omitempty"`
	// FromStep is where a retry asked for starts: earlier steps that
	// succeeded are not applied again.
	FromStep int `json:"from_step,omitempty"`
	// Missed is set on a run for a time that came due while no node was
	// running: caught_up or skipped.
	Missed string `json:"missed,omitempty"`
}

// Input is what triggered the run, kept so that every attempt sees the
// same values: the record as the change left it, its old values, the
// webhook's body, and who made the change.
type Input struct {
	Record  map[string]any `json:"record,omitempty"`
	Old     map[string]any `json:"old,omitempty"`
	Payload any            `json:"payload,omitempty"`
	User    string         `json:"user,omitempty"` // who triggered it (the actor)
	// At is the time the trigger fired (the scheduled time, the due time).
	At time.Time `json:"at"`
}

// Condition is the condition's outcome.
type Condition struct {
	Expression string `json:"expression"`
	Result     bool   `json:"result"`
	Error      string `json:"error,omitempty"`
}

// Step is one action of a run.
type Step struct {
	Index  int             `json:"index"`
	Type   string          `json:"type"`
	Name   string          `json:"name,omitempty"`
	Status string          `json:"status"` // pending, succeeded, failed, skipped
	Input  json.RawMessage `json:"input"`
	Output any             `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	// Reason: permanent (a retry cannot cure it), transient (it may pass
	// later), depth, max_actions, wall_time.
	Reason     string     `json:"reason,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	DurationMS float64    `json:"duration_ms"`
	Attempts   int        `json:"attempts"`
	// Effects are the effects applied, by key: a later attempt finds
	// them and does not apply them again.
	Effects []string `json:"effects,omitempty"`
	// AppliedIn is the attempt whose effects these are.
	AppliedIn int `json:"applied_in,omitempty"`
}

// Step statuses.
const (
	StepPending   = "pending"
	StepSucceeded = "succeeded"
	StepFailed    = "failed"
	StepSkipped   = "skipped"
)

func ts(t time.Time) string { return metadata.FormatDateTime(t) }

func optTS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// record is the run as a row of the run log.
func (r *Run) record() (*store.Record, error) {
	if r.input == nil {
		in, err := json.Marshal(r.Input)
		if err != nil {
			return nil, fmt.Errorf("workflows: run %s: %w", r.ID, err)
		}
		r.input = in
	}
	body, err := json.Marshal(storedBody{Input: r.input, Body: &r.Body})
	if err != nil {
		return nil, fmt.Errorf("workflows: run %s: %w", r.ID, err)
	}
	data := map[string]any{
		"key": r.Key, "workflow": r.Workflow, "workflow_version": r.Version, "workflow_name": r.Name,
		"trigger": r.Trigger, "status": r.Status, "due_at": ts(r.DueAt), "attempt": int64(r.Attempt),
		"depth": int64(r.Depth), "body": string(body),
	}
	set := func(k string, v any) {
		if v != nil && v != "" {
			data[k] = v
		}
	}
	set("entity", r.Entity)
	set("record_id", r.RecordID)
	set("event_id", r.EventID)
	set("holder", r.Holder)
	set("note", r.Note)
	set("lease_until", optTS(r.LeaseUntil))
	set("started_at", optTS(r.StartedAt))
	set("finished_at", optTS(r.FinishedAt))
	if len(r.Touched) > 0 {
		list := make([]any, len(r.Touched))
		for i, t := range r.Touched {
			list[i] = t
		}
		data["touched"] = list
	}
	return &store.Record{ID: r.ID, Version: r.version, CreatedAt: r.CreatedAt, UpdatedAt: r.CreatedAt, Data: data}, nil
}

func runOf(rec *store.Record) (*Run, error) {
	str := func(k string) string { s, _ := rec.Data[k].(string); return s }
	num := func(k string) int64 {
		switch v := rec.Data[k].(type) {
		case int64:
			return v
		case float64:
			return int64(v)
		}
		return 0
	}
	at := func(k string) *time.Time {
		s := str(k)
		if s == "" {
			return nil
		}
		t, err := metadata.ParseDateTime(s)
		if err != nil {
			return nil
		}
		return &t
	}
	r := &Run{ID: rec.ID, Key: str("key"), Workflow: str("workflow"), Version: num("workflow_version"), Name: str("workflow_name"),
		Trigger: str("trigger"), Entity: str("entity"), RecordID: str("record_id"), EventID: str("event_id"),
		Status: str("status"), Holder: str("holder"), Attempt: int(num("attempt")), Depth: int(num("depth")), Note: str("note"),
		CreatedAt: rec.CreatedAt, LeaseUntil: at("lease_until"), StartedAt: at("started_at"), FinishedAt: at("finished_at"),
		version: rec.Version}
	if d := at("due_at"); d != nil {
		r.DueAt = *d
	}
	if list, ok := rec.Data["touched"].([]any); ok {
		for _, t := range list {
			if s, ok := t.(string); ok {
				r.Touched = append(r.Touched, s)
			}
		}
	}
	if b := str("body"); b != "" {
		if err := json.Unmarshal([]byte(b), &r.Body); err != nil {
			return nil, fmt.Errorf("workflows: run %s: %w", rec.ID, err)
		}
	}
	return r, nil
}

// insertRuns writes new runs in one unit of work. A run whose key is taken
// was made already (the same event read again after a crash, the same
// schedule time fired by another node): it is left out, and only the runs
// written are returned.
func (s *Service) insertRuns(ctx context.Context, runs []*Run) ([]*Run, error) {
	if len(runs) == 0 {
		return nil, nil
	}
	recs := make([]*store.Record, len(runs))
	for i, r := range runs {
		r.version = 1
		rec, err := r.record()
		if err != nil {
			return nil, err
		}
		recs[i] = rec
	}
	err := store.GroupedAtomic(ctx, s.st, func(tx store.Tx) error {
		for _, rec := range recs {
			if err := tx.Insert(ctx, RunEntity, rec, store.Sides{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return runs, nil
	}
	if !duplicate(err) {
		return nil, err
	}
	// Some were there: one at a time, leaving those out.
	var out []*Run
	for i, rec := range recs {
		err := s.st.Insert(ctx, RunEntity, rec, store.Sides{})
		if duplicate(err) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, runs[i])
	}
	return out, nil
}

func duplicate(err error) bool {
	var ue *store.UniqueError
	return errors.As(err, &ue) || errors.Is(err, store.ErrExists)
}

// errTakenOver is a run whose stored version moved under its worker: its
// lease expired and another worker took it, or a retry was asked for.
var errTakenOver = errors.New("workflows: the run was changed by another worker")

// putRun writes the next version of a run its worker holds.
func (s *Service) putRun(ctx context.Context, w store.Writes, r *Run) error {
	r.version++
	rec, err := r.record()
	if err != nil {
		r.version--
		return err
	}
	rec.UpdatedAt = s.now().UTC()
	if err := w.Update(ctx, RunEntity, rec, store.Sides{}); err != nil {
		r.version--
		if errors.Is(err, store.ErrConflict) {
			return errTakenOver
		}
		return err
	}
	return nil
}

// getRun reads one run.
func (s *Service) getRun(ctx context.Context, id string) (*Run, error) {
	rec, err := s.st.Get(ctx, RunEntity, id)
	if err != nil {
		return nil, err
	}
	return runOf(rec)
}

// RunFilter selects runs for the log.
type RunFilter struct {
	Workflow string
	Status   string
	Entity   string
	RecordID string
	Touched  string // "deal:<id>": runs that changed the record
	Before   string // a run id: older runs only (paging)
	Limit    int
}

func strEq(field, v string) *store.Cond {
	return &store.Cond{Op: store.OpEq, Field: field, Kind: metadata.KindString, Value: v}
}

// Runs lists runs, newest first.
func (s *Service) Runs(ctx context.Context, f RunFilter) ([]*Run, string, error) {
	var conds []*store.Cond
	add := func(field, v string) {
		if v != "" {
			conds = append(conds, strEq(field, v))
		}
	}
	add("workflow", f.Workflow)
	add("entity", f.Entity)
	add("record_id", f.RecordID)
	now := &store.Cond{Op: store.OpGt, Field: "lease_until", Kind: metadata.KindDateTime, Value: ts(s.now())}
	expired := store.And(strEq("status", StatusRunning), &store.Cond{Op: store.OpLe, Field: "lease_until", Kind: metadata.KindDateTime, Value: ts(s.now())})
	switch f.Status {
	case "":
	case StatusRunning:
		// A run past its lease is not running, whatever its row says
		// (effective): it is shown as the queued run it is.
		conds = append(conds, strEq("status", StatusRunning), now)
	case StatusQueued:
		conds = append(conds, store.Or(strEq("status", StatusQueued), expired))
	default:
		add("status", f.Status)
	}
	if f.Touched != "" {
		conds = append(conds, &store.Cond{Op: store.OpHas, Field: "touched", Kind: metadata.KindList, Value: f.Touched})
	}
	if f.Before != "" {
		conds = append(conds, &store.Cond{Op: store.OpLt, Field: "id", Kind: metadata.KindString, Value: f.Before})
	}
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	recs, err := s.st.Find(ctx, RunEntity, store.Query{Filter: store.And(conds...), Sort: []store.SortKey{{Field: "id", Desc: true}}, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(recs) > limit {
		recs = recs[:limit]
		next = recs[limit-1].ID
	}
	out := make([]*Run, 0, len(recs))
	for _, rec := range recs {
		r, err := runOf(rec)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	return out, next, nil
}

// effective is a run's status as a reader must see it: a run whose lease
// has passed is not running any more, whatever its row says, and is shown
// as queued (the sweeper gives it back to the queue).
func (r *Run) effective(now time.Time) (string, string) {
	if r.Status == StatusRunning && r.LeaseUntil != nil && !now.Before(*r.LeaseUntil) {
		return StatusQueued, fmt.Sprintf("its worker's lease ended at %s; it goes back to the queue", ts(*r.LeaseUntil))
	}
	return r.Status, ""
}

// validStatus reports whether s is a run status.
func validStatus(s string) bool {
	for _, x := range statuses {
		if x == s {
			return true
		}
	}
	return false
}

func statusList() string { return strings.Join(statuses, ", ") }
