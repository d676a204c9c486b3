package records_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jimu-crm/jimu/engine/benchdata"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// TestCountCap: count=true is exact up to the service's cap and says when
// it stopped there.
func TestCountCap(t *testing.T) {
	ctx := context.Background()
	svc, _ := deals(t)
	svc.CountCap = 3
	for i := range 4 {
		if _, err := svc.Create(ctx, actor, "deal", map[string]any{"name": fmt.Sprint("d", i), "stage": "won"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		filter string
		n      int64
		capped bool
	}{{"", 3, true}, {`name == "d1"`, 1, false}} {
		res, _, err := svc.List(ctx, actor, "deal", records.ListParams{Filter: tc.filter, Count: true, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if *res.Count != tc.n || res.CountCapped != tc.capped {
			t.Errorf("filter %q: count %d capped %v, want %d %v", tc.filter, *res.Count, res.CountCapped, tc.n, tc.capped)
		}
	}
}

// finds counts the pages a store is asked for.
type finds struct {
	*sqlite.Store
	n int
}

func (f *finds) Find(ctx context.Context, entity string, q store.Query) ([]*store.Record, error) {
	f.n++
	return f.Store.Find(ctx, entity, q)
}

// TestCountedEmptyListFetchesNothing: a counted list that matches nothing
// answers from the count alone. Its page query would walk the sort order
// through every record for nothing (a kanban column of deals without a
// stage, over a million deals).
func TestCountedEmptyListFetchesNothing(t *testing.T) {
	ctx := context.Background()
	real, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	st := &finds{Store: real}
	cat := catalog.New(st, nil)
	if _, err := cat.Create(ctx, actor, benchdata.Deal()); err != nil {
		t.Fatal(err)
	}
	svc := records.New(st, cat, records.System{}, nil)
	if _, err := svc.Create(ctx, actor, "deal", map[string]any{"name": "d", "stage": "won"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		filter string
		count  bool
		n      int64
		finds  int
	}{{`stage == nil`, true, 0, 0}, {`stage == "won"`, true, 1, 1}, {`stage == nil`, false, 0, 1}} {
		st.n = 0
		res, _, err := svc.List(ctx, actor, "deal", records.ListParams{Filter: tc.filter, Count: tc.count})
		if err != nil {
			t.Fatal(err)
		}
		if st.n != tc.finds || int64(len(res.Items)) != tc.n || res.Items == nil || res.NextCursor != "" {
			t.Errorf("%s (count %v): %d pages asked, %d items, cursor %q; want %d pages, %d items", tc.filter, tc.count, st.n, len(res.Items), res.NextCursor, tc.finds, tc.n)
		}
		if tc.count && *res.Count != tc.n {
			t.Errorf("%s: count %d, want %d", tc.filter, *res.Count, tc.n)
		}
	}
}
