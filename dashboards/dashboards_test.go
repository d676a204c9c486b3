package dashboards_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/dashboards"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/server/servertest"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

func start(t *testing.T, st store.Store) *servertest.Env {
	return servertest.Start(t, st, auth.Options{}, func(d *server.Deps) {
		d.Modules = append(d.Modules, &dashboards.Module{Dashboards: dashboards.New(d.Store, d.Catalog, d.Records)})
	})
}

// deal is a record as created, for computing expected numbers from raw data.
type deal struct {
	id, name, owner, stage, source string
	amount                         *float64
	closedAt                       *time.Time
}

var stages = []string{"lead", "qualified", "proposal", "won", "lost"}

const xss = `<img src=x onerror=alert(1)>`

// org: deals by two reps (who may not see the margin), a manager who sees all.
func org(t *testing.T, e *servertest.Env) (rep1, rep2, mgr *servertest.Env, deals []deal) {
	opts := []any{}
	for _, s := range stages {
		opts = append(opts, map[string]any{"value": s, "label": strings.ToUpper(s[:1]) + s[1:]})
	}
	e.Do("POST", "/api/v1/meta/entities", map[string]any{"name": "deal", "ownership": true, "fields": []any{
		map[string]any{"name": "name", "type": "text"},
		map[string]any{"name": "amount", "type": "currency"},
		map[string]any{"name": "margin", "type": "number"},
		map[string]any{"name": "stage", "type": "select", "options": opts},
		map[string]any{"name": "source", "type": "select", "options": []any{map[string]any{"value": "web"}, map[string]any{"value": "referral"}, map[string]any{"value": "event"}}},
		map[string]any{"name": "closed_at", "type": "datetime"},
	}}, 201, nil)
	e.Do("PUT", "/api/v1/roles/sales_rep", map[string]any{"label": "Sales Rep", "entities": map[string]any{
		"deal": map[string]any{"create": true, "read": "owner == user.id", "update": "owner == user.id", "fields": map[string]any{"margin": "hidden"}}}}, 200, nil)
	for _, u := range []struct{ email, role string }{{"rep1@example.com", "sales_rep"}, {"rep2@example.com", "sales_rep"}, {"mgr@example.com", "manager"}} {
		e.Do("POST", "/api/v1/users", map[string]any{"email": u.email, "password": servertest.AdminPassword, "roles": []string{u.role}}, 201, nil)
	}
	rep1 = e.As("rep1@example.com", servertest.AdminPassword)
	rep2 = e.As("rep2@example.com", servertest.AdminPassword)
	mgr = e.As("mgr@example.com", servertest.AdminPassword)
	base := time.Date(2025, 11, 20, 0, 0, 0, 0, time.UTC)
	for i := range 60 {
		who := rep1
		if i%3 == 0 {
			who = rep2
		}
		d := deal{name: fmt.Sprintf("deal %02d", i), stage: stages[i%5], source: []string{"web", "referral", "event", ""}[i%4]}
		if i == 7 {
			d.name = xss
		}
		body := map[string]any{"name": d.name, "stage": d.stage}
		if d.source != "" {
			body["source"] = d.source
		}
		if i%6 != 5 {
			a := float64(100 + i*37%900)
			d.amount = &a
			body["amount"] = a
		}
		var at time.Time
		switch {
		case i == 0:
			at = time.Date(2026, 3, 31, 16, 30, 0, 0, time.UTC) // April in Shanghai
		case i%10 == 9:
		default:
			// Not in 2026-02: that month is empty and must still show.
			at = base.Add(time.Duration(i*3) * 24 * time.Hour)
			if at.Month() == 2 && at.Year() == 2026 {
				at = at.AddDate(0, 1, 0)
			}
		}
		if !at.IsZero() {
			d.closedAt = &at
			body["closed_at"] = at.Format(time.RFC3339)
		}
		var out struct{ ID, Owner string }
		who.Do("POST", "/api/v1/records/deal", body, 201, &out)
		d.id, d.owner = out.ID, out.Owner
		deals = append(deals, d)
	}
	return rep1, rep2, mgr, deals
}

type row struct {
	Keys   []any
	Labels []string
	Value  any
	Values []any
	Count  int
	Drill  string
	Other  bool
	// funnel
	Conversion *float64
}

type result struct {
	Rows []row
	KPI  *struct {
		Value, Previous any
		Change, Target  *float64
	}
	Echarts map[string]any
	AsOf    string `json:"as_of"`
}

func f(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case nil:
		return math.NaN()
	}
	return math.NaN()
}

// listed is what the record list shows for a drill filter: the count and
// the sum of the amounts.
func listed(t *testing.T, e *servertest.Env, filter string) (int, float64) {
	t.Helper()
	var out struct {
		Items []map[string]any
		Count int
	}
	e.Do("GET", "/api/v1/records/deal?limit=200&count=true&filter="+url.QueryEscape(filter), nil, 200, &out)
	sum := 0.0
	for _, it := range out.Items {
		if a, ok := it["amount"].(float64); ok {
			sum += a
		}
	}
	if len(out.Items) != out.Count {
		t.Fatalf("drill %q: a page of %d of %d", filter, len(out.Items), out.Count)
	}
	return out.Count, sum
}

var board = map[string]any{
	"name": "Pipeline", "timezone": "Asia/Shanghai", "sharing": "everyone",
	"filters": []any{map[string]any{"type": "owner", "field": "owner"}, map[string]any{"type": "date", "field": "closed_at"}},
	"widgets": []any{
		map[string]any{"id": "by_stage", "type": "bar", "title": "Amount by stage",
			"query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "stage"}}, "measure": map[string]any{"op": "sum", "field": "amount"}}},
		map[string]any{"id": "per_month", "type": "line", "title": "Deals per month",
			"query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "closed_at", "bucket": "month"}}, "measure": map[string]any{"op": "count"}}},
		map[string]any{"id": "top_names", "type": "table",
			"query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "name"}}, "measure": map[string]any{"op": "sum", "field": "amount"}, "sort": "-value", "limit": 5}},
		map[string]any{"id": "top_avg", "type": "table",
			"query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "name"}}, "measure": map[string]any{"op": "avg", "field": "amount"}, "sort": "-value", "limit": 5}},
		map[string]any{"id": "funnel", "type": "funnel",
			"query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "stage"}}, "measure": map[string]any{"op": "count"}}},
		map[string]any{"id": "kpi", "type": "kpi", "target": 50,
			"query": map[string]any{"entity": "deal", "filter": `stage == "won"`, "measure": map[string]any{"op": "count"}}},
		map[string]any{"id": "by_source", "type": "pie",
			"query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "source"}}, "measure": map[string]any{"op": "count"}}},
		map[string]any{"id": "stage_quarter", "type": "stacked_bar",
			"query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "closed_at", "bucket": "quarter"}, map[string]any{"field": "stage"}}, "measure": map[string]any{"op": "count"}}},
		map[string]any{"id": "margins", "type": "bar",
			"query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "stage"}}, "measure": map[string]any{"op": "avg", "field": "margin"}}},
	},
}

func shanghai() *time.Location { l, _ := time.LoadLocation("Asia/Shanghai"); return l }

// TestBoard: each widget's numbers equal those computed from the raw
// records, for the admin and for a rep (their own deals only), each row's
// drill filter lists exactly the records it counts, and a widget on a
// field hidden from the viewer fails alone.
func TestBoard(t *testing.T) {
	for name, open := range servertest.Stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			rep1, rep2, _, deals := org(t, admin)
			var d struct{ ID string }
			admin.Do("POST", "/api/v1/dashboards", board, 201, &d)
			var rep1ID string
			for _, x := range deals {
				if x.name == "deal 01" {
					rep1ID = x.owner
				}
			}
			for _, v := range []struct {
				env   *servertest.Env
				owner string // "" all
			}{{admin, ""}, {rep1, rep1ID}} {
				mine := func(x deal) bool { return v.owner == "" || x.owner == v.owner }
				get := func(wid string) result {
					var r result
					v.env.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/"+wid+"/data", nil, 200, &r)
					return r
				}
				// Amount by stage.
				want := map[string]float64{}
				for _, x := range deals {
					if mine(x) && x.amount != nil {
						want[x.stage] += *x.amount
					}
				}
				r := get("by_stage")
				if len(r.Rows) != len(want) {
					t.Fatalf("by_stage: %d rows, want %d: %+v", len(r.Rows), len(want), r.Rows)
				}
				for _, row := range r.Rows {
					if f(row.Value) != want[row.Keys[0].(string)] {
						t.Errorf("by_stage %v: %v, want %v", row.Keys, row.Value, want[row.Keys[0].(string)])
					}
					if n, sum := listed(t, v.env, row.Drill); sum != f(row.Value) || n != row.Count {
						t.Errorf("by_stage %v: the drill lists %d records summing %v, the bar says %d records summing %v", row.Keys, n, sum, row.Count, row.Value)
					}
				}
				if r.Echarts == nil || r.Echarts["xAxis"] == nil {
					t.Fatalf("by_stage: no chart: %v", r.Echarts)
				}
				// Deals per month in Shanghai, February filled.
				months := map[string]int{}
				for _, x := range deals {
					if mine(x) {
						k := "<nil>"
						if x.closedAt != nil {
							k = x.closedAt.In(shanghai()).Format("2006-01")
						}
						months[k]++
					}
				}
				r = get("per_month")
				seen := map[string]bool{}
				for _, row := range r.Rows {
					k := fmt.Sprint(row.Keys[0])
					seen[k] = true
					if int(f(row.Value)) != months[k] {
						t.Errorf("per_month %s: %v, want %d", k, row.Value, months[k])
					}
					if n, _ := listed(t, v.env, row.Drill); n != months[k] {
						t.Errorf("per_month %s: the drill lists %d, the point says %v", k, n, row.Value)
					}
				}
				if !seen["2026-02"] || months["2026-02"] != 0 {
					t.Errorf("per_month: the empty February is missing: %v", r.Rows)
				}
				if v.owner == "" && months["2026-04"] == 0 {
					t.Fatal("the record at 2026-03-31T16:30Z should be April in Shanghai")
				}
				// Top 5 names by amount, the rest folded into Other.
				r = get("top_names")
				type nv struct {
					name string
					sum  float64
				}
				var byName []nv
				total, count := 0.0, 0
				for _, x := range deals {
					if mine(x) {
						count++
						s := 0.0
						if x.amount != nil {
							s = *x.amount
							total += s
						}
						if x.amount != nil {
							byName = append(byName, nv{x.name, s})
						}
					}
				}
				sort.SliceStable(byName, func(i, j int) bool {
					if byName[i].sum != byName[j].sum {
						return byName[i].sum > byName[j].sum
					}
					return byName[i].name < byName[j].name
				})
				if len(r.Rows) != 6 || !r.Rows[5].Other {
					t.Fatalf("top_names: want 5 rows and Other, got %+v", r.Rows)
				}
				topSum := 0.0
				for i := range 5 {
					if r.Rows[i].Keys[0] != byName[i].name || f(r.Rows[i].Value) != byName[i].sum {
						t.Errorf("top_names %d: %v %v, want %v", i, r.Rows[i].Keys, r.Rows[i].Value, byName[i])
					}
					topSum += byName[i].sum
				}
				if f(r.Rows[5].Value) != total-topSum {
					t.Errorf("Other: %v, want %v", r.Rows[5].Value, total-topSum)
				}
				nTop := 0
				for i := range 5 {
					n, _ := listed(t, v.env, r.Rows[i].Drill)
					nTop += n
				}
				if n, sum := listed(t, v.env, r.Rows[5].Drill); n+nTop != count || sum != total-topSum || n != r.Rows[5].Count {
					t.Errorf("Other's drill lists %d records summing %v; want %d, %v", n, sum, count-nTop, total-topSum)
				}
				// The same top by the average: Other is the average of the rest.
				r = get("top_avg")
				rest, n := 0.0, 0
				for _, x := range byName[5:] {
					rest += x.sum
					n++
				}
				if len(r.Rows) != 6 || !r.Rows[5].Other || math.Abs(f(r.Rows[5].Value)-rest/float64(n)) > 1e-9 {
					t.Errorf("top_avg: Other %v, want %v: %+v", r.Rows[len(r.Rows)-1].Value, rest/float64(n), r.Rows)
				}
				for i := range 5 {
					if r.Rows[i].Keys[0] != byName[i].name {
						t.Errorf("top_avg %d: %v, want %v", i, r.Rows[i].Keys, byName[i].name)
					}
				}
				// Funnel: every option in order, with conversions.
				r = get("funnel")
				if len(r.Rows) != len(stages) {
					t.Fatalf("funnel: %+v", r.Rows)
				}
				prev := -1.0
				for i, row := range r.Rows {
					n := 0
					for _, x := range deals {
						if mine(x) && x.stage == stages[i] {
							n++
						}
					}
					if row.Keys[0] != stages[i] || int(f(row.Value)) != n {
						t.Errorf("funnel step %d: %v %v, want %s %d", i, row.Keys, row.Value, stages[i], n)
					}
					if prev > 0 && (row.Conversion == nil || math.Abs(*row.Conversion-float64(n)/prev) > 1e-9) {
						t.Errorf("funnel step %d conversion %v, want %v", i, row.Conversion, float64(n)/prev)
					}
					prev = float64(n)
				}
				if s, _ := r.Echarts["series"].([]any); len(s) != 1 || s[0].(map[string]any)["sort"] != "none" {
					t.Errorf("funnel option: %v", r.Echarts["series"])
				} else if l, _ := s[0].(map[string]any)["left"].(string); !strings.HasSuffix(l, "%") {
					// ECharts' own 80 px a side leaves a narrow widget no funnel.
					t.Errorf("funnel option: its sides are not in proportion: %v", s[0])
				}
				// KPI against its target.
				r = get("kpi")
				won := 0
				for _, x := range deals {
					if mine(x) && x.stage == "won" {
						won++
					}
				}
				if r.KPI == nil || int(f(r.KPI.Value)) != won || r.KPI.Target == nil || *r.KPI.Target != 50 {
					t.Errorf("kpi: %+v, want %d", r.KPI, won)
				}
				// Pie by source, the nulls as their own slice.
				r = get("by_source")
				for _, row := range r.Rows {
					n := 0
					for _, x := range deals {
						if mine(x) && (x.source == fmt.Sprint(row.Keys[0]) || (row.Keys[0] == nil && x.source == "")) {
							n++
						}
					}
					if int(f(row.Value)) != n {
						t.Errorf("by_source %v: %v, want %d", row.Keys, row.Value, n)
					}
					if c, _ := listed(t, v.env, row.Drill); c != n {
						t.Errorf("by_source %v: drill lists %d, want %d", row.Keys, c, n)
					}
				}
				// Stacked: quarter × stage.
				r = get("stage_quarter")
				for _, row := range r.Rows {
					n := 0
					for _, x := range deals {
						q := "<nil>"
						if x.closedAt != nil {
							l := x.closedAt.In(shanghai())
							q = fmt.Sprintf("%d-Q%d", l.Year(), (int(l.Month())+2)/3)
						}
						if mine(x) && q == fmt.Sprint(row.Keys[0]) && x.stage == row.Keys[1] {
							n++
						}
					}
					if int(f(row.Value)) != n {
						t.Errorf("stage_quarter %v: %v, want %d", row.Keys, row.Value, n)
					}
				}
				// The margin is hidden from reps: that widget alone fails.
				if v.owner != "" {
					resp := v.env.Raw("GET", "/api/v1/dashboards/"+d.ID+"/widgets/margins/data", nil)
					if resp.Status != 400 && resp.Status != 422 || !strings.Contains(string(resp.Body), "widget margins") {
						t.Errorf("margins for a rep: %d %s", resp.Status, resp.Body)
					}
					// What the app words it from, in the person's language.
					var pb struct {
						Errors []struct {
							Code   string
							Params map[string]any
						}
					}
					if err := json.Unmarshal(resp.Body, &pb); err != nil || len(pb.Errors) != 1 || pb.Errors[0].Code != "unknown_field" ||
						pb.Errors[0].Params["widget"] != "margins" || pb.Errors[0].Params["entity"] != "deal" || pb.Errors[0].Params["name"] != "margin" {
						t.Errorf("margins for a rep: the refusal's params do not name widget, entity and field: %s", resp.Body)
					}
				} else {
					get("margins")
				}
			}
			// A rep2 sees their own numbers on the same board.
			var r result
			rep2.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/kpi/data", nil, 200, &r)
			won := 0
			for _, x := range deals {
				if x.stage == "won" && x.owner != rep1ID {
					won++
				}
			}
			if int(f(r.KPI.Value)) != won {
				t.Errorf("rep2's kpi: %v, want %d", r.KPI.Value, won)
			}
		})
	}
}
