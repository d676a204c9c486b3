package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// BenchmarkFindUnindexed: the peer benchmark's P2 in the store — over
// 20,000 deals with no index on the fields, stage = "won" and amount >
// 5000, sorted by amount descending, the first 50 (about 3,800 match).
// go test -run '^$' -bench FindUnindexed ./engine/store/sqlite/
func BenchmarkFindUnindexed(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "jimu.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := storetestDeal()
	for _, f := range e.Fields {
		f.Indexed, f.Unique = false, false
	}
	if err := s.EnsureEntity(ctx, e); err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(42, 1))
	stages := []string{"lead", "qualified", "proposal", "won", "lost"}
	for i := range 20000 {
		r := newRec(store.NewID(), map[string]any{"name": fmt.Sprintf("Deal %06d Acme upsell", i), "amount": float64(rnd.IntN(10_000_000)) / 100,
			"stage": stages[rnd.IntN(5)], "close_date": "2026-03-01", "email": fmt.Sprintf("contact%d@customer.example.com", i), "qty": int64(rnd.IntN(100))})
		if err := s.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			b.Fatal(err)
		}
	}
	if err := sqlite.Analyze(ctx, s); err != nil {
		b.Fatal(err)
	}
	q := store.Query{Filter: &store.Cond{Op: store.OpAnd, Args: []*store.Cond{
		{Op: store.OpEq, Field: "stage", Value: "won"}, {Op: store.OpGt, Field: "amount", Value: 5000.0}}},
		Sort: []store.SortKey{{Field: "amount", Desc: true}, {Field: "id", Desc: true}}, Limit: 51}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := s.Find(ctx, "deal", q)
		if err != nil || len(got) != 51 {
			b.Fatal(len(got), err)
		}
	}
}
