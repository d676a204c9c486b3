package sqlite_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/metadata"
)

// TestHashAggregateMatchesSQL: every group-by answered by the hash
// aggregate gives what SQLite's GROUP BY gives, over values with nulls,
// every column family and a key held in the extra JSON.
func TestHashAggregateMatchesSQL(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "jimu.db"))
	if err := s.EnsureEntity(ctx, storetestDeal()); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	stages := []any{"lead", "won", "lost", nil}
	for i := range 400 {
		d := map[string]any{"name": fmt.Sprintf("n%03d", rnd.IntN(50))}
		if v := stages[rnd.IntN(4)]; v != nil {
			d["stage"] = v
		}
		if rnd.IntN(5) > 0 {
			d["amount"] = math.Round(rnd.Float64()*100000) / 100
		}
		if rnd.IntN(4) > 0 {
			d["qty"] = int64(rnd.IntN(20) - 5)
		}
		if rnd.IntN(3) > 0 {
			d["hot"] = rnd.IntN(2) == 0
		}
		if rnd.IntN(4) > 0 {
			d["close_date"] = fmt.Sprintf("2026-%02d-%02d", 1+rnd.IntN(12), 1+rnd.IntN(28))
		}
		if rnd.IntN(3) == 0 {
			d["tags"] = []any{fmt.Sprint("t", rnd.IntN(3))}
		}
		if rnd.IntN(3) == 0 {
			d["region"] = []string{"east", "west"}[rnd.IntN(2)] // no column: the extra JSON
		}
		// UUIDs, kept as 16 bytes (decision 30): the halves split at
		// one, and the owner groups read back as text.
		r := newRec(fmt.Sprintf("01a232dd-0000-7000-8000-%012d", i), d)
		if o := rnd.IntN(4); o > 0 {
			r.Owner = fmt.Sprintf("01a232dd-1cc8-77dc-86ea-%012d", o)
		}
		r.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rnd.Int64N(400*24*3600)) * time.Second)
		if err := s.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	all := []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}, {Op: "sum", Field: "qty"}, {Op: "avg", Field: "amount"},
		{Op: "avg", Field: "qty"}, {Op: "min", Field: "amount"}, {Op: "max", Field: "qty"}, {Op: "min", Field: "name"},
		{Op: "max", Field: "close_date"}, {Op: "count_distinct", Field: "name"}, {Op: "count_distinct", Field: "qty"}}
	won := &store.Cond{Op: store.OpNe, Field: "stage", Kind: metadata.KindString, Value: "won"}
	// stage has an index: alone it covers a count, which SQLite answers
	// in index order; with the amount it does not, and the hash answers.
	sqlPath := []store.AggregateQuery{
		{GroupBy: []string{"stage"}, Measures: []store.Measure{{Op: "count"}}},
	}
	queries := []store.AggregateQuery{
		{GroupBy: []string{"stage"}, Measures: all},
		{GroupBy: []string{"owner"}, Measures: append(all, store.Measure{Op: "max", Field: "id"})},
		{GroupBy: []string{"qty"}, Measures: all},
		{GroupBy: []string{"close_date:month"}, Measures: all},
		{GroupBy: []string{"hot", "qty"}, Measures: all, Filter: won},
		{GroupBy: []string{"name"}, Measures: all, Limit: 7},
		{GroupBy: []string{"tags"}, Measures: all},
		{GroupBy: []string{"region"}, Measures: all},
		{GroupBy: []string{"close_date:year", "hot"}, Measures: []store.Measure{{Op: "count"}}},
		{GroupBy: []string{"qty"}, Measures: all, Filter: &store.Cond{Op: store.OpFalse}},
		{GroupBy: []string{"created_at:hour"}, Measures: all, TimeZone: "America/New_York"},
		{GroupBy: []string{"created_at:week", "stage"}, Measures: all, TimeZone: "Asia/Shanghai"},
		{GroupBy: []string{"created_at:month"}, Measures: all, TimeZone: "Asia/Shanghai", OrderBy: []store.AggregateOrder{{Measure: true, Index: 1, Desc: true}}, Limit: 4},
		{GroupBy: []string{"close_date:quarter", "hot"}, Measures: all, TimeZone: "America/New_York", OrderBy: []store.AggregateOrder{{Measure: true, Index: 0}}},
		{GroupBy: []string{"stage"}, Measures: all, OrderBy: []store.AggregateOrder{{Index: 0, Desc: true}}},
		{GroupBy: []string{"name"}, Measures: all, OrderBy: []store.AggregateOrder{{Measure: true, Index: 9, Desc: true}, {Measure: true, Index: 3}}, Limit: 5},
	}
	wants := make([][]store.AggregateRow, len(queries))
	for i, q := range queries {
		sqlite.SetGroupInGo(false)
		want, err := s.Aggregate(ctx, "deal", q)
		sqlite.SetGroupInGo(true)
		sqlite.ForgetAggregates(s, "deal")
		if err != nil {
			t.Fatalf("%v: %v", q.GroupBy, err)
		}
		wants[i] = want
	}
	for _, row := range wants[1] { // by owner: ids as text, whatever the store keeps
		if k, ok := row.Keys[0].(string); !ok || (k != "" && len(k) != 36) { // "": no owner
			t.Fatalf("an owner group's key is %#v", row.Keys[0])
		}
		if v, ok := row.Values[len(row.Values)-1].(string); !ok || len(v) != 36 {
			t.Fatalf("max(id) is %#v", row.Values[len(row.Values)-1])
		}
	}
	// Whole, and as two halves merged (split.go): the same groups.
	for _, split := range []bool{false, true} {
		if split {
			restore := sqlite.SetSplitRows(0)
			t.Cleanup(restore)
			if err := sqlite.FindSplit(s, "deal"); err != nil {
				t.Fatal(err)
			}
		}
		before, halves := sqlite.HashAggregates(), sqlite.SplitPasses()
		for i, q := range queries {
			sqlite.ForgetAggregates(s, "deal")
			got, err := s.Aggregate(ctx, "deal", q)
			if err != nil {
				t.Fatalf("%v: %v", q.GroupBy, err)
			}
			if !sameRows(got, wants[i]) {
				t.Errorf("split %v, group by %v:\n hash %v\n  sql %v", split, q.GroupBy, got, wants[i])
			}
		}
		if n := sqlite.HashAggregates() - before; n != int64(len(queries)) {
			t.Fatalf("split %v: the hash aggregate answered %d of %d group-bys", split, n, len(queries))
		}
		if n := sqlite.SplitPasses() - halves; split && n != int64(len(queries)) || !split && n != 0 {
			t.Fatalf("split %v: %d passes ran as halves", split, n)
		}
		// A dashboard's widgets asked together: one shared pass.
		sqlite.ForgetAggregates(s, "deal")
		outs, errs := s.AggregateMany(ctx, "deal", queries)
		for i := range queries {
			if errs[i] != nil || !sameRows(outs[i], wants[i]) {
				t.Errorf("split %v, together, group by %v (%v):\n hash %v\n  sql %v", split, queries[i].GroupBy, errs[i], outs[i], wants[i])
			}
		}
	}
	for _, q := range sqlPath {
		before := sqlite.HashAggregates()
		if _, err := s.Aggregate(ctx, "deal", q); err != nil {
			t.Fatal(err)
		}
		if sqlite.HashAggregates() != before {
			t.Fatalf("group by %v: an index gives the groups in order, yet the hash aggregate answered", q.GroupBy)
		}
	}
}

func sameRows(a, b []store.AggregateRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i].Keys, b[i].Keys) || len(a[i].Values) != len(b[i].Values) {
			return false
		}
		for j := range a[i].Values {
			x, y := a[i].Values[j], b[i].Values[j]
			if fx, ok := x.(float64); ok {
				if fy, ok := y.(float64); !ok || math.Abs(fx-fy) > 1e-9*math.Max(1, math.Abs(fy)) {
					return false
				}
				continue
			}
			if !reflect.DeepEqual(x, y) {
				return false
			}
		}
	}
	return true
}

// TestAggregateCache: a repeated aggregate is answered from the cache
// until the entity is written, and every kind of write makes the next
// answer fresh.
func TestAggregateCache(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "jimu.db"))
	e := storetestDeal()
	if err := s.EnsureEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	q := store.AggregateQuery{GroupBy: []string{"qty"}, Measures: []store.Measure{{Op: "count"}}}
	agg := func() string {
		t.Helper()
		rows, err := s.Aggregate(ctx, "deal", q)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(rows)
	}
	r := newRec("a", map[string]any{"name": "A", "qty": int64(1)})
	steps := []struct {
		write func() error
		want  string
	}{
		{func() error { return nil }, "[]"},
		{func() error { return s.Insert(ctx, "deal", r, store.Sides{}) }, "[{[1] [1]}]"},
		{func() error {
			r.Data["qty"], r.Version = int64(2), 2
			return s.Update(ctx, "deal", r, store.Sides{})
		}, "[{[2] [1]}]"},
		{func() error {
			e.Field("qty").Type = "text"
			return s.EnsureEntity(ctx, e)
		}, "[{[2] [1]}]"},
		{func() error { return s.UnsetField(ctx, "deal", "qty", store.Sides{}) }, "[{[<nil>] [1]}]"},
		{func() error { return s.Delete(ctx, "deal", "a", 0, store.Sides{}) }, "[]"},
	}
	for i, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := agg(); got != st.want {
			t.Fatalf("step %d: got %s, want %s", i, got, st.want)
		}
		n := sqlite.HashAggregates()
		if got := agg(); got != st.want || sqlite.HashAggregates() != n {
			t.Fatalf("step %d: the repeat was not answered from the cache (%s)", i, got)
		}
	}
}

// TestAggregateCacheTwoNodes: with two jimu serve processes on one file
// (two Stores here), a write through one is seen by the other's next
// aggregate: a kept answer also carries its entity's newest outbox event,
// which every write through the pipeline commits.
func TestAggregateCacheTwoNodes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jimu.db")
	a, b := openAt(t, path), openAt(t, path)
	if err := a.EnsureEntity(ctx, storetestDeal()); err != nil {
		t.Fatal(err)
	}
	count := func(s *sqlite.Store) any {
		t.Helper()
		rows, err := s.Aggregate(ctx, "deal", store.AggregateQuery{Measures: []store.Measure{{Op: "count"}}})
		if err != nil {
			t.Fatal(err)
		}
		return rows[0].Values[0]
	}
	if n := count(a); n != int64(0) {
		t.Fatalf("empty: %v", n)
	}
	for i, want := range []int64{1, 2} {
		r := newRec(fmt.Sprint("r", i), map[string]any{"name": "R"})
		ev := &store.Event{ID: store.NewID(), Type: "record.created", Entity: "deal", RecordID: r.ID, At: time.Now()}
		if err := b.Insert(ctx, "deal", r, store.Sides{Event: ev}); err != nil {
			t.Fatal(err)
		}
		if n := count(a); n != want {
			t.Fatalf("after the other node's write %d: node a counts %v, want %d (a stale kept answer)", i+1, n, want)
		}
	}
}

// TestSplitPassOneState: the two halves of a split pass read one state of
// the table. A write by another process landing between their snapshots
// makes the pass run whole, and the answer counts that write once.
func TestSplitPassOneState(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jimu.db")
	s := openAt(t, path)
	if err := s.EnsureEntity(ctx, storetestDeal()); err != nil {
		t.Fatal(err)
	}
	add := func(st *sqlite.Store, id string) {
		t.Helper()
		r := newRec(id, map[string]any{"name": id, "stage": "won", "amount": 1.0})
		ev := &store.Event{ID: store.NewID(), Type: "record.created", Entity: "deal", RecordID: r.ID, Version: 1, At: r.CreatedAt}
		if err := st.Insert(ctx, "deal", r, store.Sides{Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		add(s, fmt.Sprintf("r%04d", i))
	}
	other := openAt(t, path)
	t.Cleanup(sqlite.SetSplitRows(0))
	if err := sqlite.FindSplit(s, "deal"); err != nil {
		t.Fatal(err)
	}
	q := store.AggregateQuery{GroupBy: []string{"stage"}, Measures: []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}}}
	count := func() int64 {
		t.Helper()
		sqlite.ForgetAggregates(s, "deal")
		rows, err := s.Aggregate(ctx, "deal", q)
		if err != nil || len(rows) != 1 {
			t.Fatalf("aggregate: %v, %v", rows, err)
		}
		return rows[0].Values[0].(int64)
	}
	halves := sqlite.SplitPasses()
	if n := count(); n != 100 || sqlite.SplitPasses() != halves+1 {
		t.Fatalf("count %d (want 100), %d split passes (want 1)", n, sqlite.SplitPasses()-halves)
	}
	i := 0
	sqlite.BetweenSnapshots(func() {
		add(other, fmt.Sprintf("r0000-%d", i)) // in the first half, whose snapshot came before
		i++
	})
	t.Cleanup(func() { sqlite.BetweenSnapshots(nil) })
	halves = sqlite.SplitPasses()
	if n := count(); n != 101 || sqlite.SplitPasses() != halves {
		t.Fatalf("with a write between the snapshots: count %d (want 101), %d split passes (want 0)", n, sqlite.SplitPasses()-halves)
	}
}

// TestHashMinMaxOfIDs: the hash aggregate's min and max of an id column
// compare the ids as stored, as SQLite does, and answer their text: ids
// inserted in descending order, so neither the first nor the last row
// seen is the answer.
func TestHashMinMaxOfIDs(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "jimu.db"))
	if err := s.EnsureEntity(ctx, storetestDeal()); err != nil {
		t.Fatal(err)
	}
	// Inserted in descending id order, so "first wins" != min, "last wins" != max.
	for i := 9; i >= 0; i-- {
		r := newRec(fmt.Sprintf("01a232dd-0000-7000-8000-%012d", i), map[string]any{"name": "n", "qty": int64(1)})
		r.Owner = fmt.Sprintf("01a232dd-1cc8-77dc-86ea-%012d", (i*7)%10)
		if err := s.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	q := store.AggregateQuery{GroupBy: []string{"qty"}, Measures: []store.Measure{
		{Op: "min", Field: "id"}, {Op: "max", Field: "id"}, {Op: "min", Field: "owner"}, {Op: "max", Field: "owner"}}}
	sqlite.SetGroupInGo(false)
	want, err := s.Aggregate(ctx, "deal", q)
	sqlite.SetGroupInGo(true)
	sqlite.ForgetAggregates(s, "deal")
	if err != nil {
		t.Fatal(err)
	}
	before := sqlite.HashAggregates()
	got, err := s.Aggregate(ctx, "deal", q)
	if err != nil {
		t.Fatal(err)
	}
	if sqlite.HashAggregates() == before {
		t.Fatal("the hash aggregate did not answer")
	}
	if !sameRows(got, want) {
		t.Fatalf("hash %v\n sql %v", got, want)
	}
}
