package sqlite_test

import (
	"context"
	"os"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/metadata"
)

// BenchmarkBoardAggregates times the store's part of the jimubench board
// (cmd/jimubench/board.go) on a loaded database: its six widgets' queries
// one after another (apart), and asked together (AggregateMany), no kept
// answer serving either. Give it a copy of the database `jimubench load`
// made — it writes nothing, but opening migrates:
//
//	cp .cache/bench/jimu.db /tmp/b.db
//	JIMU_BENCH_DB=/tmp/b.db go test -run '^$' -bench BoardAggregates -benchtime 3x ./engine/store/sqlite/
func BenchmarkBoardAggregates(b *testing.B) {
	path := os.Getenv("JIMU_BENCH_DB")
	if path == "" {
		b.Skip("JIMU_BENCH_DB names no loaded database")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	zone := "Asia/Shanghai"
	stage := store.AggregateQuery{GroupBy: []string{"stage"}, TimeZone: zone, Measures: []store.Measure{{Op: "count"}}, Limit: 1000}
	qs := []store.AggregateQuery{
		{Filter: &store.Cond{Op: store.OpEq, Field: "stage", Kind: metadata.KindString, Value: "won"}, TimeZone: zone, Measures: []store.Measure{{Op: "count"}}, Limit: 1000},
		stage, // the funnel
		{GroupBy: []string{"close_date:month"}, TimeZone: zone, Measures: []store.Measure{{Op: "sum", Field: "amount"}}, Limit: 1000},
		{GroupBy: []string{"owner"}, TimeZone: zone, Measures: []store.Measure{{Op: "sum", Field: "amount"}}, OrderBy: []store.AggregateOrder{{Measure: true, Desc: true}}, Limit: 1000},
		{GroupBy: []string{"close_date:quarter", "stage"}, TimeZone: zone, Measures: []store.Measure{{Op: "count"}}, Limit: 1000},
		stage, // the pie
	}
	b.Run("apart", func(b *testing.B) {
		for b.Loop() {
			for _, q := range qs {
				sqlite.ForgetAggregates(s, "deal")
				if _, err := s.Aggregate(ctx, "deal", q); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("together-whole", func(b *testing.B) {
		defer sqlite.SetSplitRows(1 << 62)() // one pass, on one core
		for b.Loop() {
			sqlite.ForgetAggregates(s, "deal")
			_, errs := s.AggregateMany(ctx, "deal", qs)
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("together", func(b *testing.B) {
		for b.Loop() {
			sqlite.ForgetAggregates(s, "deal")
			_, errs := s.AggregateMany(ctx, "deal", qs)
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
