package server_test

import (
	"testing"
)

// TestBulk: a bulk edit or delete runs every record through the write
// pipeline under the caller's rights, on its own, and reports each.
func TestBulk(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			o := setupOrg(t, startWith(t, open(t)))
			admin, rep := o.admin, o.users["rep1"]
			type results struct {
				Results []struct {
					ID     string
					Status int
					Errors []struct{ Field, Code string }
				}
			}
			A, B, C := o.recs["A"], o.recs["B"], o.recs["C"]
			var r results
			rep.do("POST", "/api/v1/records/deal/bulk", map[string]any{"action": "update", "ids": []string{A, B, "not-an-id", C},
				"values": map[string]any{"stage": "won"}}, 200, &r)
			for i, want := range []int{200, 404, 404, 404} {
				if r.Results[i].Status != want {
					t.Errorf("update %d: %+v, want %d", i, r.Results[i], want)
				}
			}
			var rec map[string]any
			admin.do("GET", "/api/v1/records/deal/"+A, nil, 200, &rec)
			if rec["stage"] != "won" {
				t.Fatalf("A after the bulk edit: %v", rec)
			}
			admin.do("GET", "/api/v1/records/deal/"+B, nil, 200, &rec)
			if rec["stage"] != "lead" {
				t.Fatalf("B, which the rep may not see, changed: %v", rec)
			}
			// Each record's validation errors are its own.
			rep.do("POST", "/api/v1/records/deal/bulk", map[string]any{"action": "update", "ids": []string{A},
				"values": map[string]any{"stage": "maybe", "amount": 5}}, 200, &r)
			codes := map[string]string{}
			for _, e := range r.Results[0].Errors {
				codes[e.Field] = e.Code
			}
			if r.Results[0].Status != 422 || codes["stage"] == "" || codes["amount"] != "read_only" {
				t.Fatalf("invalid bulk values: %+v", r.Results[0])
			}
			// The rep may not delete; the admin may.
			rep.do("POST", "/api/v1/records/deal/bulk", map[string]any{"action": "delete", "ids": []string{A}}, 200, &r)
			if r.Results[0].Status != 403 {
				t.Fatalf("the rep's bulk delete: %+v", r.Results)
			}
			admin.do("POST", "/api/v1/records/deal/bulk", map[string]any{"action": "delete", "ids": []string{A, B}}, 200, &r)
			if r.Results[0].Status != 204 || r.Results[1].Status != 204 {
				t.Fatalf("the admin's bulk delete: %+v", r.Results)
			}
			admin.do("GET", "/api/v1/records/deal/"+A, nil, 404, nil)
			for _, bad := range []map[string]any{
				{"action": "merge", "ids": []string{C}},
				{"action": "update", "ids": []string{}},
				{"action": "update", "ids": []string{C, C}, "values": map[string]any{"stage": "won"}},
				{"action": "update", "ids": []string{C}},
				{"action": "delete", "ids": []string{C}, "values": map[string]any{"stage": "won"}},
			} {
				if r := admin.raw("POST", "/api/v1/records/deal/bulk", bad); r.Status != 422 {
					t.Errorf("%v: %d %s", bad, r.Status, r.Body)
				}
			}
			admin.do("POST", "/api/v1/records/deal/bulk", map[string]any{"action": "update", "ids": []string{C}, "values": map[string]any{}, "x": 1}, 400, nil)
		})
	}
}
