package workflows_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/workflows"
)

// checkpoint is the runner's checkpoint as stored, and the cursor of the
// outbox's newest event.
func (e *env) checkpoint() (saved, newest store.Cursor) {
	e.t.Helper()
	st := e.Deps.Store
	saved, err := st.Checkpoint(e.ctx, "workflows")
	if err != nil {
		e.t.Fatal(err)
	}
	for c := store.Cursor(""); ; {
		evs, err := st.Events(e.ctx, c, 1000)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(evs) == 0 {
			return saved, c
		}
		c = evs[len(evs)-1].Cursor
	}
}

// TestCheckpointCadence: the follower saves its checkpoint once it has
// read checkpointEvents events or checkpointEvery has passed since the
// last save, and when a drain ends — not after every batch.
func TestCheckpointCadence(t *testing.T) {
	defer workflows.CheckpointCadence(5, time.Second)()
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			e.drain()
			_, start := e.checkpoint()
			step := func() {
				t.Helper()
				if _, err := e.wf.Step(e.ctx); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 3; i++ {
				e.deal(map[string]any{"name": "A"})
			}
			step()
			if saved, newest := e.checkpoint(); saved != start || newest == start {
				t.Fatalf("after 3 events: checkpoint %q, want it left at %q (newest %q)", saved, start, newest)
			}
			e.deal(map[string]any{"name": "B"})
			e.deal(map[string]any{"name": "C"})
			step()
			saved, newest := e.checkpoint()
			if saved != newest {
				t.Fatalf("after 5 events: checkpoint %q, want %q", saved, newest)
			}
			e.deal(map[string]any{"name": "D"})
			step()
			if again, _ := e.checkpoint(); again != saved {
				t.Fatalf("after 1 more event at once: checkpoint %q, want it left at %q", again, saved)
			}
			e.clock.Add(time.Second)
			e.deal(map[string]any{"name": "E"})
			step()
			if saved, newest = e.checkpoint(); saved != newest {
				t.Fatalf("a second later: checkpoint %q, want %q", saved, newest)
			}
			e.deal(map[string]any{"name": "F"})
			e.drain()
			if saved, newest = e.checkpoint(); saved != newest {
				t.Fatalf("after a drain: checkpoint %q, want %q", saved, newest)
			}
		})
	}
}

// TestCheckpointBehind: a node reads events, runs what they trigger and
// dies before it saves its checkpoint; a rule is made after those events.
// The node that takes over reads the events again: it applies no effect a
// second time (the runs' keys are taken) and does not run the newer rule
// on the older events (the rules start as they were at the checkpoint).
func TestCheckpointBehind(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			count := e.rule(map[string]any{"name": "count", "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "record.created"},
				"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"touches": "(record.touches ?? 0) + 1"}}}})
			var ids []string
			for _, n := range []string{"D1", "D2", "D3"} {
				ids = append(ids, e.deal(map[string]any{"name": n})["id"].(string))
			}

			ctx, stop := context.WithCancel(e.ctx)
			a := e.node(ctx, "node-a")
			if did, err := a.Step(ctx); !did || err != nil {
				t.Fatalf("node-a's step: %v %v", did, err)
			}
			a.WaitRuns()
			if saved, _ := e.checkpoint(); saved != "" {
				t.Fatalf("node-a saved its checkpoint (%q): nothing would be read again", saved)
			}
			for _, id := range ids {
				if d := e.get(id); d["touches"] != float64(1) {
					t.Fatalf("before the crash: %s touches %v", id, d["touches"])
				}
			}
			late := e.rule(map[string]any{"name": "late", "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "record.created"},
				"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"score": "7"}}}})
			stop() // node-a dies: no checkpoint
			a.Wait()

			e.clock.Add(time.Minute) // node-a's runner lease ends
			e.drain()
			for _, id := range ids {
				d := e.get(id)
				if d["touches"] != float64(1) || d["score"] != nil {
					t.Fatalf("after the takeover: %s touches %v, score %v; want 1 and none", id, d["touches"], d["score"])
				}
			}
			if rs := e.runs("workflow=" + count); len(rs) != 3 {
				t.Fatalf("%d runs of count, want 3", len(rs))
			}
			if rs := e.runs("workflow=" + late); len(rs) != 0 {
				t.Fatalf("the later rule ran on older events: %+v", rs)
			}
			if saved, newest := e.checkpoint(); saved != newest {
				t.Fatalf("checkpoint %q after the drain, want %q", saved, newest)
			}
			// The later rule does run on what comes after it.
			d4 := e.deal(map[string]any{"name": "D4"})["id"].(string)
			e.drain()
			if d := e.get(d4); d["touches"] != float64(1) || d["score"] != float64(7) {
				t.Fatalf("a deal after both rules: touches %v, score %v", d["touches"], d["score"])
			}
		})
	}
}

func (e *env) get(id string) map[string]any {
	e.t.Helper()
	var d map[string]any
	e.Do("GET", "/api/v1/records/deal/"+id, nil, 200, &d)
	return d
}

// node is another workflow service on the env's store and clock, its
// workers started, its runner driven by the test.
func (e *env) node(ctx context.Context, name string) *workflows.Service {
	dd := e.Deps
	n := workflows.New(workflows.Config{Store: dd.Store, Catalog: dd.Catalog, Records: dd.Records, Activities: dd.Activities,
		Auth: dd.Auth, Access: dd.Access, Webhooks: e.hooks, Node: name, Now: e.clock.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	n.StartWorkers(ctx)
	return n
}

// TestCheckpointRuleOff: a deal is made while a rule is on, and the rule
// is switched off before any runner reads that event (a backlog). The
// node that reads it starts from the rule as it was at the checkpoint —
// version 1, on — so the deal gets its effect; the deal made after the
// switch-off does not.
func TestCheckpointRuleOff(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			id := e.rule(map[string]any{"name": "count", "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "record.created"},
				"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"touches": "(record.touches ?? 0) + 1"}}}})
			e.drain()
			before := e.deal(map[string]any{"name": "while on"})["id"].(string)
			e.Do("PATCH", "/api/v1/meta/workflows/"+id, map[string]any{"enabled": false}, 200, nil)
			after := e.deal(map[string]any{"name": "after off"})["id"].(string)

			ctx, stop := context.WithCancel(e.ctx)
			defer stop()
			b := e.node(ctx, "node-b")
			e.clock.Add(time.Minute) // the env's runner lease ends; node-b takes it
			if err := b.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			if d := e.get(before); d["touches"] != float64(1) {
				t.Fatalf("the deal made while the rule was on: touches %v, want 1", d["touches"])
			}
			if d := e.get(after); d["touches"] != nil {
				t.Fatalf("the deal made after the switch-off: touches %v, want none", d["touches"])
			}
			if rs := e.runs("workflow=" + id); len(rs) != 1 || rs[0].Version != 1 || rs[0].RecordID != before {
				t.Fatalf("runs %+v, want one, of version 1, for %s", rs, before)
			}
			stop()
			b.Wait()
		})
	}
}

// TestStatusCaughtUp: the status says whether the runner has followed
// the outbox to its end, by the node's own place while it holds the
// runner (the saved checkpoint lags).
func TestStatusCaughtUp(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			e.deal(map[string]any{"name": "D1"})
			a := e.node(e.ctx, "node-a")
			caughtUp := func() bool {
				t.Helper()
				st, err := a.State(e.ctx)
				if err != nil {
					t.Fatal(err)
				}
				return st.CaughtUp
			}
			if caughtUp() {
				t.Fatal("caught up before reading anything")
			}
			for {
				did, err := a.Step(e.ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !did {
					break
				}
			}
			if !caughtUp() {
				t.Fatal("not caught up after stepping to the end")
			}
			e.deal(map[string]any{"name": "D2"})
			if caughtUp() {
				t.Fatal("caught up with an event unread")
			}
		})
	}
}
