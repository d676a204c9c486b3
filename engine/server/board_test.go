package server_test

import (
	"fmt"
	"net/url"
	"testing"
)

// TestBoard: a kanban board's columns come in the options' order, then
// records without a stage; each has its first cards and its count from the
// store, and its filter and cursor page on through the ordinary list. The
// board obeys the row rules and the board's own filter.
func TestBoard(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			o := setupOrg(t, startWith(t, open(t)))
			admin, rep := o.admin, o.users["rep1"]
			for i := range 7 {
				stage := []any{"lead", "won", nil}[i%3]
				body := map[string]any{"name": fmt.Sprintf("b%d", i), "amount": 100 * i, "owner": o.ids["rep1"]}
				if stage != nil {
					body["stage"] = stage
				}
				admin.do("POST", "/api/v1/records/deal", body, 201, nil)
			}
			type board struct {
				Field   string
				Columns []struct {
					Value      any
					Filter     string
					Count      int
					Items      []map[string]any
					NextCursor *string `json:"next_cursor"`
				}
			}
			var b board
			rep.do("GET", "/api/v1/records/deal/board?field=stage&limit=2&sort=name", nil, 200, &b)
			// setupOrg's A (lead) is rep1's too: lead b0 b3 b6 A, won b1 b4, none b2 b5.
			want := []struct {
				value any
				count int
			}{{"lead", 4}, {"won", 2}, {nil, 2}}
			if len(b.Columns) != len(want) {
				t.Fatalf("columns: %+v", b.Columns)
			}
			for i, w := range want {
				col := b.Columns[i]
				if col.Value != w.value || col.Count != w.count || len(col.Items) != min(2, w.count) {
					t.Errorf("column %d: value %v count %d items %d, want %v %d", i, col.Value, col.Count, len(col.Items), w.value, w.count)
				}
			}
			lead := b.Columns[0]
			if lead.NextCursor == nil || lead.Items[0]["name"] != "A" {
				t.Fatalf("lead column: %+v", lead)
			}
			var more struct{ Items []map[string]any }
			q := url.Values{"filter": {lead.Filter}, "sort": {"name"}, "limit": {"2"}, "cursor": {*lead.NextCursor}}
			rep.do("GET", "/api/v1/records/deal?"+q.Encode(), nil, 200, &more)
			if len(more.Items) != 2 || more.Items[0]["name"] != "b3" || more.Items[1]["name"] != "b6" {
				t.Fatalf("the lead column's next cards: %+v", more.Items)
			}
			rep.do("GET", "/api/v1/records/deal/board?field=stage&filter="+url.QueryEscape("amount >= 300"), nil, 200, &b)
			if b.Columns[0].Count != 3 || b.Columns[1].Count != 1 || b.Columns[2].Count != 1 { // lead b3 b6 A, won b4, none b5
				t.Fatalf("board with a filter: %+v", b.Columns)
			}
			// The admin sees everyone's deals.
			admin.do("GET", "/api/v1/records/deal/board?field=stage", nil, 200, &b)
			if b.Columns[0].Count != 7 {
				t.Fatalf("the admin's lead column: %d", b.Columns[0].Count)
			}
			rep.do("GET", "/api/v1/records/deal/board?field=amount", nil, 400, nil)
			rep.do("GET", "/api/v1/records/deal/board?field=margin", nil, 400, nil)
			rep.do("GET", "/api/v1/records/deal/board?field=stage&filter=amount%20%3E", nil, 400, nil)
		})
	}
}
