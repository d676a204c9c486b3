package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jimu-crm/jimu/engine/store"
)

// A counted list that no index serves is two scans — the count and the
// page — and at a million records each is ~250 ms of a core. FindCounted
// answers both from one: the matches' ids and sort keys, at most limit+1 of
// them, go into a materialized table, which gives the count, and the page
// is its best rows. When more than limit records match, those rows are
// not all of the matches, so the count is reported capped and the page is
// asked as Find asks it. Over a large table each half (split.go) does this
// for its side, and the page is read among both halves' candidates.

// FindCounted returns q's page and how many records match q.Filter, up to
// limit (capped says there are more); ok is false when the store would
// gain nothing over a Count and a Find (an index serves them), and the
// caller asks those.
func (s *Store) FindCounted(ctx context.Context, entity string, q store.Query, limit int64) (recs []*store.Record, n int64, capped, ok bool, err error) {
	if len(q.Sort) == 0 || q.Limit <= 0 {
		return nil, 0, false, false, nil
	}
	l, err := s.layoutOf(ctx, entity)
	if err != nil {
		return nil, 0, false, false, err
	}
	f, err := findPartsOf(l, q)
	if err != nil {
		return nil, 0, false, false, err
	}
	if !s.scans(ctx, entity, f.statement(entity, q.Limit), f.args, q.Filter != nil) {
		return nil, 0, false, false, nil
	}
	table := recTable(entity)
	// One statement per side: the count of the side's matches (up to
	// limit+1) and its best page of ids.
	counted := func(side string) string {
		w := f.where
		if side != "" {
			w = "(" + w + ") AND " + side
		}
		return fmt.Sprintf(`WITH m AS MATERIALIZED (SELECT id%s FROM %s WHERE %s LIMIT %d) SELECT (SELECT count(*) FROM m), id FROM m%s LIMIT %d`,
			f.keys, table, w, limit+1, f.keyOrder, q.Limit)
	}
	// The whole statement keys the kept answer (its text holds the cap).
	e, err := s.kept(ctx, entity, counted(""), f.args, q.Filter != nil, func(bool) (cachedFind, error) {
		var ids []any
		var total int64
		var db rowsQuerier = s.scan
		h, err := s.openHalves(ctx, entity)
		if err != nil {
			return cachedFind{}, err
		}
		if h != nil {
			defer h.done()
			var ns [2]int64
			var got [2][]any
			err = h.run(func(i int, tx *sql.Tx, side string, mid any) error {
				var err error
				ns[i], got[i], err = readSide(ctx, tx, counted(side), append(append([]any(nil), f.args...), mid))
				return err
			})
			total, ids, db = ns[0]+ns[1], append(got[0], got[1]...), h.txs[0]
			splitScans.Add(1)
		} else {
			total, ids, err = readSide(ctx, db, counted(""), f.args)
		}
		if err != nil {
			return cachedFind{}, mapErr(entity, err)
		}
		if total > limit {
			// The materialized rows were not every match: the page is
			// asked whole, and the count says capped.
			return cachedFind{count: limit + 1}, nil
		}
		recs, err := s.pageAmong(ctx, db, l, entity, q, f, ids)
		return cachedFind{recs: recs, count: total}, err
	})
	if err != nil {
		return nil, 0, false, false, err
	}
	if e.count > limit {
		recs, err := s.Find(ctx, entity, q)
		return recs, limit, true, true, err
	}
	return e.recs, e.count, false, true, nil
}

// rowsQuerier is a connection pool or a transaction.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readSide runs a counted statement: the side's count (each row repeats
// it) and its page's ids.
func readSide(ctx context.Context, db rowsQuerier, stmt string, args []any) (int64, []any, error) {
	rows, err := db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var n int64
	var ids []any
	for rows.Next() {
		var id any // as stored: pageAmong asks for it back
		if err := rows.Scan(&n, &id); err != nil {
			return 0, nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	return n, ids, nil // no rows: nothing matched, n is 0
}
