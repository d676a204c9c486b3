package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestSchemaEvolution: adding, deleting, restoring, retyping and purging a
// field on an entity that already has records, on both stores.
func TestSchemaEvolution(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startWith(t, open(t))
			e.do("POST", "/api/v1/meta/entities", dealEntity, 201, nil)
			var a, b map[string]any
			e.do("POST", "/api/v1/records/deal", map[string]any{"name": "A", "amount": 10}, 201, &a)
			e.do("POST", "/api/v1/records/deal", map[string]any{"name": "B"}, 201, &b)

			// A new field works on existing records at once.
			e.do("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "code", "type": "text", "indexed": true}, 201, nil)
			e.do("PATCH", "/api/v1/records/deal/"+a["id"].(string), map[string]any{"code": "42"}, 200, nil)
			var page struct{ Items []map[string]any }
			e.do("GET", `/api/v1/records/deal?filter=code%20%3D%3D%20%2242%22`, nil, 200, &page)
			if len(page.Items) != 1 {
				t.Fatalf("filter on a new field: %v", page.Items)
			}

			// text → integer: "42" converts, so every record converts.
			e.do("PATCH", "/api/v1/meta/entities/deal/fields/code", map[string]any{"type": "integer"}, 200, nil)
			var rec map[string]any
			e.do("GET", "/api/v1/records/deal/"+a["id"].(string), nil, 200, &rec)
			if rec["code"].(float64) != 42 || rec["version"].(float64) != 3 {
				t.Fatalf("converted record: %v", rec)
			}

			// name (text) → number: "A" and "B" cannot convert; nothing changes.
			r := e.raw("PATCH", "/api/v1/meta/entities/deal/fields/name", map[string]any{"type": "number"})
			if r.Status != 422 || !strings.Contains(string(r.Body), a["id"].(string)) || !strings.Contains(string(r.Body), "2 records would not convert") {
				t.Fatalf("refused conversion: %d %s", r.Status, r.Body)
			}
			var ent map[string]any
			e.do("GET", "/api/v1/meta/entities/deal", nil, 200, &ent)
			for _, f := range ent["fields"].([]any) {
				if f.(map[string]any)["name"] == "name" && f.(map[string]any)["type"] != "text" {
					t.Fatalf("refused conversion changed the field: %v", f)
				}
			}

			// Delete hides the field and keeps its data; restoring shows it again.
			e.do("DELETE", "/api/v1/meta/entities/deal/fields/amount", nil, 204, nil)
			e.do("GET", "/api/v1/records/deal/"+a["id"].(string), nil, 200, &rec)
			if _, ok := rec["amount"]; ok {
				t.Fatalf("deleted field still shown: %v", rec)
			}
			if r := e.raw("POST", "/api/v1/records/deal", map[string]any{"name": "C", "amount": 1}); r.Status != 422 {
				t.Fatalf("write to a deleted field: %d", r.Status)
			}
			if r := e.raw("GET", "/api/v1/records/deal?filter=amount%20%3E%201", nil); r.Status != 400 {
				t.Fatalf("filter on a deleted field: %d", r.Status)
			}
			e.do("PATCH", "/api/v1/meta/entities/deal/fields/amount", map[string]any{"deleted": false}, 200, nil)
			e.do("GET", "/api/v1/records/deal/"+a["id"].(string), nil, 200, &rec)
			if rec["amount"].(float64) != 10 {
				t.Fatalf("restored field lost its data: %v", rec)
			}

			// Purge removes the data for good.
			e.do("DELETE", "/api/v1/meta/entities/deal/fields/amount", nil, 204, nil)
			e.do("POST", "/api/v1/meta/entities/deal/fields/amount/purge", nil, 204, nil)
			e.do("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "amount", "type": "number"}, 201, nil)
			e.do("GET", "/api/v1/records/deal/"+a["id"].(string), nil, 200, &rec)
			if _, ok := rec["amount"]; ok {
				t.Fatalf("purged data came back: %v", rec)
			}

			// Every change is a version in the history.
			var hist struct{ Items []map[string]any }
			e.do("GET", "/api/v1/meta/entities/deal/history", nil, 200, &hist)
			if n := len(hist.Items); n < 7 || hist.Items[n-1]["version"].(float64) != float64(n) {
				t.Fatalf("history: %d versions", n)
			}
			// PUT replaces the definition; fields it leaves out are deleted,
			// not dropped, and a stale version is refused.
			e.do("GET", "/api/v1/meta/entities/deal", nil, 200, &ent)
			v := ent["version"].(float64)
			put := map[string]any{"name": "deal", "label": "Deals", "fields": []any{
				map[string]any{"name": "name", "type": "text", "required": true}}}
			e.do("PUT", "/api/v1/meta/entities/deal", put, 200, &ent, "If-Match", fmt.Sprint(v))
			if ent["version"].(float64) != v+1 || ent["label"] != "Deals" {
				t.Fatalf("PUT entity: %v", ent)
			}
			for _, f := range ent["fields"].([]any) {
				if fm := f.(map[string]any); fm["name"] == "stage" && fm["deleted"] != true {
					t.Fatalf("a field left out of PUT must be deleted, not dropped: %v", fm)
				}
			}
			if r := e.raw("PUT", "/api/v1/meta/entities/deal", put, "If-Match", fmt.Sprint(v)); r.Status != 409 {
				t.Fatalf("PUT with a stale version: %d", r.Status)
			}
			e.do("PATCH", "/api/v1/meta/entities/deal/fields/stage", map[string]any{"deleted": false}, 200, nil)
			// Making a field unique over duplicates is refused, naming it.
			e.do("POST", "/api/v1/records/deal", map[string]any{"name": "B"}, 201, nil)
			r = e.raw("PATCH", "/api/v1/meta/entities/deal/fields/name", map[string]any{"unique": true})
			if r.Status != 422 || !strings.Contains(string(r.Body), "duplicate") {
				t.Fatalf("unique over duplicates: %d %s", r.Status, r.Body)
			}
		})
	}
}

// TestDryRun: ?dry_run=true answers what a type change would convert, or
// the report of the records it would refuse, and what deleting a field
// would take away — and changes nothing. On both stores.
func TestDryRun(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startWith(t, open(t))
			e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "item", "fields": []any{
				map[string]any{"name": "code", "type": "text"}, map[string]any{"name": "note", "type": "text"}}}, 201, nil)
			var x map[string]any
			e.do("POST", "/api/v1/records/item", map[string]any{"code": "1"}, 201, nil)
			e.do("POST", "/api/v1/records/item", map[string]any{"code": "2", "note": "n"}, 201, nil)
			e.do("POST", "/api/v1/records/item", map[string]any{"code": "x"}, 201, &x)
			path := "/api/v1/meta/entities/item/fields/code"
			r := e.raw("PATCH", path+"?dry_run=true", map[string]any{"type": "integer"})
			if r.Status != 422 || !strings.Contains(string(r.Body), x["id"].(string)) {
				t.Fatalf("dry run of a refused conversion: %d %s", r.Status, r.Body)
			}
			// The report names each record and value for the app to show
			// (and link) in the person's language, and how many in all.
			var refused struct {
				Errors []struct {
					Code   string
					Params map[string]any
				}
			}
			if err := json.Unmarshal(r.Body, &refused); err != nil || len(refused.Errors) != 1 || refused.Errors[0].Code != "conversion" ||
				refused.Errors[0].Params["record"] != x["id"] || refused.Errors[0].Params["value"] != "x" ||
				refused.Errors[0].Params["to"] != "integer" || refused.Errors[0].Params["failed"] != float64(1) {
				t.Fatalf("the refusal's params: %s", r.Body)
			}
			e.do("DELETE", "/api/v1/records/item/"+x["id"].(string), nil, 204, nil)
			var plan struct {
				Conversions []struct {
					Field, From, To string
					Records         int
				}
				Holding map[string]int
			}
			e.do("PATCH", path+"?dry_run=true", map[string]any{"type": "integer"}, 200, &plan)
			if len(plan.Conversions) != 1 || plan.Conversions[0].Records != 2 || plan.Conversions[0].From != "text" || plan.Conversions[0].To != "integer" {
				t.Fatalf("dry run plan: %+v", plan)
			}
			e.do("DELETE", "/api/v1/meta/entities/item/fields/note?dry_run=true", nil, 200, &plan)
			if plan.Holding["note"] != 1 {
				t.Fatalf("delete dry run: %+v", plan)
			}
			// Nothing changed.
			var f map[string]any
			e.do("GET", path, nil, 200, &f)
			if f["type"] != "text" {
				t.Fatalf("a dry run changed the field: %v", f)
			}
			var ent map[string]any
			e.do("GET", "/api/v1/meta/entities/item", nil, 200, &ent)
			if ent["version"].(float64) != 1 {
				t.Fatalf("a dry run made a version: %v", ent["version"])
			}
			var page struct{ Items []map[string]any }
			e.do("GET", "/api/v1/records/item?sort=code", nil, 200, &page)
			if len(page.Items) != 2 || page.Items[0]["code"] != "1" || page.Items[0]["version"].(float64) != 1 || page.Items[1]["note"] != "n" {
				t.Fatalf("records after dry runs: %v", page.Items)
			}
		})
	}
}
