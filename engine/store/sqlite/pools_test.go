package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/engine/store/storetest"
)

// TestReadPools: point reads go through connections without a memory map
// (SQLite drops a connection's map at every read after a write, and a get
// then paid for munmap, mmap and the page faults), scans through mapped
// ones.
func TestReadPools(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reads, scans, err := sqlite.MmapSizes(s)
	if err != nil {
		t.Fatal(err)
	}
	if reads != 0 || scans < 1<<30 {
		t.Fatalf("mmap_size: point reads %d (want 0), scans %d (want ≥ 1 GiB)", reads, scans)
	}
}

// BenchmarkGetBesideWrites: gets by id of 20,000 deals while another
// goroutine updates them one after the other, as a PATCH's read of the
// record it changes meets the other clients' writes.
func BenchmarkGetBesideWrites(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "jimu.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		b.Fatal(err)
	}
	const n = 20_000
	recs := make([]*store.Record, n)
	now := time.Now().UTC()
	for i := range recs {
		recs[i] = &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: "u1", Owner: "u1",
			Data: map[string]any{"name": fmt.Sprintf("Deal %d", i), "amount": float64(i), "stage": "won"}}
	}
	var load sync.WaitGroup
	for w := range 16 {
		load.Go(func() {
			for i := w; i < n; i += 16 {
				if err := s.Insert(ctx, "deal", recs[i], store.Sides{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	load.Wait()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := recs[i%n]
			r.Data["amount"] = float64(i)
			r.Version++
			if err := s.Update(ctx, "deal", r, store.Sides{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ResetTimer()
	for range b.N {
		if _, err := s.Get(ctx, "deal", recs[rand.IntN(n)].ID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
}
