package workflows_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/plugins"
	"github.com/jimu-crm/jimu/workflows"
	"github.com/jimu-crm/jimu/workflows/action"
)

// panicky is an action module that panics, for the tests that a bad module
// fails its step and nothing else.
type panicky struct{}

func (*panicky) ID() string                                    { return "actions.test_panic" }
func (*panicky) Prepare(*action.Compiler)                      {}
func (*panicky) Do(context.Context, *action.Exec) (any, error) { panic("a bug in a module") }

func init() {
	plugins.Register(plugins.Info{ID: "actions.test_panic", New: func() plugins.Module { return &panicky{} }})
}

// TestDepthLimit: a rule whose action changes the record that triggers
// it runs in a chain; the chain stops at depth 8 and the run log says why.
func TestDepthLimit(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			id := e.rule(map[string]any{"name": "loop", "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "record.updated", "fields": []string{"touches"}},
				"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"touches": "(record.touches ?? 0) + 1"}}}})
			d := e.deal(map[string]any{"name": "Loop"})
			e.Do("PATCH", "/api/v1/records/deal/"+d["id"].(string), map[string]any{"touches": 0}, 200, nil)
			e.drain()
			var rec map[string]any
			e.Do("GET", "/api/v1/records/deal/"+d["id"].(string), nil, 200, &rec)
			if rec["touches"] != float64(8) {
				t.Fatalf("touches %v, want 8 (one per run of the chain)", rec["touches"])
			}
			rs := e.runs("workflow=" + id)
			if len(rs) != 9 {
				t.Fatalf("%d runs, want 8 that ran and the one refused", len(rs))
			}
			last := rs[0]
			if last.Status != "failed" || last.Reason != "depth" || last.Depth != 9 || !strings.Contains(last.Error, "chain of 8") {
				t.Fatalf("the refused run: %+v", last)
			}
			for _, r := range rs[1:] {
				if r.Status != "succeeded" {
					t.Fatalf("run at depth %d: %+v", r.Depth, r)
				}
			}
			failed := e.runs("status=failed")
			if len(failed) != 1 || failed[0].ID != last.ID {
				t.Fatalf("filter by status: %+v", failed)
			}
		})
	}
}

// TestGovernorLimits: a run that would apply more effects than allowed,
// or outlive its wall-time budget, fails at that step with its reason, and
// is not retried.
func TestGovernorLimits(t *testing.T) {
	e := start(t, stores["sqlite"](t), withLimits(workflows.Limits{MaxActions: 3, RunTimeout: time.Second, Workers: 2, Backoff: time.Minute}))
	e.deals()
	for i := 0; i < 5; i++ {
		e.deal(map[string]any{"name": "D", "stage": "lead"})
	}
	many := e.rule(map[string]any{"name": "many", "entity": "deal", "enabled": true, "trigger": map[string]any{"type": "manual"},
		"actions": []any{map[string]any{"type": "update_records", "entity": "deal", "filter": `stage == "lead"`,
			"values": map[string]any{"stage": `"qualified"`}}}})
	d := e.deal(map[string]any{"name": "Trigger"})
	e.Do("POST", "/api/v1/workflows/"+many+"/run", map[string]any{"record_id": d["id"]}, 202, nil)
	e.drain()
	rs := e.runs("workflow=" + many)
	if len(rs) != 1 || rs[0].Status != "failed" || rs[0].Reason != "max_actions" || rs[0].Steps[0].Reason != "max_actions" ||
		!strings.Contains(rs[0].Steps[0].Error, "limit of 3 actions") {
		t.Fatalf("max actions: %+v", rs)
	}
	var q struct{ Items []map[string]any }
	e.Do("GET", "/api/v1/records/deal?filter="+urlq(`stage == "qualified"`), nil, 200, &q)
	if len(q.Items) != 3 {
		t.Fatalf("%d deals changed, want the 3 the limit allows", len(q.Items))
	}

	// A receiver that never answers: the run's budget of 1 s ends it.
	block := make(chan struct{})
	defer close(block)
	hook := newReceiver(t)
	hook.answer = func(int, *http.Request) int { <-block; return 200 }
	slow := e.rule(map[string]any{"name": "slow", "entity": "deal", "enabled": true, "trigger": map[string]any{"type": "manual"},
		"actions": []any{map[string]any{"type": "webhook", "url": hook.URL}}})
	e.Do("POST", "/api/v1/workflows/"+slow+"/run", map[string]any{"record_id": d["id"]}, 202, nil)
	e.drain()
	rs = e.runs("workflow=" + slow)
	if len(rs) != 1 || rs[0].Status != "failed" || rs[0].Reason != "wall_time" || !strings.Contains(rs[0].Steps[0].Error, "wall-time budget of 1s") {
		t.Fatalf("wall time: %+v", rs)
	}

	// A module that panics fails its step; the next rule runs all the same.
	bad := e.rule(map[string]any{"name": "bad", "entity": "deal", "enabled": true, "trigger": map[string]any{"type": "record.created"},
		"actions": []any{map[string]any{"type": "test_panic"}}})
	good := e.rule(map[string]any{"name": "good", "entity": "deal", "enabled": true, "trigger": map[string]any{"type": "record.created"},
		"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"score": "7"}}}})
	p := e.deal(map[string]any{"name": "After the panic"})
	e.drain()
	if rs := e.runs("workflow=" + bad); len(rs) != 1 || rs[0].Status != "failed" || !strings.Contains(rs[0].Steps[0].Error, "panicked: a bug in a module") {
		t.Fatalf("panicking rule: %+v", rs)
	}
	if rs := e.runs("workflow=" + good); len(rs) != 1 || rs[0].Status != "succeeded" {
		t.Fatalf("the other rule: %+v", rs)
	}
	var rec map[string]any
	e.Do("GET", "/api/v1/records/deal/"+p["id"].(string), nil, 200, &rec)
	if rec["score"] != float64(7) {
		t.Fatalf("score %v", rec["score"])
	}
}

// TestRetryAndDeadLetter: a step that fails in a way that may pass later
// is retried with backoff; the steps before it are not applied again; after
// the last attempt the run is dead-lettered, visible as dead; retried from
// the log once the receiver works, it starts at the failed step and says
// which earlier effects stay.
func TestRetryAndDeadLetter(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t), withLimits(workflows.Limits{MaxAttempts: 3, Backoff: time.Minute, Workers: 2}))
			e.deals()
			hook := newReceiver(t)
			down := true
			hook.answer = func(int, *http.Request) int {
				if down {
					return 503
				}
				return 200
			}
			id := e.rule(map[string]any{"name": "score then post", "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "record.created"},
				"actions": []any{
					map[string]any{"type": "set_fields", "values": map[string]any{"touches": "(record.touches ?? 0) + 1"}},
					map[string]any{"type": "webhook", "url": hook.URL}}})
			d := e.deal(map[string]any{"name": "Retry"})
			did := d["id"].(string)
			e.drain()
			r := e.runs("workflow=" + id)[0]
			if r.Status != "queued" || r.Attempt != 1 || !r.DueAt.After(e.clock.Now()) || !strings.Contains(r.Note, "attempt 1 of 3 failed") {
				t.Fatalf("after the first attempt: %+v", r)
			}
			if r.Steps[0].Status != "succeeded" || r.Steps[1].Status != "failed" || r.Steps[1].Reason != "transient" {
				t.Fatalf("steps: %+v", r.Steps)
			}
			e.drain() // not due yet: nothing happens
			if n := len(hook.requests()); n != 3 {
				t.Fatalf("%d deliveries, want 3 (one attempt, three tries)", n)
			}
			for attempt := 2; attempt <= 3; attempt++ {
				e.clock.Add(time.Hour)
				e.drain()
			}
			r = e.runs("workflow=" + id)[0]
			if r.Status != "dead" || r.Reason != "attempts" || r.Attempt != 3 {
				t.Fatalf("after the last attempt: %+v", r)
			}
			if dead := e.runs("status=dead"); len(dead) != 1 {
				t.Fatalf("dead runs: %+v", dead)
			}
			var rec map[string]any
			e.Do("GET", "/api/v1/records/deal/"+did, nil, 200, &rec)
			if rec["touches"] != float64(1) || rec["version"] != float64(2) {
				t.Fatalf("set_fields applied more than once over three attempts: %v", rec)
			}
			keys := map[string]bool{}
			for _, g := range hook.requests() {
				keys[g.Header.Get("Idempotency-Key")] = true
			}
			if len(keys) != 1 {
				t.Fatalf("idempotency keys %v: want one for every attempt", keys)
			}

			down = false
			var ans struct {
				FromStep    int `json:"from_step"`
				NotRepeated []struct {
					Index int
					Type  string
				} `json:"not_repeated"`
				Message string
			}
			e.Do("POST", "/api/v1/workflows/runs/"+r.ID+"/retry", nil, 202, &ans)
			if ans.FromStep != 1 || len(ans.NotRepeated) != 1 || ans.NotRepeated[0].Type != "set_fields" || !strings.Contains(ans.Message, "not applied again") {
				t.Fatalf("retry answer: %+v", ans)
			}
			e.drain()
			r = e.runs("workflow=" + id)[0]
			if r.Status != "succeeded" {
				t.Fatalf("after the retry: %+v", r)
			}
			e.Do("GET", "/api/v1/records/deal/"+did, nil, 200, &rec)
			if rec["touches"] != float64(1) || rec["version"] != float64(2) {
				t.Fatalf("the retry applied set_fields again: %v", rec)
			}
			e.Do("POST", "/api/v1/workflows/runs/"+r.ID+"/retry", nil, 409, nil) // it succeeded
		})
	}
}

// TestLeaseExpiry: a node that dies mid-run leaves its run "running"
// under a lease; once the lease passes, the log shows the run queued, and
// another node takes over the runner and runs it — from the checkpoint,
// so the event does not make a second run.
func TestLeaseExpiry(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			hook := newReceiver(t)
			id := e.rule(map[string]any{"name": "post", "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "record.created"},
				"actions": []any{map[string]any{"type": "webhook", "url": hook.URL}}})
			e.deal(map[string]any{"name": "Orphan"})
			// Node a takes the runner and the run, and dies: its workers
			// never started, so the run is never worked on.
			d := e.Deps
			a := workflows.New(workflows.Config{Store: d.Store, Catalog: d.Catalog, Records: d.Records, Activities: d.Activities,
				Auth: d.Auth, Access: d.Access, Webhooks: e.hooks, Node: "node-a", Now: e.clock.Now})
			if did, err := a.Step(e.ctx); err != nil || !did {
				t.Fatalf("node a: %v %v", did, err)
			}
			rs := e.runs("workflow=" + id)
			if len(rs) != 1 || rs[0].Status != "running" {
				t.Fatalf("the run node a holds: %+v", rs)
			}
			// Node b (the test's) cannot take over while a's leases hold.
			if did, err := e.wf.Step(e.ctx); did || err != nil || e.wf.Holding() {
				t.Fatalf("node b stepped while a holds the runner: %v %v", did, err)
			}
			if rs := e.runs("workflow=" + id); rs[0].Status != "running" || len(hook.requests()) != 0 {
				t.Fatalf("taken over too early: %+v", rs)
			}
			e.clock.Add(5 * time.Minute)
			rs = e.runs("workflow=" + id)
			if rs[0].Status != "queued" || !strings.Contains(rs[0].Note, "lease ended") {
				t.Fatalf("past its lease the run is not running: %+v", rs[0])
			}
			if q := e.runs("status=running"); len(q) != 0 {
				t.Fatalf("listed as running past its lease: %+v", q)
			}
			e.drain()
			rs = e.runs("workflow=" + id)
			if len(rs) != 1 || rs[0].Status != "succeeded" || rs[0].Attempt != 2 || !strings.Contains(rs[0].Note, "node-a") {
				t.Fatalf("after the takeover: %+v", rs)
			}
			if n := len(hook.requests()); n != 1 {
				t.Fatalf("%d deliveries", n)
			}
		})
	}
}

// crashing is a store whose run-log writes outside a unit of work fail,
// as if the node died right after each effect it marked: what is left is
// what a kill -9 leaves, the effects and their marks, and a run whose
// last state was never written.
type crashing struct{ store.Store }

func (c crashing) Update(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	if entity == workflows.RunEntity {
		return errors.New("the node died")
	}
	return c.Store.Update(ctx, entity, r, sd)
}

// TestCrashAfterEffect: a node applies a run's first effect and dies
// before it records the step done; the node that takes the run over finds
// the effect's mark and does not apply it again, and sends the webhook the
// first node may or may not have delivered with the same Idempotency-Key.
func TestCrashAfterEffect(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			hook := newReceiver(t)
			id := e.rule(map[string]any{"name": "count then post", "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "record.created"},
				"actions": []any{
					map[string]any{"type": "set_fields", "values": map[string]any{"touches": "(record.touches ?? 0) + 1"}},
					map[string]any{"type": "webhook", "url": hook.URL}}})
			d := e.deal(map[string]any{"name": "Crash"})
			dd := e.Deps
			ctx, stop := context.WithCancel(e.ctx)
			a := workflows.New(workflows.Config{Store: crashing{dd.Store}, Catalog: dd.Catalog, Records: dd.Records, Activities: dd.Activities,
				Auth: dd.Auth, Access: dd.Access, Webhooks: e.hooks, Node: "node-a", Now: e.clock.Now,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			a.StartWorkers(ctx)
			_ = a.Drain(ctx) // fails once the node "dies"
			stop()
			a.Wait()
			rs := e.runs("workflow=" + id)
			if len(rs) != 1 || rs[0].Status != "running" || len(rs[0].Steps) != 2 || len(rs[0].Steps[0].Effects) != 1 {
				t.Fatalf("what the dead node left: %+v", rs)
			}
			e.clock.Add(5 * time.Minute)
			e.drain()
			rs = e.runs("workflow=" + id)
			if rs[0].Status != "succeeded" || rs[0].Steps[0].Output["skipped"] == nil {
				t.Fatalf("after the takeover: %+v", rs[0])
			}
			var rec map[string]any
			e.Do("GET", "/api/v1/records/deal/"+d["id"].(string), nil, 200, &rec)
			if rec["touches"] != float64(1) {
				t.Fatalf("touches %v: the effect was applied again", rec["touches"])
			}
			got := hook.requests()
			if len(got) != 2 || got[0].Header.Get("Idempotency-Key") != got[1].Header.Get("Idempotency-Key") {
				t.Fatalf("deliveries: %d", len(got))
			}
		})
	}
}
