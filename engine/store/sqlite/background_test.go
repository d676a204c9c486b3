package sqlite_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// TestCloseWaitsForBackgroundJobs: an aggregate starts a job that counts
// the table for its split point and does not wait for it. Close must stop
// that job and wait for it: a job left running opened a connection on the
// file after Close had returned, while the test's temporary directory was
// being removed ("directory not empty", a CI failure).
func TestCloseWaitsForBackgroundJobs(t *testing.T) {
	ctx := context.Background()
	started := make(chan struct{})
	release := make(chan struct{})
	var ended atomic.Bool
	sqlite.AtFindSplit(func(ctx context.Context) {
		close(started)
		select {
		case <-ctx.Done(): // Close cancels the job
		case <-release: // only without the fix, so the test ends
		}
		ended.Store(true)
	})
	t.Cleanup(func() { sqlite.AtFindSplit(nil) })

	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureEntity(ctx, storetestDeal()); err != nil {
		t.Fatal(err)
	}
	q := store.AggregateQuery{GroupBy: []string{"qty"}, Measures: []store.Measure{{Op: "count"}}}
	if _, err := s.Aggregate(ctx, "deal", q); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !ended.Load() {
		close(release)
		t.Fatal("Close returned while the split-point job was still running")
	}
}

// TestCloseWaitsForConnections: a connection in use as Close runs (a read
// on another goroutine) is waited for, so no connection to the file is
// open once Close has returned.
func TestCloseWaitsForConnections(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	release, err := sqlite.HoldConnection(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	waited := false
	sqlite.AtCloseWait(func() { waited = true; go release() })
	t.Cleanup(func() { sqlite.AtCloseWait(nil) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := sqlite.OpenConnections(s); !waited || n != 0 {
		t.Fatalf("Close returned with %d connections open (waited: %v)", n, waited)
	}
}
