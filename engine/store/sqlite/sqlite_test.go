package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/engine/store/storetest"
	"github.com/jimu-crm/jimu/metadata"
)

func open(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open, storetest.Capabilities{Reopen: func(t *testing.T, s store.Store) store.Store {
		// A second Store on the file: another process, as far as SQLite
		// can tell (its own writer and connections).
		o, err := sqlite.Open(context.Background(), s.(*sqlite.Store).Path())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o
	}})
}

// FuzzTranslate: the SQL text never depends on a value, only on its
// length (the text operators compare substrings of a given length), so no
// value can change the statement: every value is a bound argument.
func FuzzTranslate(f *testing.F) {
	f.Add("name", "eq", "x' OR 1=1 --")
	f.Add("amount", "gt", "5")
	f.Add("a;DROP TABLE x", "in", "y")
	f.Add("name", "contains", "'; --")
	f.Fuzz(func(t *testing.T, field, op, value string) {
		// The field's kind picks its column: none (the extra JSON) or
		// one of each family.
		kind := metadata.Kind(len(field) % 9)
		mk := func(v string) *store.Cond {
			return &store.Cond{Op: store.Op(op), Field: field, Kind: kind, Value: v, Values: []any{v}}
		}
		sql, _, err := sqlite.Translate(mk(value))
		if err != nil {
			return
		}
		same := strings.Repeat("x", utf8.RuneCountInString(value))
		ref, _, err := sqlite.Translate(mk(same))
		if err != nil {
			t.Fatalf("%q translates but %q does not: %v", value, same, err)
		}
		if sql != ref {
			t.Fatalf("the value changed the SQL:\n%s\n%s", sql, ref)
		}
	})
}

// TestGroupCommit: concurrent writes share transactions, yet a write that
// fails (a duplicate unique value) undoes only itself, sides included.
func TestGroupCommit(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	const n = 200
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := time.Now().UTC()
			r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
				Data: map[string]any{"name": "x", "email": fmt.Sprintf("u%d@example.com", i%150)}}
			errs <- s.Insert(ctx, "deal", r, store.Sides{
				Audit: &store.AuditEntry{ID: store.NewID(), At: now, Action: "record.create", Entity: "deal", RecordID: r.ID},
				Event: &store.Event{ID: store.NewID(), Type: "record.created", Entity: "deal", RecordID: r.ID, At: now},
			})
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		var ue *store.UniqueError
		switch {
		case err == nil:
		case errors.As(err, &ue):
			failed++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	count, _, _ := s.Count(ctx, "deal", nil, 1000)
	evs, _ := s.Events(ctx, "", 1000)
	aud, _ := s.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	if failed != 50 || count != 150 || len(evs) != 150 || len(aud) != 150 {
		t.Fatalf("failed %d (want 50), records %d, events %d, audit %d (want 150 each)", failed, count, len(evs), len(aud))
	}
}

// TestAtomicRunsOnce: a unit of work's function runs once, however the
// writes around it fare. A group-commit batch that fails runs its writes
// again one by one, which a unit's function (with effects of its own) must
// not see: units commit in a transaction of their own.
func TestAtomicRunsOnce(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	taken := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, Data: map[string]any{"name": "x", "email": "taken@example.com"}}
	if err := s.Insert(ctx, "deal", taken, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	const units = 40
	var runs [units]atomic.Int32
	var wg sync.WaitGroup
	for i := range units {
		wg.Add(2)
		go func() {
			defer wg.Done()
			// Fails on the unique email: its batch runs again.
			r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, Data: map[string]any{"name": "dup", "email": "taken@example.com"}}
			_ = s.Insert(ctx, "deal", r, store.Sides{})
		}()
		go func() {
			defer wg.Done()
			err := s.Atomic(ctx, func(tx store.Tx) error {
				runs[i].Add(1)
				r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, Data: map[string]any{"name": fmt.Sprint("unit ", i)}}
				return tx.Insert(ctx, "deal", r, store.Sides{})
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range units {
		if n := runs[i].Load(); n != 1 {
			t.Fatalf("unit %d ran %d times", i, n)
		}
	}
	if n, _, _ := s.Count(ctx, "deal", nil, 1000); n != units+1 {
		t.Fatalf("records: %d, want %d", n, units+1)
	}
}
