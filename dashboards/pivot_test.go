package dashboards_test

import (
	"fmt"
	"testing"

	"github.com/jimu-crm/jimu/engine/server/servertest"
)

// TestPivot: a pivot is rows × columns of one measure — stage down in the
// options' order and by their labels, source across, (none) first — each
// cell and total equal to what the raw records give, each cell's drill
// listing exactly its records; owner keys are typed "user" so the app can
// name them; and a time series of sums shows a month without deals as 0.
func TestPivot(t *testing.T) {
	for name, open := range servertest.Stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			_, _, _, deals := org(t, admin)
			var d struct{ ID string }
			admin.Do("POST", "/api/v1/dashboards", map[string]any{"name": "Pivots", "timezone": "Asia/Shanghai", "sharing": "everyone",
				"widgets": []any{
					map[string]any{"id": "stage_source", "type": "pivot", "query": map[string]any{"entity": "deal",
						"group_by": []any{map[string]any{"field": "stage"}, map[string]any{"field": "source"}}, "measure": map[string]any{"op": "sum", "field": "amount"}}},
					map[string]any{"id": "owner_stage", "type": "pivot", "query": map[string]any{"entity": "deal",
						"group_by": []any{map[string]any{"field": "owner"}, map[string]any{"field": "stage"}}}},
					map[string]any{"id": "amount_per_month", "type": "line", "query": map[string]any{"entity": "deal",
						"group_by": []any{map[string]any{"field": "closed_at", "bucket": "month"}}, "measure": map[string]any{"op": "sum", "field": "amount"}}},
				}}, 201, &d)
			type key struct {
				Key   any
				Label string
				Drill string
			}
			var p struct {
				KeyTypes []string `json:"key_types"`
				Pivot    struct {
					Rows, Columns []key
					Cells         [][]*struct {
						Value any
						Drill string
					}
					RowTotals []any `json:"row_totals"`
					ColTotals []any `json:"column_totals"`
					Total     any
				}
			}
			admin.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/stage_source/data", nil, 200, &p)
			sums := map[[2]string]float64{}
			seen := map[[2]string]bool{}
			total := 0.0
			for _, x := range deals {
				k := [2]string{x.stage, x.source}
				seen[k] = true
				if x.amount != nil {
					sums[k] += *x.amount
					total += *x.amount
				}
			}
			var rows, cols []string
			for _, r := range p.Pivot.Rows {
				rows = append(rows, r.Label)
			}
			for _, c := range p.Pivot.Columns {
				cols = append(cols, c.Label)
			}
			if fmt.Sprint(rows) != "[Lead Qualified Proposal Won Lost]" || fmt.Sprint(cols) != "[(none) web referral event]" {
				t.Fatalf("pivot headings: rows %v, columns %v", rows, cols)
			}
			if fmt.Sprint(p.KeyTypes) != "[select select]" {
				t.Errorf("key types %v", p.KeyTypes)
			}
			for i, r := range p.Pivot.Rows {
				rowSum := 0.0
				for j, c := range p.Pivot.Columns {
					src, _ := c.Key.(string)
					k := [2]string{r.Key.(string), src}
					cell := p.Pivot.Cells[i][j]
					if !seen[k] {
						if cell != nil {
							t.Errorf("cell %v: %v, want none", k, cell.Value)
						}
						continue
					}
					if cell == nil {
						t.Errorf("cell %v: none, want %v", k, sums[k])
						continue
					}
					if f(cell.Value) != sums[k] {
						t.Errorf("cell %v: %v, want %v", k, cell.Value, sums[k])
					}
					if _, sum := listed(t, admin, cell.Drill); sum != sums[k] {
						t.Errorf("cell %v: the drill lists %v, the cell says %v", k, sum, cell.Value)
					}
					rowSum += sums[k]
				}
				if f(p.Pivot.RowTotals[i]) != rowSum {
					t.Errorf("row %v total: %v, want %v", r.Key, p.Pivot.RowTotals[i], rowSum)
				}
				if _, sum := listed(t, admin, r.Drill); sum != rowSum {
					t.Errorf("row %v: the drill lists %v, the total says %v", r.Key, sum, rowSum)
				}
			}
			if f(p.Pivot.Total) != total {
				t.Errorf("total %v, want %v", p.Pivot.Total, total)
			}

			admin.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/owner_stage/data", nil, 200, &p)
			owners := map[string]bool{}
			for _, x := range deals {
				owners[x.owner] = true
			}
			if fmt.Sprint(p.KeyTypes) != "[user select]" || len(p.Pivot.Rows) != len(owners) {
				t.Errorf("owner × stage: key types %v, %d rows for %d owners", p.KeyTypes, len(p.Pivot.Rows), len(owners))
			}
			for _, r := range p.Pivot.Rows {
				if !owners[fmt.Sprint(r.Key)] {
					t.Errorf("owner row %v is no deal's owner", r.Key)
				}
			}

			var line result
			admin.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/amount_per_month/data", nil, 200, &line)
			feb := false
			for _, r := range line.Rows {
				if r.Keys[0] == "2026-02" {
					feb = true
					if r.Value != 0.0 {
						t.Errorf("the empty February sums %v, want 0", r.Value)
					}
				}
			}
			if !feb {
				t.Errorf("no February in %v", line.Rows)
			}
		})
	}
}
