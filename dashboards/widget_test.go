package dashboards_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/server/servertest"
)

// TestBoardWidgetOptions: a widget's own time zone buckets and drills in that
// zone rather than the dashboard's; several measures each equal the raw
// records' numbers, sorted by any of them, folded into Other past the top
// N over a second group-by, and cumulated each on its own — on both stores.
func TestBoardWidgetOptions(t *testing.T) {
	for name, open := range servertest.Stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			_, _, _, deals := org(t, admin)
			month := map[string]any{"field": "closed_at", "bucket": "month"}
			byStage := map[string]any{"field": "stage"}
			two := []any{map[string]any{"op": "count"}, map[string]any{"op": "sum", "field": "amount"}}
			var d struct{ ID string }
			admin.Do("POST", "/api/v1/dashboards", map[string]any{"name": "Zones", "timezone": "Asia/Shanghai", "widgets": []any{
				widget("board_zone", "line", map[string]any{"entity": "deal", "group_by": []any{month}}),
				widget("utc", "line", map[string]any{"entity": "deal", "group_by": []any{month}, "timezone": "UTC"}),
				widget("new_york", "line", map[string]any{"entity": "deal", "group_by": []any{month}, "timezone": "America/New_York"}),
				widget("by_sum", "bar", map[string]any{"entity": "deal", "group_by": []any{byStage}, "measures": two, "sort": "-value.1"}),
				widget("top_two", "table", map[string]any{"entity": "deal", "group_by": []any{byStage, map[string]any{"field": "source"}},
					"measures": two, "sort": "-value.1", "limit": 2, "timezone": "UTC"}),
				map[string]any{"id": "running", "type": "line", "cumulative": true,
					"query": map[string]any{"entity": "deal", "group_by": []any{month}, "measures": two, "timezone": "UTC"}},
			}}, 201, &d)
			get := func(wid string) result {
				var r result
				admin.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/"+wid+"/data", nil, 200, &r)
				return r
			}

			// Months in each zone: the record at 2026-03-31T16:30Z is April
			// in Shanghai, March in UTC and New York.
			for wid, zone := range map[string]string{"board_zone": "Asia/Shanghai", "utc": "UTC", "new_york": "America/New_York"} {
				loc, _ := time.LoadLocation(zone)
				want := map[string]int{}
				for _, x := range deals {
					k := "<nil>"
					if x.closedAt != nil {
						k = x.closedAt.In(loc).Format("2006-01")
					}
					want[k]++
				}
				got := map[string]int{}
				for _, row := range get(wid).Rows {
					k := fmt.Sprint(row.Keys[0])
					got[k] = int(f(row.Value))
					if n, _ := listed(t, admin, row.Drill); n != got[k] {
						t.Errorf("%s %s: the drill lists %d, the point says %d", wid, k, n, got[k])
					}
				}
				for k, n := range want {
					if got[k] != n {
						t.Errorf("%s (%s) %s: %d, want %d", wid, zone, k, got[k], n)
					}
				}
			}
			drillOf := func(wid, key string) string {
				for _, row := range get(wid).Rows {
					if row.Keys[0] == key {
						return row.Drill
					}
				}
				return ""
			}
			if u, s := drillOf("utc", "2026-03"), drillOf("board_zone", "2026-03"); u == s || !strings.Contains(u, "2026-03-01T00:00:00Z") {
				t.Errorf("the UTC widget's March drills %q (the dashboard's zone's: %q)", u, s)
			}

			// Two measures, sorted by the second (the sum), descending.
			type agg struct {
				count int
				sum   float64
			}
			byKey := func(key func(deal) string, keep func(deal) bool) map[string]*agg {
				out := map[string]*agg{}
				for _, x := range deals {
					if !keep(x) {
						continue
					}
					k := key(x)
					if out[k] == nil {
						out[k] = &agg{}
					}
					out[k].count++
					if x.amount != nil {
						out[k].sum += *x.amount
					}
				}
				return out
			}
			all := func(deal) bool { return true }
			stageOf := func(x deal) string { return x.stage }
			stagesBySum := byKey(stageOf, all)
			r := get("by_sum")
			if len(r.Rows) != len(stagesBySum) {
				t.Fatalf("by_sum: %+v", r.Rows)
			}
			for i, row := range r.Rows {
				w := stagesBySum[row.Keys[0].(string)]
				if len(row.Values) != 2 || int(f(row.Values[0])) != w.count || f(row.Values[1]) != w.sum {
					t.Errorf("by_sum %v: %v, want [%d %v]", row.Keys, row.Values, w.count, w.sum)
				}
				if i > 0 && f(row.Values[1]) > f(r.Rows[i-1].Values[1]) {
					t.Errorf("by_sum is not by the sum, descending: %+v", r.Rows)
				}
			}

			// The top two stages by the sum, each by source, then Other by
			// source: every cell equals the raw records'.
			ranked := []string{}
			for s := range stagesBySum {
				ranked = append(ranked, s)
			}
			sort.Slice(ranked, func(i, j int) bool { return stagesBySum[ranked[i]].sum > stagesBySum[ranked[j]].sum })
			top := map[string]bool{ranked[0]: true, ranked[1]: true}
			cell := func(x deal) string {
				s := x.stage
				if !top[s] {
					s = "Other"
				}
				src := x.source
				if src == "" {
					src = "<nil>"
				}
				return s + "/" + src
			}
			want := byKey(cell, all)
			r = get("top_two")
			seen := map[string]bool{}
			for _, row := range r.Rows {
				k := fmt.Sprint(row.Keys[0]) + "/" + fmt.Sprint(row.Keys[1])
				seen[k] = true
				w := want[k]
				if w == nil || row.Other != (row.Keys[0] == "Other") || int(f(row.Values[0])) != w.count || f(row.Values[1]) != w.sum {
					t.Errorf("top_two %s: %v (other %v), want %+v", k, row.Values, row.Other, w)
					continue
				}
				if n, sum := listed(t, admin, row.Drill); n != w.count || sum != w.sum {
					t.Errorf("top_two %s: the drill lists %d summing %v", k, n, sum)
				}
			}
			if len(seen) != len(want) {
				t.Errorf("top_two: rows %v, want %d cells", seen, len(want))
			}
			if !top[fmt.Sprint(r.Rows[0].Keys[0])] {
				t.Errorf("top_two does not start with a top stage: %+v", r.Rows[0])
			}

			// Running totals, each measure its own, from the first point on
			// the axis (the deals without a date, "(none)").
			r = get("running")
			var count, sum float64
			months := byKey(func(x deal) string {
				if x.closedAt == nil {
					return "<nil>"
				}
				return x.closedAt.UTC().Format("2006-01")
			}, all)
			for _, row := range r.Rows {
				if m := months[fmt.Sprint(row.Keys[0])]; m != nil {
					count += float64(m.count)
					sum += m.sum
				}
				if f(row.Values[0]) != count || f(row.Values[1]) != sum || f(row.Value) != count {
					t.Errorf("running %v: %v, want [%v %v]", row.Keys, row.Values, count, sum)
				}
			}
			if count != float64(len(deals)) {
				t.Errorf("running: the count ends at %v", count)
			}

			// Refused: a sort by a measure there is not, a second measure
			// on a chart of two group-bys; the errors carry what the app
			// needs to say them in the person's language.
			for _, c := range []struct {
				w            map[string]any
				field, param string
			}{
				{widget("w", "bar", map[string]any{"entity": "deal", "group_by": []any{byStage}, "measures": two, "sort": "value.2"}), "widgets.0.query.sort", "sort"},
				{widget("w", "grouped_bar", map[string]any{"entity": "deal", "group_by": []any{byStage, month}, "measures": two}), "widgets.0.query.measures", "type"},
				{widget("w", "bar", map[string]any{"entity": "deal", "group_by": []any{byStage}, "timezone": "Mars/Olympus"}), "widgets.0.query.timezone", "zone"},
			} {
				resp := admin.Raw("POST", "/api/v1/dashboards", boardOf(c.w))
				var p struct {
					Errors []struct {
						Field, Code string
						Params      map[string]any
					}
				}
				_ = json.Unmarshal(resp.Body, &p)
				ok := false
				for _, e := range p.Errors {
					ok = ok || e.Field == c.field && e.Params["widget"] == "w" && e.Params[c.param] != nil
				}
				if resp.Status != 422 || !ok {
					t.Errorf("%s: %d %s", c.field, resp.Status, resp.Body)
				}
			}
			if resp := admin.Raw("POST", "/api/v1/dashboards", boardOf(widget("w", "table", map[string]any{"entity": "deal", "group_by": []any{byStage, month}, "measures": two}))); resp.Status != 201 {
				t.Errorf("a table of two group-bys and two measures: %d %s", resp.Status, strings.TrimSpace(string(resp.Body)))
			}
		})
	}
}
