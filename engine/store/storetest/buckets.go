package storetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// visit is the entity the bucket tests work on: an instant, a calendar
// day, a key for a second group-by and a number to measure.
func visit() *metadata.Entity {
	return &metadata.Entity{Name: "visit", Ownership: true, Version: 1, Fields: []*metadata.Field{
		{Name: "at", Type: "datetime"},
		{Name: "day", Type: "date"},
		{Name: "stage", Type: "select", Options: []metadata.Option{{Value: "lead"}, {Value: "won"}, {Value: "lost"}}},
		{Name: "amount", Type: "number"},
	}}
}

// refBucket buckets with the time package alone, independently of
// store.Bucketer.
func refBucket(unit string, t time.Time) string {
	switch unit {
	case "hour":
		return t.Format("2006-01-02T15")
	case "day":
		return t.Format("2006-01-02")
	case "week":
		y, w := t.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	case "month":
		return t.Format("2006-01")
	case "quarter":
		return fmt.Sprintf("%04d-Q%d", t.Year(), (int(t.Month())+2)/3)
	}
	return t.Format("2006")
}

type refGroup struct {
	keys    []any
	count   int64
	sum     float64
	summed  int
	min     *float64
	max     *float64
	stages  map[string]bool
	ordinal int
}

// testAggregateBuckets compares every bucket in three zones, with a
// second group-by and all measures, against groups computed here from the
// raw records — the edge of a month in Shanghai, both daylight-saving
// changes in New York, records without the date or the amount.
func testAggregateBuckets(t *testing.T, s store.Store, _ Capabilities) {
	if err := s.EnsureEntity(ctx(), visit()); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	fixed := []string{
		"2026-03-31T16:30:00.000Z", // April in Shanghai, March in UTC
		"2026-03-08T06:59:59.000Z", // 01:59 EST
		"2026-03-08T07:00:00.000Z", // 03:00 EDT
		"2026-11-01T05:30:00.000Z", // 01:30 EDT
		"2026-11-01T06:30:00.000Z", // 01:30 EST
		"2026-12-31T23:30:00.000Z", // next year in Shanghai
		"2027-01-01T04:59:00.000Z", // last year in New York
	}
	lo := time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC).Unix()
	type raw struct {
		at     *time.Time
		day    string
		stage  any
		amount *float64
	}
	var recs []raw
	for i := range 160 {
		var at *time.Time
		if i < len(fixed) {
			v, _ := time.Parse(time.RFC3339, fixed[i])
			at = &v
		} else if i%9 != 0 {
			v := time.Unix(lo+rnd.Int64N(500*86400), 0).UTC()
			at = &v
		}
		r := raw{stage: []any{"lead", "won", "lost", nil}[i%4]}
		r.at = at
		if i%7 != 0 {
			a := float64(rnd.IntN(100000)) / 4
			r.amount = &a
		}
		if i%5 != 0 {
			r.day = time.Unix(lo+rnd.Int64N(500*86400), 0).UTC().Format("2006-01-02")
		}
		d := map[string]any{}
		if r.at != nil {
			d["at"] = metadata.FormatDateTime(*r.at)
		}
		if r.day != "" {
			d["day"] = r.day
		}
		if r.stage != nil {
			d["stage"] = r.stage
		}
		if r.amount != nil {
			d["amount"] = *r.amount
		}
		rr := rec(d)
		if err := s.Insert(ctx(), "visit", rr, store.Sides{}); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	measures := []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}, {Op: "avg", Field: "amount"},
		{Op: "min", Field: "amount"}, {Op: "max", Field: "amount"}, {Op: "count_distinct", Field: "stage"}}
	expect := func(field, unit, zone string, second bool) []*refGroup {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		groups := map[string]*refGroup{}
		var out []*refGroup
		for _, r := range recs {
			var k any
			if field == "at" && r.at != nil {
				k = refBucket(unit, r.at.In(loc))
			}
			if field == "day" && r.day != "" {
				d, _ := time.Parse("2006-01-02", r.day)
				k = refBucket(unit, d) // a calendar day: no zone
			}
			keys := []any{k}
			if second {
				keys = append(keys, r.stage)
			}
			sig := fmt.Sprint(keys...)
			g := groups[sig]
			if g == nil {
				g = &refGroup{keys: keys, stages: map[string]bool{}}
				groups[sig] = g
				out = append(out, g)
			}
			g.count++
			if r.amount != nil {
				a := *r.amount
				g.sum += a
				g.summed++
				if g.min == nil || a < *g.min {
					g.min = &a
				}
				if g.max == nil || a > *g.max {
					g.max = &a
				}
			}
			if st, ok := r.stage.(string); ok {
				g.stages[st] = true
			}
		}
		return out
	}
	less := func(a, b any) int { // nulls first, then strings
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		case b == nil:
			return 1
		case a.(string) < b.(string):
			return -1
		case a.(string) > b.(string):
			return 1
		}
		return 0
	}
	byKeys := func(gs []*refGroup) {
		sort.SliceStable(gs, func(i, j int) bool {
			for k := range gs[i].keys {
				if c := less(gs[i].keys[k], gs[j].keys[k]); c != 0 {
					return c < 0
				}
			}
			return false
		})
	}
	check := func(name string, got []store.AggregateRow, want []*refGroup) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d groups, want %d\ngot %v", name, len(got), len(want), got)
		}
		for i, w := range want {
			g := got[i]
			for k := range w.keys {
				if !sameValue(g.Keys[k], w.keys[k]) {
					t.Fatalf("%s: group %d keys %v, want %v", name, i, g.Keys, w.keys)
				}
			}
			vals := []any{float64(w.count), nil, nil, nil, nil, float64(len(w.stages))}
			if w.summed > 0 {
				vals[1], vals[2], vals[3], vals[4] = w.sum, w.sum/float64(w.summed), *w.min, *w.max
			}
			for m, v := range vals {
				if v == nil {
					if g.Values[m] != nil {
						t.Errorf("%s: group %v measure %s: got %v, want null", name, w.keys, measures[m].Op, g.Values[m])
					}
					continue
				}
				f, ok := num(g.Values[m])
				if !ok || math.Abs(f-v.(float64)) > 1e-6*math.Max(1, math.Abs(v.(float64))) {
					t.Errorf("%s: group %v measure %s: got %#v, want %v", name, w.keys, measures[m].Op, g.Values[m], v)
				}
			}
		}
	}
	for _, zone := range []string{"UTC", "Asia/Shanghai", "America/New_York"} {
		for _, unit := range store.Buckets {
			for _, field := range []string{"at", "day"} {
				for _, second := range []bool{false, true} {
					q := store.AggregateQuery{GroupBy: []string{field + ":" + unit}, Measures: measures, TimeZone: zone}
					if second {
						q.GroupBy = append(q.GroupBy, "stage")
					}
					name := fmt.Sprintf("%v in %s", q.GroupBy, zone)
					rows, err := s.Aggregate(ctx(), "visit", q)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					want := expect(field, unit, zone, second)
					byKeys(want)
					check(name, rows, want)
				}
			}
		}
	}
	// The record at 2026-03-31T16:30Z by itself: April in Shanghai.
	at := c(store.OpEq, "at", metadata.KindDateTime, "2026-03-31T16:30:00.000Z")
	for zone, month := range map[string]string{"UTC": "2026-03", "Asia/Shanghai": "2026-04", "America/New_York": "2026-03"} {
		rows, err := s.Aggregate(ctx(), "visit", store.AggregateQuery{Filter: at, GroupBy: []string{"at:month"}, Measures: []store.Measure{{Op: "count"}}, TimeZone: zone})
		if err != nil || len(rows) != 1 || rows[0].Keys[0] != month {
			t.Fatalf("edge record in %s: %v %v, want month %s", zone, rows, err, month)
		}
	}
	// Ordered by a measure, descending, ties by key; then the top five.
	for _, m := range []int{0, 1, 5} {
		q := store.AggregateQuery{GroupBy: []string{"at:month"}, Measures: measures, TimeZone: "Asia/Shanghai",
			OrderBy: []store.AggregateOrder{{Measure: true, Index: m, Desc: true}}, Limit: 5}
		rows, err := s.Aggregate(ctx(), "visit", q)
		if err != nil {
			t.Fatal(err)
		}
		want := expect("at", "month", "Asia/Shanghai", false)
		byKeys(want)
		val := func(g *refGroup) float64 {
			switch m {
			case 0:
				return float64(g.count)
			case 1:
				if g.summed == 0 {
					return math.Inf(-1) // null: last when descending
				}
				return g.sum
			}
			return float64(len(g.stages))
		}
		sort.SliceStable(want, func(i, j int) bool { return val(want[i]) > val(want[j]) })
		check(fmt.Sprintf("by measure %d desc", m), rows, want[:5])
	}
	// Ordered by the key descending: nulls last.
	rows, err := s.Aggregate(ctx(), "visit", store.AggregateQuery{GroupBy: []string{"stage"}, Measures: measures,
		OrderBy: []store.AggregateOrder{{Index: 0, Desc: true}}})
	if err != nil {
		t.Fatal(err)
	}
	var keys []any
	for _, r := range rows {
		keys = append(keys, r.Keys[0])
	}
	if fmt.Sprint(keys) != "[won lost lead <nil>]" {
		t.Fatalf("stage descending: %v", keys)
	}
	for _, bad := range []store.AggregateQuery{
		{GroupBy: []string{"at:fortnight"}, Measures: measures},
		{GroupBy: []string{"at:day"}, Measures: measures, TimeZone: "Mars/Olympus"},
		{GroupBy: []string{"at:day"}, Measures: measures, OrderBy: []store.AggregateOrder{{Measure: true, Index: 6}}},
		{GroupBy: []string{"at:day"}, Measures: measures, OrderBy: []store.AggregateOrder{{Index: 1}}},
	} {
		if _, err := s.Aggregate(ctx(), "visit", bad); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}
