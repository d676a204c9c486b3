package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/metadata"
)

// TestAggregateManyOnePass: the aggregates of a board that would each read
// every row through the hash aggregate, and share their filter, are
// answered by one pass (the conformance suite checks the answers on both
// stores); one with a filter of its own runs apart, and the answers are
// kept, so asking again reads nothing.
func TestAggregateManyOnePass(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "jimu.db"))
	if err := s.EnsureEntity(ctx, storetestDeal()); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		d := map[string]any{"name": fmt.Sprintf("n%02d", i%7), "stage": []string{"lead", "won", "lost"}[i%3], "amount": float64(10 * i),
			"close_date": fmt.Sprintf("2026-%02d-%02d", 1+i%12, 1+i%28), "hot": i%2 == 0}
		if err := s.Insert(ctx, "deal", newRec(fmt.Sprintf("r%03d", i), d), store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	hot := &store.Cond{Op: store.OpEq, Field: "hot", Kind: metadata.KindBoolean, Value: true}
	qs := []store.AggregateQuery{
		{GroupBy: []string{"close_date:month"}, TimeZone: "Asia/Shanghai", Measures: []store.Measure{{Op: "sum", Field: "amount"}}},
		{GroupBy: []string{"close_date:quarter", "stage"}, TimeZone: "Asia/Shanghai", Measures: []store.Measure{{Op: "count"}}},
		{GroupBy: []string{"name"}, Measures: []store.Measure{{Op: "avg", Field: "amount"}}, OrderBy: []store.AggregateOrder{{Measure: true, Desc: true}}, Limit: 3},
		{Filter: hot, GroupBy: []string{"close_date:month"}, Measures: []store.Measure{{Op: "count"}}},
	}
	want := make([][]store.AggregateRow, len(qs))
	for i, q := range qs {
		rows, err := s.Aggregate(ctx, "deal", q)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = rows
	}
	sqlite.ForgetAggregates(s, "deal")
	passes, hashes := sqlite.SharedPasses(), sqlite.HashAggregates()
	got, errs := s.AggregateMany(ctx, "deal", qs)
	for i := range qs {
		if errs[i] != nil || fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("query %d: %v %v, alone %v", i, got[i], errs[i], want[i])
		}
	}
	if n := sqlite.SharedPasses() - passes; n != 1 {
		t.Errorf("%d shared passes, want 1 (the three unfiltered group-bys)", n)
	}
	if n := sqlite.HashAggregates() - hashes; n != 2 {
		t.Errorf("%d hash passes, want 2 (the shared one and the filtered one)", n)
	}
	hashes = sqlite.HashAggregates()
	if _, errs := s.AggregateMany(ctx, "deal", qs); errs[0] != nil || sqlite.HashAggregates() != hashes {
		t.Errorf("asked again: %v, %d passes, want the kept answers", errs[0], sqlite.HashAggregates()-hashes)
	}
}
