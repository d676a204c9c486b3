package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/storetest"
)

// TestWALStartsOver: under a steady stream of writes the WAL must not grow
// without end. A passive checkpoint alone never catches up with a busy
// writer, and SQLite starts the WAL over only once every frame is back in
// the database; the checkpointer makes that happen.
func TestWALStartsOver(t *testing.T) {
	every, frames, tail := checkpointEvery, restartFrames, restartTail
	checkpointEvery, restartFrames, restartTail = 5*time.Millisecond, 128, 32
	t.Cleanup(func() { checkpointEvery, restartFrames, restartTail = every, frames, tail })

	path := filepath.Join(t.TempDir(), "jimu.db")
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}

	var largest atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > largest.Load() {
				largest.Store(fi.Size())
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	// About 90 MiB of frames in all, written without a pause.
	const writers, each = 8, 400
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				now := time.Now().UTC()
				r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
					Data: map[string]any{"name": "deal", "amount": float64(w*each + i), "stage": "lead"}}
				if err := s.Insert(ctx, "deal", r, store.Sides{
					Audit: &store.AuditEntry{ID: store.NewID(), At: now, Action: "record.create", Entity: "deal", RecordID: r.ID},
				}); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d writes failed", n)
	}
	// The WAL starts over past 128 frames (~1 MiB), running on while the
	// checkpointer catches up: 10–12 MiB here. Without the restarts it
	// holds every frame written, ~90 MiB.
	const limit = 32 << 20
	if got := largest.Load(); got > limit {
		t.Fatalf("the WAL grew to %d bytes under steady writes (limit %d): it never started over", got, limit)
	}
	t.Logf("largest WAL: %d KiB", largest.Load()>>10)
}

// TestPageSize: a new database gets 8 KiB pages (see Open).
func TestPageSize(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var size int
	if err := s.r.QueryRow(`PRAGMA page_size`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size != pageSize {
		t.Fatalf("page size %d, want %d", size, pageSize)
	}
}
