package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jimu-crm/jimu/engine/store"
)

// SetGroupInGo switches the hash aggregate on or off, so a test can
// compare it with SQLite's GROUP BY.
func SetGroupInGo(on bool) { groupInGo = on }

// HashAggregates counts the group-bys the hash aggregate answered.
func HashAggregates() int64 { return hashRuns.Load() }

// SetSplitRows sets the table size from which a hash pass runs as two
// halves, returning what restores it.
func SetSplitRows(n int64) func() {
	old := splitRows
	splitRows = n
	return func() { splitRows = old }
}

// BetweenSnapshots sets what runs between a split pass's two snapshots.
func BetweenSnapshots(f func()) { betweenSnapshots = f }

// AtFindSplit sets what runs as the background split-point job starts.
func AtFindSplit(f func(ctx context.Context)) { atFindSplit = f }

// HoldConnection takes a connection from the scan pool and returns what
// gives it back.
func HoldConnection(s *Store) (release func(), err error) {
	c, err := s.scan.Conn(context.Background())
	if err != nil {
		return nil, err
	}
	return func() { c.Close() }, nil
}

// AtCloseWait sets what runs as Close starts waiting for connections.
func AtCloseWait(f func()) { atCloseWait = f }

// OpenConnections counts the connections open in all the store's pools.
func OpenConnections(s *Store) int {
	n := 0
	for _, db := range []*sql.DB{s.r, s.scan, s.ck, s.w} {
		n += db.Stats().OpenConnections
	}
	return n
}

// FindSplit finds the point entity's split passes split at, now.
func FindSplit(s *Store, entity string) error { return s.findSplit(context.Background(), entity, 0) }

// SplitScans counts the lists and counts that ran as two halves.
func SplitScans() int64 { return splitScans.Load() }

// SplitPasses counts the hash passes that ran as two halves.
func SplitPasses() int64 { return splitPasses.Load() }

// ScansRun counts the whole-table lists and counts computed rather than
// served from the find cache.
func ScansRun() int64 { return scansRun.Load() }

// ForgetAggregates drops the kept aggregates of entity, as a write does.
func ForgetAggregates(s *Store, entity string) { s.aggs.wrote(entity) }

// PlanOfFind is SQLite's query plan for what Find runs for q, a line a
// node: "id<parent detail".
func PlanOfFind(ctx context.Context, s *Store, entity string, q store.Query) ([]string, error) {
	l, err := s.layoutOf(ctx, entity)
	if err != nil {
		return nil, err
	}
	f, err := findPartsOf(l, q)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+f.statement(entity, q.Limit), f.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		plan = append(plan, fmt.Sprintf("%d<%d %s", id, parent, detail))
	}
	return plan, rows.Err()
}

// Analyze gathers the statistics SQLite's planner reads, as a start with
// records does.
func Analyze(ctx context.Context, s *Store) error {
	_, err := s.w.ExecContext(ctx, `ANALYZE`)
	return err
}

// SQLOfFind is the statement Find runs for q.
func SQLOfFind(ctx context.Context, s *Store, entity string, q store.Query) string {
	l, err := s.layoutOf(ctx, entity)
	if err != nil {
		return err.Error()
	}
	f, err := findPartsOf(l, q)
	if err != nil {
		return err.Error()
	}
	return f.statement(entity, q.Limit)
}

// SharedPasses counts the hash passes that answered several aggregates.
func SharedPasses() int64 { return sharedPasses.Load() }

// MmapSizes reports the memory-map limit of a point-read connection and
// of a scan connection.
func MmapSizes(s *Store) (reads, scans int64, err error) {
	ctx := context.Background()
	if err = s.r.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&reads); err != nil {
		return
	}
	err = s.scan.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&scans)
	return
}
