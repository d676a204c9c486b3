package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	"github.com/jimu-crm/jimu/engine/store"
)

// A list or count that reads the whole table runs as two halves too
// (split.go): each half finds its own first page (the ids and sort keys of
// its matches, the best limit of them) or its own count, and then one of
// the two transactions — on the same state of the table as the other —
// reads the page among both halves' candidates.

// splitScans counts the lists and counts that ran as two halves, for tests.
var splitScans atomic.Int64

// findInHalves answers a sorted, limited find whose plan scans (kept
// decided it) as two halves; ok is false when it did not.
func (s *Store) findInHalves(ctx context.Context, l *layout, entity string, q store.Query, f findParts) ([]*store.Record, bool, error) {
	h, err := s.openHalves(ctx, entity)
	if err != nil || h == nil {
		return nil, false, err
	}
	defer h.done()
	var ids [2][]any
	err = h.run(func(i int, tx *sql.Tx, side string, mid any) error {
		stmt := fmt.Sprintf(`SELECT 0, id FROM %s WHERE (%s) AND %s%s LIMIT %d`, recTable(entity), f.where, side, f.order, q.Limit)
		var err error
		_, ids[i], err = readSide(ctx, tx, stmt, append(append([]any(nil), f.args...), mid))
		return err
	})
	if err != nil {
		return nil, false, mapErr(entity, err)
	}
	recs, err := s.pageAmong(ctx, h.txs[0], l, entity, q, f, append(ids[0], ids[1]...))
	if err != nil {
		return nil, false, err
	}
	splitScans.Add(1)
	return recs, true, nil
}

// countInHalves answers a count whose plan scans (kept decided it) as two
// halves; ok is false when it did not. Each half stops at limit+1 matches,
// as the whole count does: their sum past limit is reported capped all the
// same.
func (s *Store) countInHalves(ctx context.Context, entity, where string, args []any, limit int64) (int64, bool, error) {
	h, err := s.openHalves(ctx, entity)
	if err != nil || h == nil {
		return 0, false, err
	}
	defer h.done()
	var ns [2]int64
	err = h.run(func(i int, tx *sql.Tx, side string, mid any) error {
		q := fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM %s WHERE (%s) AND %s LIMIT %d)`, recTable(entity), where, side, limit+1)
		return tx.QueryRowContext(ctx, q, append(append([]any(nil), args...), mid)...).Scan(&ns[i])
	})
	if err != nil {
		return 0, false, mapErr(entity, err)
	}
	splitScans.Add(1)
	return min(ns[0]+ns[1], limit+1), true, nil
}
