package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/engine/store/storetest"
)

// BenchmarkInsert: record inserts with their audit entry and outbox event,
// from parallel writers (SetParallelism 8 per CPU), as the write pipeline
// makes them. It measures the single writer and group commit.
func BenchmarkInsert(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "jimu.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			now := time.Now().UTC()
			data := map[string]any{"name": fmt.Sprintf("Deal %d", i), "amount": float64(i % 100000), "stage": "won",
				"email": fmt.Sprintf("b%d@example.com", i), "close_date": "2030-01-02"}
			r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: "u1", Owner: "u1", Data: data}
			if err := s.Insert(ctx, "deal", r, benchSides(r, now)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
