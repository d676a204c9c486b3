package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

type page struct {
	Items      []map[string]any `json:"items"`
	NextCursor *string          `json:"next_cursor"`
	Count      *int             `json:"count"`
}

func (e *env) list(filter string) *page {
	e.t.Helper()
	var p page
	e.do("GET", "/api/v1/records/contact?"+url.Values{"filter": {filter}, "sort": {"name"}}.Encode(), nil, 200, &p)
	return &p
}

// TestFilterValuesAreNormalised: a filter compares a field with the value
// as the field stores it — the e-mail in any case, the phone number as
// typed — so the README's `email == "Buyer@Acme.example"` finds the record
// stored as buyer@acme.example. On both stores.
func TestFilterValuesAreNormalised(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startWith(t, open(t))
			e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "contact", "fields": []any{
				map[string]any{"name": "name", "type": "text"},
				map[string]any{"name": "email", "type": "email", "indexed": true},
				map[string]any{"name": "phone", "type": "phone"},
			}}, 201, nil)
			e.do("POST", "/api/v1/records/contact", map[string]any{"name": "Buyer", "email": "Buyer@Acme.example", "phone": "138 0013 8000"}, 201, nil)
			e.do("POST", "/api/v1/records/contact", map[string]any{"name": "Other", "email": "other@globex.example", "phone": "+86 139 0000 0000"}, 201, nil)

			for filter, want := range map[string]string{
				`email == "Buyer@Acme.example"`:           "Buyer",
				`email == " BUYER@acme.EXAMPLE "`:         "Buyer",
				`email in ["Other@Globex.example"]`:       "Other",
				`email != "BUYER@ACME.EXAMPLE"`:           "Other",
				`email contains "ACME"`:                   "Buyer",
				`email startsWith "Buyer@"`:               "Buyer",
				`phone == "138 0013 8000"`:                "Buyer",
				`phone == "+86 (138) 0013-8000"`:          "Buyer",
				`phone contains "139 0000"`:               "Other",
				`name == "  Buyer "`:                      "Buyer",
				`phone in ["13800138000", "13900000000"]`: "Buyer,Other",
			} {
				var got []string
				for _, it := range e.list(filter).Items {
					got = append(got, it["name"].(string))
				}
				if strings.Join(got, ",") != want {
					t.Errorf("%s: found %v, want %s", filter, got, want)
				}
			}
			// A value the field could never hold is refused, naming the field.
			r := e.raw("GET", "/api/v1/records/contact?"+url.Values{"filter": {`phone == "not a number"`}}.Encode(), nil)
			if r.Status != 400 || !strings.Contains(string(r.Body), "phone") {
				t.Fatalf("impossible phone in a filter: %d %s", r.Status, r.Body)
			}
		})
	}
}

// TestQueryBody: POST …/query takes the list parameters as JSON, for
// filters that do not fit in a URL (90 ids get 431 there, naming it), with the
// same answers, paging and errors as GET. A read-only token may use it.
func TestQueryBody(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startWith(t, open(t))
			e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "contact", "fields": []any{
				map[string]any{"name": "name", "type": "text"},
				map[string]any{"name": "n", "type": "integer"},
			}}, 201, nil)
			var ids []string
			for i := range 120 {
				var r map[string]any
				e.do("POST", "/api/v1/records/contact", map[string]any{"name": fmt.Sprintf("c%03d", i), "n": i}, 201, &r)
				ids = append(ids, r["id"].(string))
			}
			filter := `id in ["` + strings.Join(ids[:90], `","`) + `"]`
			// The server reads the rest of a refused request before it
			// closes the connection: without that the client, still
			// writing the URL, saw a reset instead of the 431 (a CI failure).
			if r := e.raw("GET", "/api/v1/records/contact?"+url.Values{"filter": {filter}}.Encode(), nil); r.Status != 431 ||
				!strings.Contains(string(r.Body), "POST /api/v1/records/{entity}/query") {
				t.Fatalf("GET with 90 ids: %d %s", r.Status, r.Body)
			}
			long := "/api/v1/records/contact?filter=" + url.QueryEscape(`name == "`+strings.Repeat("x", 256<<10)+`"`)
			if r := e.raw("GET", long, nil); r.Status != 431 {
				t.Fatalf("GET with a 256 KiB URL: %d %s", r.Status, r.Body)
			}

			var p page
			e.do("POST", "/api/v1/records/contact/query", map[string]any{
				"filter": filter, "sort": []string{"-n"}, "fields": "name,n", "limit": 50, "count": true}, 200, &p)
			if len(p.Items) != 50 || p.Count == nil || *p.Count != 90 || p.NextCursor == nil {
				t.Fatalf("first page: %d items, count %v, cursor %v", len(p.Items), p.Count, p.NextCursor)
			}
			if p.Items[0]["name"] != "c089" || p.Items[0]["id"] == nil {
				t.Fatalf("first item %v, want c089", p.Items[0])
			}
			seen := map[any]bool{}
			for _, it := range p.Items {
				seen[it["id"]] = true
			}
			var next page
			e.do("POST", "/api/v1/records/contact/query", map[string]any{
				"filter": filter, "sort": "-n", "fields": []string{"name", "n"}, "limit": 50, "cursor": *p.NextCursor}, 200, &next)
			if len(next.Items) != 40 || next.NextCursor != nil {
				t.Fatalf("second page: %d items, cursor %v", len(next.Items), next.NextCursor)
			}
			for _, it := range next.Items {
				if seen[it["id"]] {
					t.Fatalf("%v on both pages", it["id"])
				}
			}

			// Bad input is named, as on GET.
			for _, c := range []struct {
				body  any
				field string
			}{
				{map[string]any{"filter": "n >"}, "filter"},
				{map[string]any{"filter": "colour == 1"}, "filter"},
				{map[string]any{"sort": "colour"}, "sort"},
				{map[string]any{"limit": 0}, "limit"},
				{map[string]any{"limit": 501}, "limit"},
				{map[string]any{"where": "1"}, "body"},
				{map[string]any{"sort": []any{"a,b"}}, "body"},
				{map[string]any{"sort": 5}, "body"},
				{`{"filter": "n > 1"} trailing`, "body"},
			} {
				r := e.raw("POST", "/api/v1/records/contact/query", c.body)
				if r.Status != 400 {
					t.Errorf("%v: status %d: %s", c.body, r.Status, r.Body)
					continue
				}
				if _, ok := problemFields(t, r)[c.field]; !ok {
					t.Errorf("%v: the error does not name %s: %s", c.body, c.field, r.Body)
				}
			}

			// A read-only token reads through POST …/query, and still may not write.
			var tok struct{ Token string }
			e.do("POST", "/api/v1/auth/tokens", map[string]any{"name": "reader", "scope": map[string]any{"read_only": true}}, 201, &tok)
			ro := *e
			ro.token = tok.Token
			ro.do("POST", "/api/v1/records/contact/query", map[string]any{"filter": "n < 3"}, 200, &p)
			if len(p.Items) != 3 {
				t.Fatalf("read-only query: %d items", len(p.Items))
			}
			ro.do("POST", "/api/v1/records/contact", map[string]any{"name": "x"}, 403, nil)
		})
	}
}
