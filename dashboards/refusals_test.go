package dashboards_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/server/servertest"
)

func widget(id, typ string, query map[string]any) map[string]any {
	return map[string]any{"id": id, "type": typ, "query": query}
}

func boardOf(ws ...any) map[string]any {
	return map[string]any{"name": "B", "widgets": ws}
}

// TestSaveRefuses: bad widgets are refused at save, each error naming the
// widget and the problem, and nothing is saved.
func TestSaveRefuses(t *testing.T) {
	for name, open := range servertest.Stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			rep1, _, _, _ := org(t, admin)
			byStage := []any{map[string]any{"field": "stage"}}
			cases := []struct {
				who   *servertest.Env
				board map[string]any
				field string // the error's path
				words string // in its message
			}{
				{admin, boardOf(widget("w", "bar", map[string]any{"entity": "deal", "group_by": byStage, "measure": map[string]any{"op": "sum", "field": "name"}})),
					"widgets.0.query.measure.field", "widget w: cannot sum name: not a number field"},
				{admin, boardOf(widget("w", "bar", map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "nope"}}})),
					"widgets.0.query.group_by.0.field", `widget w: deal has no field "nope"`},
				{admin, boardOf(widget("w", "line", map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "name", "bucket": "month"}}})),
					"widgets.0.query.group_by.0.bucket", "widget w: name is not a date"},
				{admin, boardOf(widget("w", "line", map[string]any{"entity": "deal", "timezone": "Mars/Olympus", "group_by": []any{map[string]any{"field": "closed_at", "bucket": "month"}}})),
					"widgets.0.query.timezone", `widget w: unknown time zone "Mars/Olympus"`},
				{admin, boardOf(widget("w", "bar", map[string]any{"entity": "deal", "filter": "amount >", "group_by": byStage})),
					"widgets.0.query.filter", "widget w:"},
				{admin, boardOf(widget("w", "funnel", map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "name"}}})),
					"widgets.0.query.group_by.0.field", "widget w: a funnel's steps are the options of a select field"},
				{admin, boardOf(widget("w", "kpi", map[string]any{"entity": "deal", "group_by": byStage})),
					"widgets.0.query.group_by", "widget w: a kpi widget shows one number"},
				{admin, boardOf(widget("w", "bar", map[string]any{"entity": "nothing", "group_by": byStage})),
					"widgets.0.query.entity", `widget w: no entity "nothing"`},
				{admin, boardOf(widget("w", "bar", map[string]any{"entity": "deal", "group_by": byStage, "measure": map[string]any{"op": "median", "field": "amount"}})),
					"widgets.0.query.measure.op", "widget w: "},
				{admin, boardOf(widget("w", "sparkline", map[string]any{"entity": "deal"})),
					"widgets.0.type", "widget w: "},
				{admin, boardOf(widget("w", "bar", map[string]any{"entity": "deal", "group_by": byStage}), widget("w", "pie", map[string]any{"entity": "deal", "group_by": byStage})),
					"widgets.1.id", "widget w: another widget has this id"},
				{admin, map[string]any{"name": "B", "timezone": "Moon/Base", "widgets": []any{}}, "timezone", "unknown time zone"},
				// A rep may not measure the margin hidden from them, nor share with everyone.
				{rep1, boardOf(widget("m", "bar", map[string]any{"entity": "deal", "group_by": byStage, "measure": map[string]any{"op": "avg", "field": "margin"}})),
					"widgets.0.query.measure.field", `widget m: deal has no field "margin"`},
				{rep1, map[string]any{"name": "B", "sharing": "everyone", "widgets": []any{}}, "sharing", "only an admin"},
				{admin, map[string]any{"name": "B", "filters": []any{map[string]any{"type": "date", "field": "stage"}},
					"widgets": []any{widget("w", "bar", map[string]any{"entity": "deal", "group_by": byStage})}}, "filters.0.field", "a date filter needs a date field"},
			}
			for _, c := range cases {
				r := c.who.Raw("POST", "/api/v1/dashboards", c.board)
				if r.Status != 422 && r.Status != 400 {
					t.Errorf("%s: status %d: %s", c.field, r.Status, r.Body)
					continue
				}
				var p struct {
					Errors []struct{ Field, Message string }
				}
				_ = json.Unmarshal(r.Body, &p)
				found := false
				for _, e := range p.Errors {
					if e.Field == c.field && strings.Contains(e.Message, c.words) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s %q: got %s", c.field, c.words, r.Body)
				}
			}
			var list struct{ Items []any }
			admin.Do("GET", "/api/v1/dashboards", nil, 200, &list)
			if len(list.Items) != 0 {
				t.Fatalf("refused dashboards were saved: %v", list.Items)
			}
		})
	}
}

// TestFiltersAndSharing: dashboard filters reach every widget, and so does
// their drill; a KPI compares with the period before the date range; who
// sees a dashboard follows its sharing; a write shows in the next answer.
func TestFiltersAndSharing(t *testing.T) {
	for name, open := range servertest.Stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			rep1, rep2, mgr, deals := org(t, admin)
			var d struct {
				ID      string
				Version int64
			}
			admin.Do("POST", "/api/v1/dashboards", board, 201, &d)
			path := "/api/v1/dashboards/" + d.ID + "/widgets/"
			// The owner filter: "me" is the viewer.
			var r result
			rep1ID := ""
			for _, x := range deals {
				if x.name == "deal 01" {
					rep1ID = x.owner
				}
			}
			admin.Do("GET", path+"kpi/data?filter.owner="+url.QueryEscape(rep1ID), nil, 200, &r)
			won := 0
			for _, x := range deals {
				if x.stage == "won" && x.owner == rep1ID {
					won++
				}
			}
			if int(f(r.KPI.Value)) != won {
				t.Errorf("kpi for rep1 by the owner filter: %v, want %d", r.KPI.Value, won)
			}
			// A date range in the dashboard's zone, and the period before it.
			in := func(from, to string) int {
				n := 0
				for _, x := range deals {
					if x.stage == "won" && x.closedAt != nil {
						day := x.closedAt.In(shanghai()).Format("2006-01-02")
						if day >= from && day <= to {
							n++
						}
					}
				}
				return n
			}
			admin.Do("GET", path+"kpi/data?filter.closed_at=2026-01-01..2026-03-31", nil, 200, &r)
			if int(f(r.KPI.Value)) != in("2026-01-01", "2026-03-31") || int(f(r.KPI.Previous)) != in("2025-10-03", "2025-12-31") {
				t.Errorf("kpi in Q1: %+v, want %d against %d", r.KPI, in("2026-01-01", "2026-03-31"), in("2025-10-03", "2025-12-31"))
			}
			if n, _ := listed(t, admin, r.Rows[0].Drill); n != in("2026-01-01", "2026-03-31") {
				t.Errorf("the kpi's drill lists %d", n)
			}
			// The month series fills the range's empty buckets.
			admin.Do("GET", path+"per_month/data?filter.closed_at=2025-06-01..2026-03-31", nil, 200, &r)
			if len(r.Rows) != 10 || r.Rows[0].Keys[0] != "2025-06" || r.Rows[9].Keys[0] != "2026-03" {
				t.Errorf("per_month over a range: %+v", r.Rows)
			}
			admin.Do("GET", path+"per_month/data?filter.closed_at=last_30_days", nil, 200, &r)
			if resp := admin.Raw("GET", path+"per_month/data?filter.closed_at=someday", nil); resp.Status != 400 {
				t.Errorf("a bad date range: %d %s", resp.Status, resp.Body)
			}
			// Record text is data: the name travels as a JSON string.
			resp := admin.Raw("GET", path+"top_names/data", nil)
			if !strings.Contains(string(resp.Body), `\u003cimg src=x onerror=alert(1)\u003e`) && !strings.Contains(string(resp.Body), `"<img src=x onerror=alert(1)>"`) {
				t.Logf("top_names does not hold the XSS name (not in the top 5)")
			}
			csv := admin.Raw("GET", path+"by_stage/data.csv", nil)
			if csv.Status != 200 || !strings.HasPrefix(string(csv.Body), "stage,sum:amount,drill\n") {
				t.Errorf("csv: %d %q", csv.Status, csv.Body)
			}
			// A write to the entity shows in the next answer (the kept
			// aggregate is dropped).
			var before, after result
			admin.Do("GET", path+"kpi/data", nil, 200, &before)
			admin.Do("POST", "/api/v1/records/deal", map[string]any{"name": "new", "stage": "won"}, 201, nil)
			admin.Do("GET", path+"kpi/data", nil, 200, &after)
			if f(after.KPI.Value) != f(before.KPI.Value)+1 {
				t.Errorf("after a write: %v, before %v", after.KPI.Value, before.KPI.Value)
			}
			// Sharing: private to the owner, then with a role.
			priv := map[string]any{"name": "Mine", "sharing": "private", "widgets": []any{widget("n", "kpi", map[string]any{"entity": "deal"})}}
			var p struct {
				ID      string
				Version int64
			}
			rep1.Do("POST", "/api/v1/dashboards", priv, 201, &p)
			rep2.Do("GET", "/api/v1/dashboards/"+p.ID, nil, 404, nil)
			rep2.Do("GET", "/api/v1/dashboards/"+p.ID+"/widgets/n/data", nil, 404, nil)
			mgr.Do("GET", "/api/v1/dashboards/"+p.ID, nil, 404, nil)
			priv["sharing"] = map[string]any{"roles": []string{"sales_rep"}}
			rep1.Do("PUT", "/api/v1/dashboards/"+p.ID, priv, 200, &p, "If-Match", `"1"`)
			if p.Version != 2 {
				t.Errorf("version after a change: %d", p.Version)
			}
			rep2.Do("GET", "/api/v1/dashboards/"+p.ID, nil, 200, nil)
			mgr.Do("GET", "/api/v1/dashboards/"+p.ID, nil, 404, nil)
			rep2.Do("PUT", "/api/v1/dashboards/"+p.ID, priv, 403, nil)
			rep1.Do("PUT", "/api/v1/dashboards/"+p.ID, priv, 409, nil, "If-Match", `"1"`)
			rep2.Do("DELETE", "/api/v1/dashboards/"+p.ID, nil, 403, nil)
			rep1.Do("DELETE", "/api/v1/dashboards/"+p.ID, nil, 204, nil)
			rep2.Do("GET", "/api/v1/dashboards/"+p.ID, nil, 404, nil)
			// Everyone sees the admin's shared board.
			mgr.Do("GET", "/api/v1/dashboards/"+d.ID, nil, 200, nil)
		})
	}
}
