// Package storetest is the conformance suite every store.Store passes. Each
// backend's test calls Run with a function that opens a fresh, empty store.
// Tests branch on a backend only where the databases truly differ, and say
// so when they skip.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Capabilities lets a backend declare what its server cannot do, so those
// tests skip with a reason instead of failing (FerretDB v1 has no
// multi-document transactions, for instance).
type Capabilities struct {
	NoTransactions string // reason, empty when transactions work
	// Reopen opens a second Store on the database s uses, as a second
	// node would (another process on the SQLite file, another client of
	// the MongoDB database).
	Reopen func(t *testing.T, s store.Store) store.Store
	// FollowWrites is how many records each of the 16 writers of
	// FollowWhileWriting creates (0: 300, 4,800 in all); a slow test
	// server asks for fewer.
	FollowWrites int
}

// Run runs the whole suite.
func Run(t *testing.T, open func(t *testing.T) store.Store, caps Capabilities) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, caps Capabilities)
	}{
		{"InsertGet", testInsertGet},
		{"UpdateVersion", testUpdateVersion},
		{"DeleteToTrash", testDelete},
		{"Unique", testUnique},
		{"FilterOps", testFilterOps},
		{"SortNulls", testSortNulls},
		{"Projection", testProjection},
		{"CountCap", testCountCap},
		{"Aggregate", testAggregate},
		{"AggregateBuckets", testAggregateBuckets},
		{"AggregateMany", testAggregateMany},
		{"UnsetField", testUnsetField},
		{"Sequence", testSequence},
		{"Docs", testDocs},
		{"AuditAndOutbox", testAuditOutbox},
		{"AuditOfChanges", testAuditOfChanges},
		{"FailedWriteWritesNoSides", testAtomic},
		{"IndexesFollowMetadata", testIndexes},
		{"OutboxContent", testOutboxContent},
		{"FollowWhileWriting", testFollow},
		{"Checkpoints", testCheckpoints},
		{"PruneEvents", testPrune},
		{"Leases", testLeases},
		{"LeaseRace", testLeaseRace},
		{"AtomicCommits", testAtomicCommits},
		{"AtomicRollsBack", testAtomicRollsBack},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t), caps)
		})
	}
}

func fptr(f float64) *float64 { return &f }

// Deal is the entity the suite works on.
func Deal() *metadata.Entity {
	return &metadata.Entity{Name: "deal", Ownership: true, Version: 1, Fields: []*metadata.Field{
		{Name: "name", Type: "text", Required: true},
		{Name: "amount", Type: "currency", Indexed: true, Min: fptr(0)},
		{Name: "qty", Type: "integer"},
		{Name: "stage", Type: "select", Indexed: true, Options: []metadata.Option{{Value: "lead"}, {Value: "won"}, {Value: "lost"}}},
		{Name: "close_date", Type: "date"},
		{Name: "email", Type: "email", Unique: true},
		{Name: "hot", Type: "boolean"},
		{Name: "tags", Type: "tags"},
	}}
}

func ctx() context.Context { return context.Background() }

func rec(data map[string]any) *store.Record {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: "u1", Owner: "u1", Data: data}
}

func setup(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.EnsureEntity(ctx(), Deal()); err != nil {
		t.Fatalf("EnsureEntity: %v", err)
	}
}

func mustInsert(t *testing.T, s store.Store, data map[string]any) *store.Record {
	t.Helper()
	r := rec(data)
	if err := s.Insert(ctx(), "deal", r, store.Sides{}); err != nil {
		t.Fatalf("Insert %v: %v", data, err)
	}
	return r
}

// sameValue compares stored values, treating numbers by value: drivers
// differ in whether 1200.0 comes back as an integer or a float.
func sameValue(a, b any) bool {
	fa, aNum := num(a)
	fb, bNum := num(b)
	if aNum || bNum {
		return aNum && bNum && fa == fb
	}
	return reflect.DeepEqual(a, b)
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func testInsertGet(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	r := mustInsert(t, s, map[string]any{"name": "Acme", "amount": 1200.5, "qty": int64(3), "stage": "won",
		"close_date": "2026-03-01", "hot": true, "tags": []any{"a", "b"}})
	got, err := s.Get(ctx(), "deal", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r.ID || got.Version != 1 || got.Owner != "u1" || got.CreatedBy != "u1" || !got.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("system fields: got %+v want %+v", got, r)
	}
	for k, v := range r.Data {
		if k == "tags" {
			if !reflect.DeepEqual(got.Data[k], v) {
				t.Errorf("%s: got %#v want %#v", k, got.Data[k], v)
			}
			continue
		}
		if !sameValue(got.Data[k], v) {
			t.Errorf("%s: got %#v want %#v", k, got.Data[k], v)
		}
	}
	if _, err := s.Get(ctx(), "deal", store.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing record: got %v, want ErrNotFound", err)
	}
	if err := s.Insert(ctx(), "deal", r, store.Sides{}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate id: got %v, want ErrExists", err)
	}
}

func testUpdateVersion(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	r := mustInsert(t, s, map[string]any{"name": "Acme", "amount": 10.0})
	r.Version = 2
	r.Data = map[string]any{"name": "Acme 2", "amount": 20.0}
	r.UpdatedBy = "u2"
	if err := s.Update(ctx(), "deal", r, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	// A second writer that read version 1 loses.
	stale := *r
	stale.Version = 2
	stale.Data = map[string]any{"name": "stale"}
	if err := s.Update(ctx(), "deal", &stale, store.Sides{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	got, _ := s.Get(ctx(), "deal", r.ID)
	if got.Version != 2 || got.Data["name"] != "Acme 2" || got.UpdatedBy != "u2" {
		t.Fatalf("after update: %+v", got)
	}
	if _, ok := got.Data["qty"]; ok {
		t.Fatal("update must replace data, not merge")
	}
	missing := rec(map[string]any{"name": "x"})
	missing.Version = 2
	if err := s.Update(ctx(), "deal", missing, store.Sides{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of missing record: got %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	r := mustInsert(t, s, map[string]any{"name": "Acme", "email": "a@example.com"})
	if err := s.Delete(ctx(), "deal", r.ID, 5, store.Sides{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("delete with wrong version: got %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx(), "deal", r.ID, 1, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx(), "deal", r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted record: got %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx(), "deal", r.ID, 0, store.Sides{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}
	// A deleted record's unique value is free again.
	mustInsert(t, s, map[string]any{"name": "Acme again", "email": "a@example.com"})
}

func testUnique(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	mustInsert(t, s, map[string]any{"name": "A", "email": "a@example.com"})
	// Records without the field do not collide with each other.
	mustInsert(t, s, map[string]any{"name": "B"})
	mustInsert(t, s, map[string]any{"name": "C"})
	err := s.Insert(ctx(), "deal", rec(map[string]any{"name": "D", "email": "a@example.com"}), store.Sides{})
	var ue *store.UniqueError
	if !errors.As(err, &ue) || ue.Field != "email" {
		t.Fatalf("duplicate unique value: got %v, want UniqueError on email", err)
	}
	b := mustInsert(t, s, map[string]any{"name": "E", "email": "e@example.com"})
	b.Version = 2
	b.Data = map[string]any{"name": "E", "email": "a@example.com"}
	if err := s.Update(ctx(), "deal", b, store.Sides{}); !errors.As(err, &ue) {
		t.Fatalf("update to a duplicate: got %v, want UniqueError", err)
	}
}

// fixture inserts five deals with known values and returns them by name.
func fixture(t *testing.T, s store.Store) map[string]*store.Record {
	setup(t, s)
	rows := []map[string]any{
		{"name": "alpha", "amount": 100.0, "qty": int64(1), "stage": "lead", "close_date": "2026-01-15", "hot": true, "tags": []any{"vip", "east"}},
		{"name": "bravo", "amount": 2500.0, "qty": int64(5), "stage": "won", "close_date": "2026-02-01", "hot": false, "tags": []any{"east"}},
		{"name": "charlie", "amount": 900.0, "stage": "won", "close_date": "2026-02-20"},
		{"name": "delta", "qty": int64(7), "stage": "lost", "tags": []any{"west"}},
		{"name": "echo", "amount": 5000.0, "qty": int64(2), "close_date": "2025-12-31", "hot": true},
	}
	out := map[string]*store.Record{}
	for _, d := range rows {
		out[d["name"].(string)] = mustInsert(t, s, d)
	}
	return out
}

func names(rs []*store.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i], _ = r.Data["name"].(string)
	}
	return out
}

func sortedNames(rs []*store.Record) []string {
	n := names(rs)
	sort.Strings(n)
	return n
}

func c(op store.Op, field string, kind metadata.Kind, v any) *store.Cond {
	return &store.Cond{Op: op, Field: field, Kind: kind, Value: v}
}

func testFilterOps(t *testing.T, s store.Store, _ Capabilities) {
	fx := fixture(t, s)
	S, N, I, B, D, L := metadata.KindString, metadata.KindNumber, metadata.KindInteger, metadata.KindBoolean, metadata.KindDate, metadata.KindList
	cases := []struct {
		name string
		cond *store.Cond
		want []string
	}{
		{"all", nil, []string{"alpha", "bravo", "charlie", "delta", "echo"}},
		{"eq", c(store.OpEq, "stage", S, "won"), []string{"bravo", "charlie"}},
		{"ne includes null", c(store.OpNe, "stage", S, "won"), []string{"alpha", "delta", "echo"}},
		{"gt number", c(store.OpGt, "amount", N, 900.0), []string{"bravo", "echo"}},
		{"ge number", c(store.OpGe, "amount", N, 900.0), []string{"bravo", "charlie", "echo"}},
		{"lt excludes null", c(store.OpLt, "amount", N, 1000.0), []string{"alpha", "charlie"}},
		{"le integer", c(store.OpLe, "qty", I, int64(2)), []string{"alpha", "echo"}},
		{"date range", store.And(c(store.OpGe, "close_date", D, "2026-01-01"), c(store.OpLt, "close_date", D, "2026-02-15")), []string{"alpha", "bravo"}},
		{"bool true", c(store.OpEq, "hot", B, true), []string{"alpha", "echo"}},
		{"bool false", c(store.OpEq, "hot", B, false), []string{"bravo"}},
		{"in", &store.Cond{Op: store.OpIn, Field: "stage", Kind: S, Values: []any{"won", "lost"}}, []string{"bravo", "charlie", "delta"}},
		{"in empty", &store.Cond{Op: store.OpIn, Field: "stage", Kind: S, Values: nil}, nil},
		{"in a long list (a large team's members)", &store.Cond{Op: store.OpIn, Field: "owner", Kind: S, Values: longList(20000, "u1")}, []string{"alpha", "bravo", "charlie", "delta", "echo"}},
		{"not in includes null", &store.Cond{Op: store.OpNotIn, Field: "stage", Kind: S, Values: []any{"won", "lost"}}, []string{"alpha", "echo"}},
		{"is null", c(store.OpIsNull, "amount", N, nil), []string{"delta"}},
		{"not null", c(store.OpNotNull, "stage", S, nil), []string{"alpha", "bravo", "charlie", "delta"}},
		{"contains", c(store.OpContains, "name", S, "ar"), []string{"charlie"}},
		{"contains is case-sensitive", c(store.OpContains, "name", S, "AR"), nil},
		{"contains regex chars literally", c(store.OpContains, "name", S, ".*"), nil},
		{"contains, ASCII case folded", c(store.OpContainsFold, "name", S, "AR"), []string{"charlie"}},
		{"contains folded, regex chars literally", c(store.OpContainsFold, "name", S, "A.*"), nil},
		{"starts with", c(store.OpStartsWith, "name", S, "br"), []string{"bravo"}},
		{"ends with", c(store.OpEndsWith, "name", S, "ta"), []string{"delta"}},
		{"has", c(store.OpHas, "tags", L, "east"), []string{"alpha", "bravo"}},
		{"has any", &store.Cond{Op: store.OpHasAny, Field: "tags", Kind: L, Values: []any{"vip", "west"}}, []string{"alpha", "delta"}},
		{"or", store.Or(c(store.OpEq, "stage", S, "lost"), c(store.OpGt, "amount", N, 4000.0)), []string{"delta", "echo"}},
		{"not", &store.Cond{Op: store.OpNot, Args: []*store.Cond{c(store.OpGt, "amount", N, 1000.0)}}, []string{"alpha", "charlie", "delta"}},
		{"false", &store.Cond{Op: store.OpFalse}, nil},
		{"system id", c(store.OpEq, "id", S, fx["charlie"].ID), []string{"charlie"}},
		{"system owner", c(store.OpEq, "owner", S, "u1"), []string{"alpha", "bravo", "charlie", "delta", "echo"}},
		{"injection is a value", c(store.OpEq, "name", S, "x' OR '1'='1"), nil},
		{"operator is a value", c(store.OpEq, "name", S, map[string]any{"$ne": "x"}), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Find(ctx(), "deal", store.Query{Filter: tc.cond, Limit: 100})
			if tc.name == "operator is a value" {
				// A map as a value may be refused or match nothing; it must
				// never act as an operator.
				if err == nil && len(got) != 0 {
					t.Fatalf("a map value acted as an operator: %v", names(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.cond, err)
			}
			if g := sortedNames(got); !reflect.DeepEqual(g, tc.want) && !(len(g) == 0 && len(tc.want) == 0) {
				t.Fatalf("%s: got %v, want %v", tc.cond, g, tc.want)
			}
		})
	}
}

func testSortNulls(t *testing.T, s store.Store, _ Capabilities) {
	fixture(t, s)
	got, err := s.Find(ctx(), "deal", store.Query{Sort: []store.SortKey{{Field: "amount"}, {Field: "id"}}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"delta", "alpha", "charlie", "bravo", "echo"}; !reflect.DeepEqual(names(got), want) {
		t.Fatalf("ascending (nulls first): got %v, want %v", names(got), want)
	}
	got, err = s.Find(ctx(), "deal", store.Query{Sort: []store.SortKey{{Field: "amount", Desc: true}, {Field: "id"}}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"echo", "bravo", "charlie", "alpha", "delta"}; !reflect.DeepEqual(names(got), want) {
		t.Fatalf("descending (nulls last): got %v, want %v", names(got), want)
	}
	got, err = s.Find(ctx(), "deal", store.Query{Sort: []store.SortKey{{Field: "stage"}, {Field: "name", Desc: true}}, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"echo", "alpha", "delta"}; !reflect.DeepEqual(names(got), want) {
		t.Fatalf("two keys with limit: got %v, want %v", names(got), want)
	}
}

func testProjection(t *testing.T, s store.Store, _ Capabilities) {
	fixture(t, s)
	got, err := s.Find(ctx(), "deal", store.Query{Filter: c(store.OpEq, "name", metadata.KindString, "bravo"), Fields: []string{"amount"}, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("find: %v %v", got, err)
	}
	if _, ok := got[0].Data["name"]; ok {
		t.Fatalf("projection returned an unasked field: %v", got[0].Data)
	}
	if !sameValue(got[0].Data["amount"], 2500.0) || got[0].ID == "" || got[0].Version != 1 {
		t.Fatalf("projection lost asked or system fields: %+v", got[0])
	}
}

func testCountCap(t *testing.T, s store.Store, _ Capabilities) {
	fixture(t, s)
	n, capped, err := s.Count(ctx(), "deal", nil, 100)
	if err != nil || n != 5 || capped {
		t.Fatalf("count all: %d %v %v", n, capped, err)
	}
	n, capped, err = s.Count(ctx(), "deal", c(store.OpEq, "stage", metadata.KindString, "won"), 100)
	if err != nil || n != 2 || capped {
		t.Fatalf("count filtered: %d %v %v", n, capped, err)
	}
	n, capped, err = s.Count(ctx(), "deal", nil, 3)
	if err != nil || n != 3 || !capped {
		t.Fatalf("count capped at 3: %d %v %v", n, capped, err)
	}
}

func testAggregate(t *testing.T, s store.Store, _ Capabilities) {
	fixture(t, s)
	rows, err := s.Aggregate(ctx(), "deal", store.AggregateQuery{
		GroupBy:  []string{"stage"},
		Measures: []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}, {Op: "max", Field: "qty"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// "lost" holds one record without an amount: its sum is over no
	// values, null on every store (SQL's sum, not MongoDB's 0).
	want := map[any][3]any{nil: {1.0, 5000.0, 2.0}, "lead": {1.0, 100.0, 1.0}, "won": {2.0, 3400.0, 5.0}, "lost": {1.0, nil, 7.0}}
	if len(rows) != len(want) {
		t.Fatalf("groups: got %v", rows)
	}
	for _, r := range rows {
		w, ok := want[r.Keys[0]]
		if !ok {
			t.Fatalf("unexpected group %#v", r.Keys[0])
		}
		for i := range 3 {
			if w[i] == nil {
				if r.Values[i] != nil {
					t.Errorf("group %v measure %d: got %#v want null", r.Keys[0], i, r.Values[i])
				}
				continue
			}
			if got, _ := num(r.Values[i]); got != w[i] {
				t.Errorf("group %v measure %d: got %#v want %v", r.Keys[0], i, r.Values[i], w[i])
			}
		}
	}
	// Over no records at all, ungrouped: one row, count 0, sum null.
	rows, err = s.Aggregate(ctx(), "deal", store.AggregateQuery{
		Filter:   c(store.OpEq, "stage", metadata.KindString, "nowhere"),
		Measures: []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}, {Op: "sum", Field: "qty"}},
	})
	if err != nil || len(rows) != 1 {
		t.Fatalf("no records: %v %v", rows, err)
	}
	if n, _ := num(rows[0].Values[0]); n != 0 || rows[0].Values[1] != nil || rows[0].Values[2] != nil {
		t.Fatalf("no records: count and sums %#v, want 0, null, null", rows[0].Values)
	}
	rows, err = s.Aggregate(ctx(), "deal", store.AggregateQuery{
		Filter:   c(store.OpNotNull, "close_date", metadata.KindDate, nil),
		GroupBy:  []string{"close_date:month"},
		Measures: []store.Measure{{Op: "count"}, {Op: "avg", Field: "amount"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var months []any
	for _, r := range rows {
		months = append(months, r.Keys[0])
	}
	if want := []any{"2025-12", "2026-01", "2026-02"}; !reflect.DeepEqual(months, want) {
		t.Fatalf("month buckets: got %v want %v", months, want)
	}
	if avg, _ := num(rows[2].Values[1]); avg != 1700 {
		t.Fatalf("avg of 2026-02: got %v", rows[2].Values[1])
	}
	rows, err = s.Aggregate(ctx(), "deal", store.AggregateQuery{
		Filter:   c(store.OpEq, "hot", metadata.KindBoolean, true),
		Measures: []store.Measure{{Op: "count"}, {Op: "count_distinct", Field: "stage"}},
	})
	if err != nil || len(rows) != 1 {
		t.Fatalf("ungrouped: %v %v", rows, err)
	}
	if n, _ := num(rows[0].Values[0]); n != 2 {
		t.Fatalf("ungrouped count: %v", rows[0].Values)
	}
}

// testAggregateMany: several aggregates asked together (a dashboard's
// widgets) answer what each answers alone — the same one asked twice, one
// with a filter of its own, one in a zone, one refused — however the store
// computes them.
func testAggregateMany(t *testing.T, s store.Store, _ Capabilities) {
	fixture(t, s)
	qs := []store.AggregateQuery{
		{GroupBy: []string{"close_date:month"}, Measures: []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}}},
		{GroupBy: []string{"stage"}, Measures: []store.Measure{{Op: "max", Field: "qty"}, {Op: "avg", Field: "amount"}}, OrderBy: []store.AggregateOrder{{Measure: true, Desc: true}}},
		{GroupBy: []string{"close_date:month"}, Measures: []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}}},
		{Filter: c(store.OpEq, "hot", metadata.KindBoolean, true), GroupBy: []string{"stage"}, Measures: []store.Measure{{Op: "count"}}},
		{GroupBy: []string{"close_date:quarter", "stage"}, TimeZone: "Asia/Shanghai", Measures: []store.Measure{{Op: "count"}, {Op: "count_distinct", Field: "name"}}, Limit: 3},
		{Filter: c(store.OpEq, "stage", metadata.KindString, "won"), Measures: []store.Measure{{Op: "count"}, {Op: "sum", Field: "qty"}}},
		{GroupBy: []string{"stage"}, Measures: []store.Measure{{Op: "median", Field: "amount"}}},
	}
	want := make([][]store.AggregateRow, len(qs))
	wantErr := make([]bool, len(qs))
	for i, q := range qs {
		rows, err := s.Aggregate(ctx(), "deal", q)
		want[i], wantErr[i] = rows, err != nil
	}
	// A write, undone, so nothing kept from the answers above serves.
	r := mustInsert(t, s, map[string]any{"name": "gone", "amount": 1.0})
	if err := s.Delete(ctx(), "deal", r.ID, r.Version, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	got, errs := store.AggregateMany(ctx(), s, "deal", qs)
	if len(got) != len(qs) || len(errs) != len(qs) {
		t.Fatalf("%d answers and %d errors for %d queries", len(got), len(errs), len(qs))
	}
	for i := range qs {
		if (errs[i] != nil) != wantErr[i] {
			t.Errorf("query %d: error %v, alone it erred: %v", i, errs[i], wantErr[i])
			continue
		}
		if len(got[i]) != len(want[i]) {
			t.Errorf("query %d: %d groups, alone %d: %v vs %v", i, len(got[i]), len(want[i]), got[i], want[i])
			continue
		}
		for j := range want[i] {
			if fmt.Sprint(got[i][j]) != fmt.Sprint(want[i][j]) {
				t.Errorf("query %d group %d: %v, alone %v", i, j, got[i][j], want[i][j])
			}
		}
	}
	if len(want[0]) == 0 || len(want[4]) != 3 || !wantErr[6] {
		t.Fatalf("the fixture no longer gives the groups this test needs: %v, %v, %v", want[0], want[4], wantErr[6])
	}
}

func testUnsetField(t *testing.T, s store.Store, _ Capabilities) {
	fx := fixture(t, s)
	if err := s.UnsetField(ctx(), "deal", "qty", store.Sides{}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx(), "deal", fx["bravo"].ID)
	if _, ok := got.Data["qty"]; ok || got.Data["name"] != "bravo" {
		t.Fatalf("after purge: %v", got.Data)
	}
}

func testSequence(t *testing.T, s store.Store, _ Capabilities) {
	for want := int64(1); want <= 3; want++ {
		n, err := s.NextSequence(ctx(), "deal.number")
		if err != nil || n != want {
			t.Fatalf("sequence: got %d %v, want %d", n, err, want)
		}
	}
	if n, _ := s.NextSequence(ctx(), "other"); n != 1 {
		t.Fatalf("sequences are independent: got %d", n)
	}
}

func testDocs(t *testing.T, s store.Store, _ Capabilities) {
	d := &store.Doc{Kind: "user", ID: "u1", Key: "a@example.com", Version: 1, Data: []byte(`{"name":"A"}`)}
	if err := s.PutDoc(ctx(), d, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDoc(ctx(), &store.Doc{Kind: "user", ID: "u1", Version: 1, Data: []byte(`{}`)}, store.Sides{}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	if err := s.PutDoc(ctx(), &store.Doc{Kind: "user", ID: "u2", Key: "a@example.com", Version: 1, Data: []byte(`{}`)}, store.Sides{}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate key: %v", err)
	}
	// Keys are unique per kind only.
	if err := s.PutDoc(ctx(), &store.Doc{Kind: "token", ID: "t1", Key: "a@example.com", Version: 1, Data: []byte(`{}`)}, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDocByKey(ctx(), "user", "a@example.com")
	if err != nil || got.ID != "u1" || string(got.Data) != `{"name":"A"}` {
		t.Fatalf("by key: %+v %v", got, err)
	}
	d.Version = 2
	d.Data = []byte(`{"name":"B"}`)
	if err := s.PutDoc(ctx(), d, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	d.Data = []byte(`{"name":"C"}`)
	if err := s.PutDoc(ctx(), d, store.Sides{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale doc write: %v", err)
	}
	list, err := s.ListDocs(ctx(), "user")
	if err != nil || len(list) != 1 || list[0].Version != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := s.DeleteDoc(ctx(), "user", "u1", store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDoc(ctx(), "user", "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted doc: %v", err)
	}
}

func sides(action, id string) store.Sides {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return store.Sides{
		Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: "u1", IP: "127.0.0.1", Action: action, Entity: "deal", RecordID: id,
			Changes: map[string]any{"name": map[string]any{"to": "x"}}},
		Event: &store.Event{ID: store.NewID(), Type: action, Entity: "deal", RecordID: id, Version: 1, Actor: "u1", At: now, Payload: map[string]any{"k": "v"}},
	}
}

func testAuditOutbox(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	r := rec(map[string]any{"name": "A"})
	if err := s.Insert(ctx(), "deal", r, sides("record.created", r.ID)); err != nil {
		t.Fatal(err)
	}
	r.Version = 2
	if err := s.Update(ctx(), "deal", r, sides("record.updated", r.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx(), &store.AuditEntry{ID: store.NewID(), At: time.Now(), Actor: "u9", Action: "auth.login"}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListAudit(ctx(), store.AuditQuery{Limit: 10})
	if err != nil || len(all) != 3 || all[0].Action != "auth.login" {
		t.Fatalf("audit newest first: %+v %v", all, err)
	}
	mine, err := s.ListAudit(ctx(), store.AuditQuery{Entity: "deal", RecordID: r.ID})
	if err != nil || len(mine) != 2 || mine[0].Action != "record.updated" || mine[1].IP != "127.0.0.1" {
		t.Fatalf("audit by record: %+v %v", mine, err)
	}
	if ch, ok := mine[0].Changes["name"].(map[string]any); !ok || ch["to"] != "x" {
		t.Fatalf("audit changes: %#v", mine[0].Changes)
	}
	older, _ := s.ListAudit(ctx(), store.AuditQuery{Before: mine[0].ID})
	if len(older) != 1 || older[0].Action != "record.created" {
		t.Fatalf("audit before: %+v", older)
	}
	evs, err := s.Events(ctx(), "", 10)
	if err != nil || len(evs) != 2 || evs[0].Type != "record.created" || evs[1].Type != "record.updated" || evs[0].Payload["k"] != "v" {
		t.Fatalf("events oldest first: %+v %v", evs, err)
	}
	rest, _ := s.Events(ctx(), evs[0].Cursor, 10)
	if len(rest) != 1 || rest[0].ID != evs[1].ID {
		t.Fatalf("events after: %+v", rest)
	}
}

func testAtomic(t *testing.T, s store.Store, caps Capabilities) {
	if caps.NoTransactions != "" {
		t.Skip(caps.NoTransactions)
	}
	setup(t, s)
	mustInsert(t, s, map[string]any{"name": "A", "email": "a@example.com"})
	r := rec(map[string]any{"name": "B", "email": "a@example.com"})
	if err := s.Insert(ctx(), "deal", r, sides("record.created", r.ID)); err == nil {
		t.Fatal("duplicate insert succeeded")
	}
	// An audit entry whose id is taken makes the whole write fail: the
	// record must not be there either.
	ok := rec(map[string]any{"name": "C"})
	sd := sides("record.created", ok.ID)
	if err := s.Insert(ctx(), "deal", ok, sd); err != nil {
		t.Fatal(err)
	}
	again := rec(map[string]any{"name": "D"})
	sd.Event = nil
	if err := s.Insert(ctx(), "deal", again, sd); err == nil {
		t.Fatal("insert with a duplicate audit id succeeded")
	}
	if _, err := s.Get(ctx(), "deal", again.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record of a failed write is visible: %v", err)
	}
	evs, _ := s.Events(ctx(), "", 100)
	aud, _ := s.ListAudit(ctx(), store.AuditQuery{})
	if len(evs) != 1 || len(aud) != 1 {
		t.Fatalf("a failed write left sides behind: %d events, %d audit entries", len(evs), len(aud))
	}
}

func testIndexes(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	mustInsert(t, s, map[string]any{"name": "A", "email": "dup@example.com"})
	e := Deal()
	e.Field("email").Unique = false
	e.Version = 2
	if err := s.EnsureEntity(ctx(), e); err != nil {
		t.Fatal(err)
	}
	// Unique dropped: duplicates are allowed now.
	mustInsert(t, s, map[string]any{"name": "B", "email": "dup@example.com"})
	// Making it unique again must fail while duplicates exist, and say which field.
	e.Field("email").Unique = true
	e.Version = 3
	err := s.EnsureEntity(ctx(), e)
	var ue *store.UniqueError
	if !errors.As(err, &ue) || ue.Field != "email" {
		t.Fatalf("unique over duplicates: got %v, want UniqueError on email", err)
	}
	// A new field added later is filterable at once.
	e.Field("email").Unique = false
	e.Fields = append(e.Fields, &metadata.Field{Name: "region", Type: "text", Indexed: true})
	if err := s.EnsureEntity(ctx(), e); err != nil {
		t.Fatal(err)
	}
	// Compound indexes come and go with the metadata.
	e.Indexes = []*metadata.Index{{Fields: []string{"stage", "amount"}}, {Fields: []string{"owner", "region"}}}
	if err := s.EnsureEntity(ctx(), e); err != nil {
		t.Fatalf("compound index: %v", err)
	}
	e.Indexes = e.Indexes[:1]
	if err := s.EnsureEntity(ctx(), e); err != nil {
		t.Fatalf("dropping a compound index: %v", err)
	}
	mustInsert(t, s, map[string]any{"name": "C", "region": "east"})
	got, err := s.Find(ctx(), "deal", store.Query{Filter: c(store.OpEq, "region", metadata.KindString, "east"), Limit: 5})
	if err != nil || len(got) != 1 {
		t.Fatalf("new indexed field: %v %v", names(got), err)
	}
}

// longList is n values, all but the last unknown: an IN as long as a row
// rule's list of team members may be.
func longList(n int, last any) []any {
	out := make([]any, n)
	for i := range out[:n-1] {
		out[i] = fmt.Sprintf("nobody-%05d", i)
	}
	out[n-1] = last
	return out
}
