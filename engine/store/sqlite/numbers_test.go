package sqlite_test

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/engine/store/sqlite/sqlitetest"
	"github.com/jimu-crm/jimu/engine/store/storetest"
)

// TestUnreadableNumbers: a record whose stored JSON holds 1e400 reads,
// lists (sorted by that field too) and aggregates without an error; the
// value is reported, not served.
func TestUnreadableNumbers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jimu.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	good := &store.Record{ID: store.NewID(), Version: 1, Data: map[string]any{"name": "good", "amount": 5.0}}
	bad := &store.Record{ID: store.NewID(), Version: 1, Data: map[string]any{"name": "bad", "tags": []any{"a"}}}
	for _, r := range []*store.Record{good, bad} {
		if err := s.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	sqlitetest.Poison(t, path, "deal", bad.ID, "amount", "1e400")
	sqlitetest.Poison(t, path, "deal", bad.ID, "qty", "-1e400")

	r, err := s.Get(ctx, "deal", bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Data, map[string]any{"name": "bad", "tags": []any{"a"}}) ||
		!reflect.DeepEqual(r.Unreadable, store.Unreadable{"amount": "+Inf", "qty": "-Inf"}) {
		t.Fatalf("read %#v, unreadable %v", r.Data, r.Unreadable)
	}
	rs, err := s.Find(ctx, "deal", store.Query{Sort: []store.SortKey{{Field: "amount", Desc: true}, {Field: "id"}}, Limit: 10})
	if err != nil || len(rs) != 2 || rs[0].ID != bad.ID {
		t.Fatalf("sorted find: %v %v", rs, err)
	}
	rows, err := s.Aggregate(ctx, "deal", store.AggregateQuery{Measures: []store.Measure{{Op: "sum", Field: "amount"}, {Op: "min", Field: "qty"}}})
	if err != nil || len(rows) != 1 {
		t.Fatalf("aggregate: %v %v", rows, err)
	}
	// SQLite holds 1e400 as +Inf; the engine serves it as null.
	if f, ok := rows[0].Values[0].(float64); !ok || !math.IsInf(f, 1) {
		t.Fatalf("sum over 1e400: %#v", rows[0].Values[0])
	}
	// Writing the record again (without the value) repairs it.
	r.Version = 2
	if err := s.Update(ctx, "deal", r, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if r, err = s.Get(ctx, "deal", bad.ID); err != nil || r.Unreadable != nil {
		t.Fatalf("after rewrite: %v %v", r, err)
	}
}

// TestIntegerSumOverflow: a sum of integers beyond int64 (1,025 records
// of 2^53−1) is answered as a float, not as SQLite's "integer overflow".
func TestIntegerSumOverflow(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jimu.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1100)
		INSERT INTO rec_deal (id, version, created_at, updated_at, f_name, f_qty, f_stage)
		SELECT printf('id%05d', i), 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z',
			'n', 9007199254740991, CASE WHEN i = 1 THEN 'lead' ELSE 'won' END FROM n`)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.Aggregate(ctx, "deal", store.AggregateQuery{GroupBy: []string{"stage"},
		Measures: []store.Measure{{Op: "sum", Field: "qty"}, {Op: "sum", Field: "amount"}, {Op: "count"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Values[0] != 9007199254740991.0 || rows[0].Values[1] != nil ||
		rows[1].Values[0] != 1099*9007199254740991.0 || rows[1].Values[2] != int64(1099) {
		t.Fatalf("rows %#v", rows)
	}
}
