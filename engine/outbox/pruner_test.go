package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/outbox"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/engine/store/storetest"
)

// TestPruner: events older than the retention go, in batches, on the node
// holding the lease only; the newest and those a consumer has not passed
// stay.
func TestPruner(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jimu.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		now := t0.Add(time.Duration(i) * time.Hour)
		r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, Data: map[string]any{"name": fmt.Sprint(i)}}
		ev := &store.Event{ID: store.NewID(), Type: "record.created", Entity: "deal", RecordID: r.ID, At: now}
		if err := st.Insert(ctx, "deal", r, store.Sides{Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ := st.Events(ctx, "", 100)
	// A consumer that has processed the first 20.
	if err := st.SaveCheckpoint(ctx, "runner", evs[19].Cursor); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := t0.Add(30 * time.Hour)
	p := &outbox.Pruner{Store: st, Retention: 12 * time.Hour, Batch: 4, Node: "a", Log: log, Now: func() time.Time { return clock }}
	// Another node holds the lease: this one leaves the outbox alone.
	if _, ok, err := st.ClaimLease(ctx, "outbox:prune", "b", clock, time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if n, err := p.Once(ctx); err != nil || n != 0 {
		t.Fatalf("without the lease: %d %v", n, err)
	}
	clock = clock.Add(2 * time.Hour) // b's lease has lapsed
	// Older than 12 h at 32 h: the first 20 (0 h … 19 h), in five batches.
	if n, err := p.Once(ctx); err != nil || n != 20 {
		t.Fatalf("pruned %d %v, want 20", n, err)
	}
	left, _ := st.Events(ctx, "", 100)
	if len(left) != 5 || left[0].ID != evs[20].ID {
		t.Fatalf("left %d events, first %v", len(left), left[0].At)
	}
	if n, _ := p.Once(ctx); n != 0 {
		t.Fatalf("a second run pruned %d", n)
	}
	off := &outbox.Pruner{Store: st, Node: "a", Log: log}
	if n, _ := off.Once(ctx); n != 0 {
		t.Fatalf("retention 0 keeps every event, pruned %d", n)
	}
}
