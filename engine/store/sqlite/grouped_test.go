package sqlite_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// TestAtomicGrouped: a grouped unit commits all its writes or none, and
// one that shares its batch with a failing write commits all the same
// while the failing write fails alone.
func TestAtomicGrouped(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.EnsureEntity(ctx, &metadata.Entity{Name: "thing", Fields: []*metadata.Field{{Name: "name", Type: "text", Unique: true}}}); err != nil {
		t.Fatal(err)
	}
	rec := func(name string) *store.Record {
		now := time.Now().UTC()
		return &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, Data: map[string]any{"name": name}}
	}
	a, b := rec("a"), rec("b")
	if err := store.GroupedAtomic(ctx, s, func(tx store.Tx) error {
		if err := tx.Insert(ctx, "thing", a, store.Sides{}); err != nil {
			return err
		}
		if _, err := tx.Get(ctx, "thing", a.ID); err != nil { // sees its own write
			return err
		}
		return tx.Insert(ctx, "thing", b, store.Sides{})
	}); err != nil {
		t.Fatal(err)
	}
	// A unit whose second write fails leaves nothing of its first.
	c := rec("c")
	err := store.GroupedAtomic(ctx, s, func(tx store.Tx) error {
		if err := tx.Insert(ctx, "thing", c, store.Sides{}); err != nil {
			return err
		}
		return tx.Insert(ctx, "thing", rec("a"), store.Sides{}) // a is taken
	})
	var ue *store.UniqueError
	if !errors.As(err, &ue) {
		t.Fatalf("unit with a duplicate: %v", err)
	}
	if _, err := s.Get(ctx, "thing", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed unit's first write stayed: %v", err)
	}
	// Many units and failing writes at once, batched together: each unit
	// whole, each failure alone.
	var wg sync.WaitGroup
	units := make([][2]*store.Record, 40)
	errs := make([]error, 40)
	for i := range units {
		units[i] = [2]*store.Record{rec("u" + string(rune('A'+i)) + "1"), rec("u" + string(rune('A'+i)) + "2")}
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			errs[i] = store.GroupedAtomic(ctx, s, func(tx store.Tx) error {
				if err := tx.Insert(ctx, "thing", units[i][0], store.Sides{}); err != nil {
					return err
				}
				return tx.Insert(ctx, "thing", units[i][1], store.Sides{})
			})
		}(i)
		go func() {
			defer wg.Done()
			var ue *store.UniqueError // each goroutine its own target
			if err := s.Insert(ctx, "thing", rec("b"), store.Sides{}); !errors.As(err, &ue) {
				t.Errorf("a duplicate beside the units: %v", err)
			}
		}()
	}
	wg.Wait()
	for i, u := range units {
		if errs[i] != nil {
			t.Fatalf("unit %d: %v", i, errs[i])
		}
		for _, r := range u {
			if _, err := s.Get(ctx, "thing", r.ID); err != nil {
				t.Fatalf("unit %d lost a write: %v", i, err)
			}
		}
	}
}
