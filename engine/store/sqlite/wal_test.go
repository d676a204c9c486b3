package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
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
// the database; checkpointTick makes that happen by holding the writer for
// the last short tail.
//
// The test drives the ticks itself instead of racing the background
// ticker against the writers (on a loaded machine the ticker fell behind
// and the WAL's size said nothing about the mechanism). It asserts the
// mechanism: whenever a tick finds the WAL long while eight writers keep
// writing, it holds the writer, copies every frame, and the next write
// starts the WAL over — the checkpoint sequence number in the WAL header
// advances.
func TestWALStartsOver(t *testing.T) {
	frames, tail, quiet := restartFrames, restartTail, quietWAL
	restartFrames, restartTail = 128, 32
	// Not the quiet cut (TestWALQuietTruncate): when the test's ticks come
	// faster than the writers' batches, a tick finds nothing written since
	// the one before and cuts the WAL to nothing, and the next header read
	// found no header.
	quietWAL = math.MaxInt64
	t.Cleanup(func() { restartFrames, restartTail, quietWAL = frames, tail, quiet })

	s, path := walStore(t)
	ctx := context.Background()
	insert := func(n int) error {
		now := time.Now().UTC()
		r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
			Data: map[string]any{"name": "deal", "amount": float64(n), "stage": "lead"}}
		return s.Insert(ctx, "deal", r, store.Sides{
			Audit: &store.AuditEntry{ID: store.NewID(), At: now, Action: "record.create", Entity: "deal", RecordID: r.ID},
		})
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := insert(w*1_000_000 + i); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
		if n := failed.Load(); n > 0 {
			t.Errorf("%d writes failed", n)
		}
	}()

	for restarts := 0; restarts < 3; {
		// Read before the tick: once it lets go of the writer, a writer's
		// batch may start the WAL over before the test looks. Nothing but
		// a checkpoint lets the WAL start over, so reading first is safe.
		before := walSequence(t, path)
		held, complete := s.checkpointTick()
		if !held {
			runtime.Gosched() // the WAL is still short: let the writers fill it
			continue
		}
		if !complete {
			t.Fatal("with the writer held, the checkpoint left frames in the WAL")
		}
		if err := insert(-1); err != nil {
			t.Fatal(err)
		}
		if after := walSequence(t, path); after == before {
			t.Fatalf("the WAL did not start over after a complete checkpoint (checkpoint sequence %d)", after)
		}
		restarts++
	}
}

// walSequence reads the checkpoint sequence number from the WAL header
// (bytes 12–15, big-endian), which SQLite increments each time the WAL
// starts over.
// TestWALCutBack: once the WAL starts over, the first commit cuts the
// file back to walLimit, so a burst does not leave it at its longest.
func TestWALCutBack(t *testing.T) {
	limit := walLimit
	walLimit = 256 << 10
	t.Cleanup(func() { walLimit = limit })
	s, path := walStore(t)
	insert := func(i int) { walInsert(t, s, i) }
	for i := range 2000 {
		insert(i)
	}
	size := func() int64 { return walSize(t, path) }
	if size() <= int64(walLimit) {
		t.Fatalf("the WAL (%d bytes) never passed the limit: the test proves nothing", size())
	}
	if _, err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	insert(-1) // starts the WAL over: the commit cuts the file back
	if n := size(); n > int64(walLimit) {
		t.Fatalf("after the WAL started over the file holds %d bytes, more than %d", n, walLimit)
	}
}

func walSequence(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hdr [32]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(hdr[12:16])
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

// TestDurability: "full" makes every connection sync at each commit
// (synchronous=FULL, 2); the default is NORMAL (1); anything else is
// refused before a file is touched.
func TestDurability(t *testing.T) {
	for _, c := range []struct {
		durability string
		want       int
	}{{"", 1}, {"normal", 1}, {"full", 2}} {
		s, err := OpenWith(context.Background(), filepath.Join(t.TempDir(), "jimu.db"), Options{Durability: c.durability})
		if err != nil {
			t.Fatal(err)
		}
		for name, db := range map[string]interface {
			QueryRow(string, ...any) *sql.Row
		}{"writer": s.w, "reader": s.r} {
			var got int
			if err := db.QueryRow(`PRAGMA synchronous`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("durability %q: %s synchronous = %d, want %d", c.durability, name, got, c.want)
			}
		}
		s.Close()
	}
	dir := t.TempDir()
	if _, err := OpenWith(context.Background(), filepath.Join(dir, "jimu.db"), Options{Durability: "fast"}); err == nil {
		t.Fatal(`durability "fast" was accepted`)
	}
	if _, err := os.Stat(filepath.Join(dir, "jimu.db")); !os.IsNotExist(err) {
		t.Fatalf("a refused durability created the database file (%v)", err)
	}
}

// TestWALQuietTruncate: once writes stop, the checkpointer cuts the WAL
// file to nothing — but not while writes still arrive between its ticks.
func TestWALQuietTruncate(t *testing.T) {
	quiet := quietWAL
	quietWAL = 64 << 10
	t.Cleanup(func() { quietWAL = quiet })
	s, path := walStore(t)
	ctx := context.Background()
	insert := func(i int) { walInsert(t, s, i) }
	size := func() int64 { return walSize(t, path) }
	for i := range 500 {
		insert(i)
	}
	if size() <= quietWAL {
		t.Fatalf("the WAL (%d bytes) never passed %d bytes: the test proves nothing", size(), quietWAL)
	}
	// Writes between every two ticks: the WAL keeps its file.
	for i := range 3 {
		s.checkpointTick()
		insert(1000 + i)
	}
	if size() <= quietWAL {
		t.Fatalf("the WAL was cut to %d bytes while writes still arrived", size())
	}
	s.checkpointTick() // copies what the last write added
	s.checkpointTick() // nothing new since: quiet
	if n := size(); n != 0 {
		t.Fatalf("after two quiet ticks the WAL file holds %d bytes, want 0", n)
	}
	insert(-1) // and the store goes on writing
	if got, _, err := s.Count(ctx, "deal", nil, 10_000); err != nil || got != 504 {
		t.Fatalf("count after the cut = %d, %v; want 504", got, err)
	}
}

// walInsert creates deal i, one commit.
func walInsert(t *testing.T, s *Store, i int) {
	t.Helper()
	now := time.Now().UTC()
	r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
		Data: map[string]any{"name": fmt.Sprint("deal ", i), "amount": float64(i), "stage": "lead"}}
	if err := s.Insert(context.Background(), "deal", r, store.Sides{}); err != nil {
		t.Fatal(err)
	}
}

// walSize is the WAL file's size in bytes.
func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// walStore opens a store of deals whose checkpoints the test drives.
func walStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jimu.db")
	ctx := context.Background()
	s, err := OpenWith(ctx, path, Options{manualCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	return s, path
}
