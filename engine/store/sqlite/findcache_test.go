package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/engine/store/storetest"
	"github.com/jimu-crm/jimu/metadata"
)

// TestFindCache: a list or count that reads the whole table is kept until
// the entity's next write — by this store or by another process on the
// same file — and a kept answer is never changed by its callers; a list an
// index serves is not kept.
func TestFindCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jimu.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	insert := func(st *sqlite.Store, qty int) {
		t.Helper()
		now := time.Now().UTC()
		r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
			Data: map[string]any{"name": fmt.Sprint("deal ", qty), "qty": int64(qty), "stage": "lead", "tags": []any{"a"}}}
		if err := st.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		insert(s, i%4)
	}
	// qty has no index: the list and the count scan the table.
	scan := store.Query{Filter: &store.Cond{Op: store.OpEq, Field: "qty", Kind: metadata.KindInteger, Value: int64(2)},
		Sort: []store.SortKey{{Field: "name"}}, Limit: 10}
	list := func() []*store.Record {
		t.Helper()
		recs, err := s.Find(ctx, "deal", scan)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	count := func() int64 {
		t.Helper()
		n, _, err := s.Count(ctx, "deal", scan.Filter, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := sqlite.ScansRun()
	if got := len(list()); got != 5 {
		t.Fatalf("list: %d records, want 5", got)
	}
	if n := count(); n != 5 {
		t.Fatalf("count: %d, want 5", n)
	}
	first := list()
	first[0].Data["name"] = "changed by a caller"
	first[0].Data["tags"].([]any)[0] = "z"
	again := list()
	if n := count(); n != 5 {
		t.Fatalf("kept count: %d, want 5", n)
	}
	if ran := sqlite.ScansRun() - before; ran != 2 {
		t.Fatalf("%d scans ran for two lists and two counts of one statement each, want 2 (the repeats kept)", ran)
	}
	if again[0].Data["name"] == "changed by a caller" || again[0].Data["tags"].([]any)[0] != "a" {
		t.Fatalf("a caller's change reached the kept answer: %v", again[0].Data)
	}

	// A write by this store: the next list and count see it.
	insert(s, 2)
	if got, n := len(list()), count(); got != 6 || n != 6 {
		t.Fatalf("after a write: list %d, count %d; want 6 and 6", got, n)
	}

	// A write by another process on the file: seen through the outbox.
	other, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	now := time.Now().UTC()
	r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
		Data: map[string]any{"name": "deal from another node", "qty": int64(2), "stage": "lead"}}
	ev := &store.Event{ID: store.NewID(), Type: "record.created", Entity: "deal", RecordID: r.ID, Version: 1, At: now}
	if err := other.Insert(ctx, "deal", r, store.Sides{Event: ev}); err != nil {
		t.Fatal(err)
	}
	if got, n := len(list()), count(); got != 7 || n != 7 {
		t.Fatalf("after another process's write: list %d, count %d; want 7 and 7", got, n)
	}

	// stage is indexed: its list is not kept.
	before = sqlite.ScansRun()
	indexed := store.Query{Filter: &store.Cond{Op: store.OpEq, Field: "stage", Kind: metadata.KindString, Value: "lead"},
		Sort: []store.SortKey{{Field: "amount"}}, Limit: 10}
	for range 2 {
		if _, err := s.Find(ctx, "deal", indexed); err != nil {
			t.Fatal(err)
		}
	}
	if ran := sqlite.ScansRun() - before; ran != 0 {
		t.Fatalf("a list an index serves went through the find cache (%d scans)", ran)
	}

	// Unfiltered in id order, and an unfiltered count: walks of the
	// primary key that a limit stops (a WITHOUT ROWID table's plan calls
	// them SCANs all the same), not kept. Unfiltered in name order: every
	// record sorted, kept.
	before = sqlite.ScansRun()
	for range 2 {
		if _, err := s.Find(ctx, "deal", store.Query{Sort: []store.SortKey{{Field: "id", Desc: true}}, Limit: 10}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Count(ctx, "deal", nil, 5); err != nil {
			t.Fatal(err)
		}
	}
	if ran := sqlite.ScansRun() - before; ran != 0 {
		t.Fatalf("walks of the primary key went through the find cache (%d scans)", ran)
	}
	for range 2 {
		if _, err := s.Find(ctx, "deal", store.Query{Sort: []store.SortKey{{Field: "name"}}, Limit: 10}); err != nil {
			t.Fatal(err)
		}
	}
	if ran := sqlite.ScansRun() - before; ran != 1 {
		t.Fatalf("an unfiltered list sorted by a field without an index: %d scans for two asks, want 1", ran)
	}
}

// TestScansInHalves: a list or count that scans gives, run as two halves
// (splitfind.go), what it gives whole — every order, ties, a page larger
// than the matches, a projection, a capped count.
func TestScansInHalves(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		now := time.Now().UTC()
		d := map[string]any{"name": fmt.Sprintf("deal %03d", (i*37)%300), "qty": int64(i % 7), "stage": "lead"}
		if i%5 == 0 {
			delete(d, "qty")
		}
		r := &store.Record{ID: fmt.Sprintf("r%04d", i), Version: 1, CreatedAt: now, UpdatedAt: now, Data: d}
		if err := s.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	qty := func(op store.Op, v int64) *store.Cond {
		return &store.Cond{Op: op, Field: "qty", Kind: metadata.KindInteger, Value: v}
	}
	finds := []store.Query{
		{Filter: qty(store.OpEq, 3), Sort: []store.SortKey{{Field: "name"}}, Limit: 10},
		{Filter: qty(store.OpGe, 1), Sort: []store.SortKey{{Field: "name", Desc: true}}, Limit: 25},
		{Filter: qty(store.OpEq, 3), Sort: []store.SortKey{{Field: "qty"}, {Field: "id", Desc: true}}, Limit: 7},     // ties on qty
		{Filter: qty(store.OpNe, 2), Sort: []store.SortKey{{Field: "qty", Desc: true}, {Field: "name"}}, Limit: 500}, // more than match
		{Filter: qty(store.OpEq, 4), Sort: []store.SortKey{{Field: "name"}}, Limit: 5, Fields: []string{"name"}},
		{Filter: qty(store.OpEq, 99), Sort: []store.SortKey{{Field: "name"}}, Limit: 5}, // none
	}
	counts := []struct {
		c     *store.Cond
		limit int64
	}{{qty(store.OpEq, 3), 1000}, {qty(store.OpGe, 1), 100}, {qty(store.OpGe, 0), 1000}, {qty(store.OpEq, 99), 10}}
	type answer struct {
		ids    [][]string
		names  [][]any
		counts [][2]any
	}
	run := func() answer {
		var a answer
		for _, q := range finds {
			sqlite.ForgetAggregates(s, "deal")
			recs, err := s.Find(ctx, "deal", q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			var names []any
			for _, r := range recs {
				ids, names = append(ids, r.ID), append(names, r.Data["name"])
			}
			a.ids, a.names = append(a.ids, ids), append(a.names, names)
		}
		for _, c := range counts {
			sqlite.ForgetAggregates(s, "deal")
			n, capped, err := s.Count(ctx, "deal", c.c, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			a.counts = append(a.counts, [2]any{n, capped})
		}
		return a
	}
	// A counted list: one read gives what a Count and a Find give.
	counted := func() []string {
		var out []string
		for _, q := range finds {
			for _, limit := range []int64{1000, 20} { // 20: capped for most
				sqlite.ForgetAggregates(s, "deal")
				recs, n, capped, ok, err := s.FindCounted(ctx, "deal", q, limit)
				if err != nil || !ok {
					t.Fatalf("FindCounted: ok %v, %v", ok, err)
				}
				var ids []string
				for _, r := range recs {
					ids = append(ids, r.ID)
				}
				out = append(out, fmt.Sprint(ids, n, capped))
			}
		}
		return out
	}
	var apart []string
	for _, q := range finds {
		for _, limit := range []int64{1000, 20} {
			sqlite.ForgetAggregates(s, "deal")
			recs, err := s.Find(ctx, "deal", q)
			if err != nil {
				t.Fatal(err)
			}
			n, capped, err := s.Count(ctx, "deal", q.Filter, limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
			apart = append(apart, fmt.Sprint(ids, n, capped))
		}
	}
	if got := counted(); fmt.Sprint(got) != fmt.Sprint(apart) {
		t.Fatalf("FindCounted whole:\n %v\nCount and Find:\n %v", got, apart)
	}
	whole := run()
	if len(whole.ids[0]) != 10 || whole.counts[1] != [2]any{int64(100), true} {
		t.Fatalf("the data do not test what they should: %v %v", whole.ids[0], whole.counts)
	}
	t.Cleanup(sqlite.SetSplitRows(0))
	if err := sqlite.FindSplit(s, "deal"); err != nil {
		t.Fatal(err)
	}
	before := sqlite.SplitScans()
	split := run()
	if n := sqlite.SplitScans() - before; n != int64(len(finds)+len(counts)) {
		t.Fatalf("%d of %d lists and counts ran as halves", n, len(finds)+len(counts))
	}
	for i := range finds {
		if fmt.Sprint(split.ids[i]) != fmt.Sprint(whole.ids[i]) || fmt.Sprint(split.names[i]) != fmt.Sprint(whole.names[i]) {
			t.Errorf("find %d:\n halves %v %v\n  whole %v %v", i, split.ids[i], split.names[i], whole.ids[i], whole.names[i])
		}
	}
	for i := range counts {
		if split.counts[i] != whole.counts[i] {
			t.Errorf("count %d: halves %v, whole %v", i, split.counts[i], whole.counts[i])
		}
	}
	before = sqlite.SplitScans()
	if got := counted(); fmt.Sprint(got) != fmt.Sprint(apart) {
		t.Fatalf("FindCounted in halves:\n %v\nCount and Find:\n %v", got, apart)
	}
	if sqlite.SplitScans() == before {
		t.Fatal("no counted list ran as halves")
	}
}
