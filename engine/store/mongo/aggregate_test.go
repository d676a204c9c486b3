package mongo

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/metadata"
)

// TestAggregateLocalMatchesPipeline runs the same aggregates through the
// server's pipeline and through aggregateLocal (FerretDB's path) and wants
// the same rows, so the two never drift apart.
func TestAggregateLocalMatchesPipeline(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, mongotest.URI(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ferret {
		t.Skip("FerretDB v1 cannot run the pipeline ($avg/$min/$max/$addToSet, $cond, $substrBytes are not implemented); run with JIMU_TEST_MONGO_URI to compare")
	}
	e := &metadata.Entity{Name: "agg", Fields: []*metadata.Field{
		{Name: "stage", Type: "text"}, {Name: "amount", Type: "number"}, {Name: "qty", Type: "integer"},
		{Name: "at", Type: "datetime"}, {Name: "tags", Type: "tags"},
	}}
	if err := s.EnsureEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 40 {
		d := map[string]any{"qty": int64(i % 7)}
		if i%3 != 0 {
			d["stage"] = fmt.Sprint("s", i%4)
		}
		if i%5 != 0 {
			d["amount"] = float64(i) / 4
		}
		if i%6 != 0 {
			d["at"] = metadata.FormatDateTime(now.AddDate(0, -i%13, -i))
		}
		r := &store.Record{ID: fmt.Sprintf("r%03d", i), Version: 1, CreatedAt: now, UpdatedAt: now, Owner: fmt.Sprint("u", i%3), Data: d}
		if err := s.Insert(ctx, "agg", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	all := []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}, {Op: "sum", Field: "qty"}, {Op: "avg", Field: "amount"},
		{Op: "min", Field: "at"}, {Op: "max", Field: "amount"}, {Op: "count_distinct", Field: "owner"}}
	for _, q := range []store.AggregateQuery{
		{Measures: all},
		{GroupBy: []string{"stage"}, Measures: all},
		{GroupBy: []string{"at:month", "owner"}, Measures: all, Limit: 7},
		{GroupBy: []string{"at:year"}, Measures: all, Filter: &store.Cond{Op: store.OpGt, Field: "qty", Kind: metadata.KindInteger, Value: int64(2)}},
		{GroupBy: []string{"at:day"}, Measures: []store.Measure{{Op: "count"}}},
		{GroupBy: []string{"at:hour"}, Measures: all, TimeZone: "America/New_York"},
		{GroupBy: []string{"at:week", "stage"}, Measures: all, TimeZone: "Asia/Shanghai"},
		{GroupBy: []string{"at:quarter"}, Measures: all, TimeZone: "Asia/Shanghai", OrderBy: []store.AggregateOrder{{Measure: true, Index: 1, Desc: true}}, Limit: 3},
		{GroupBy: []string{"at:month"}, Measures: all, TimeZone: "America/New_York"},
		{GroupBy: []string{"stage"}, Measures: all, OrderBy: []store.AggregateOrder{{Measure: true, Index: 0, Desc: true}}},
	} {
		filter, err := Translate(q.Filter)
		if err != nil {
			t.Fatal(err)
		}
		keys, ms, err := parseAggregate(q)
		if err != nil {
			t.Fatal(err)
		}
		coll := s.db.Collection(recColl("agg"))
		server, err := aggregateServer(ctx, coll, filter, keys, ms, q.OrderBy, q.TimeZone, q.Limit)
		if err != nil {
			t.Fatal(err)
		}
		local, err := aggregateLocal(ctx, coll, filter, keys, ms, q.OrderBy, q.Limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(roundRows(server), roundRows(local)) {
			t.Errorf("%v:\nserver %v\nlocal  %v", q.GroupBy, server, local)
		}
	}
}

// roundRows rounds floats, since the server and Go may sum in another order.
func roundRows(rows []store.AggregateRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%v", r.Keys)
		for _, v := range r.Values {
			if f, ok := v.(float64); ok {
				out[i] += fmt.Sprintf(" %.6f", f)
			} else {
				out[i] += fmt.Sprintf(" %T(%v)", v, v)
			}
		}
	}
	return out
}
