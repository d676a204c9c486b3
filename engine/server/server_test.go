package server_test

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

func TestUnauthenticated(t *testing.T) {
	e := start(t)
	e.token = ""
	e.do("GET", "/healthz", nil, 200, nil)
	e.do("GET", "/readyz", nil, 200, nil)
	for _, path := range []string{"/api/v1/records/deal", "/api/v1/meta/entities", "/api/v1/openapi.json", "/api/v1/audit", "/api/v1/auth/me"} {
		r := e.raw("GET", path, nil)
		if r.Status != 401 {
			t.Errorf("%s without credentials: %d", path, r.Status)
		}
		problemFields(t, r)
	}
	e.token = "jimu_forged"
	for range 3 {
		if r := e.raw("GET", "/api/v1/meta/entities", nil); r.Status != 401 {
			t.Errorf("forged token: %d", r.Status)
		}
	}
	// Audited, once a minute per address however many arrive.
	if got, _ := e.st.ListAudit(t.Context(), store.AuditQuery{Action: "auth.token_rejected"}); len(got) != 1 {
		t.Errorf("audit entries of a forged token: %d, want 1", len(got))
	}
	// Unknown user and wrong password get the same answer.
	e.token = ""
	a := e.raw("POST", "/api/v1/auth/login", map[string]any{"email": "nobody@example.com", "password": "whatever123"})
	b := e.raw("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": "wrong password"})
	if a.Status != 401 || b.Status != 401 || string(a.Body) != string(b.Body) {
		t.Errorf("login answers differ: %d %s / %d %s", a.Status, a.Body, b.Status, b.Body)
	}
}

// TestWalkthrough is the README's five-minute walk-through.
func TestWalkthrough(t *testing.T) {
	e := start(t)
	var ent map[string]any
	e.do("POST", "/api/v1/meta/entities", dealEntity, 201, &ent)
	if ent["version"].(float64) != 1 {
		t.Fatalf("new entity version %v", ent["version"])
	}
	e.do("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "score", "type": "integer", "min": 0, "max": 100}, 201, nil)
	e.do("GET", "/api/v1/meta/entities/deal", nil, 200, &ent)
	if ent["version"].(float64) != 2 {
		t.Fatalf("adding a field must bump the version: %v", ent["version"])
	}

	var rec map[string]any
	e.do("POST", "/api/v1/records/deal", map[string]any{"name": "Acme", "amount": 1200, "stage": "won"}, 201, &rec)
	if rec["version"].(float64) != 1 || rec["id"] == "" || rec["owner"] == "" || rec["amount"].(float64) != 1200 {
		t.Fatalf("created record: %v", rec)
	}
	id := rec["id"].(string)
	for i := range 12 {
		stage := []string{"lead", "qualified", "won", "lost"}[i%4]
		e.do("POST", "/api/v1/records/deal", map[string]any{"name": fmt.Sprintf("Deal %02d", i), "amount": i * 500, "stage": stage,
			"close_date": time.Now().AddDate(0, 0, i).Format("2006-01-02"), "score": i}, 201, nil)
	}

	var page struct {
		Items       []map[string]any `json:"items"`
		NextCursor  *string          `json:"next_cursor"`
		Count       *int             `json:"count"`
		CountCapped bool             `json:"count_capped"`
	}
	q := url.Values{"filter": {`stage in ["won","lost"] and amount >= 1000`}, "sort": {"-amount,name"}, "count": {"true"}}
	e.do("GET", "/api/v1/records/deal?"+q.Encode(), nil, 200, &page)
	// won: Acme 1200, Deal 02 1000, Deal 06 3000, Deal 10 5000; lost: Deal 03 1500, 07 3500, 11 5500
	var got []string
	for _, it := range page.Items {
		got = append(got, it["name"].(string))
	}
	want := []string{"Deal 11", "Deal 10", "Deal 07", "Deal 06", "Deal 03", "Acme", "Deal 02"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("filter+sort: got %v want %v", got, want)
	}
	if page.Count == nil || *page.Count != 7 || page.NextCursor != nil {
		t.Fatalf("count %v, cursor %v", page.Count, page.NextCursor)
	}

	// Keyset paging visits every record once, whatever the page size.
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		q := url.Values{"sort": {"stage,-score"}, "limit": {"4"}, "fields": {"name,stage"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		page.NextCursor, page.Items = nil, nil
		e.do("GET", "/api/v1/records/deal?"+q.Encode(), nil, 200, &page)
		for _, it := range page.Items {
			if seen[it["id"].(string)] {
				t.Fatalf("record %v twice", it["name"])
			}
			seen[it["id"].(string)] = true
			if _, ok := it["amount"]; ok {
				t.Fatalf("fields= returned an unasked field: %v", it)
			}
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(seen) != 13 {
		t.Fatalf("paging saw %d of 13 records", len(seen))
	}
	// A cursor is bound to its query.
	r := e.raw("GET", "/api/v1/records/deal?limit=4&cursor="+url.QueryEscape(cursor)+"&sort=name", nil)
	if r.Status != 400 || problemFields(t, r)["cursor"] == "" {
		t.Fatalf("cursor replayed on another sort: %d %s", r.Status, r.Body)
	}

	// Validation errors name the field.
	r = e.raw("POST", "/api/v1/records/deal", map[string]any{"amount": -5, "stage": "maybe", "email": "not-an-email"})
	fields := problemFields(t, r)
	if r.Status != 422 || fields["name"] == "" || fields["email"] == "" {
		t.Fatalf("validation: %d %s", r.Status, r.Body)
	}
	r = e.raw("POST", "/api/v1/records/deal", map[string]any{"name": "x", "amount": -5, "stage": "maybe"})
	fields = problemFields(t, r)
	if r.Status != 422 || fields["amount"] != "minimum" || fields["stage"] != "enum" {
		t.Fatalf("schema errors: %d %s", r.Status, r.Body)
	}
	// The validation rule.
	r = e.raw("POST", "/api/v1/records/deal", map[string]any{"name": "Late", "close_date": "2020-01-01"})
	if r.Status != 422 || !strings.Contains(string(r.Body), "Close date cannot be before creation") || problemFields(t, r)["close_date"] != "rule" {
		t.Fatalf("rule: %d %s", r.Status, r.Body)
	}
	e.do("POST", "/api/v1/records/deal", map[string]any{"name": "Today", "close_date": time.Now().UTC().Format("2006-01-02")}, 201, nil)

	// Optimistic concurrency.
	e.do("PATCH", "/api/v1/records/deal/"+id, map[string]any{"amount": 1500}, 200, &rec, "If-Match", "1")
	if rec["version"].(float64) != 2 || rec["amount"].(float64) != 1500 || rec["name"] != "Acme" {
		t.Fatalf("patched: %v", rec)
	}
	r = e.raw("PATCH", "/api/v1/records/deal/"+id, map[string]any{"amount": 1}, "If-Match", "1")
	if r.Status != 409 || problemFields(t, r)["version"] != "conflict" {
		t.Fatalf("stale If-Match: %d %s", r.Status, r.Body)
	}
	r = e.raw("PATCH", "/api/v1/records/deal/"+id, map[string]any{"amount": 1, "version": 1})
	if r.Status != 409 {
		t.Fatalf("stale body version: %d %s", r.Status, r.Body)
	}
	e.do("PUT", "/api/v1/records/deal/"+id, map[string]any{"name": "Acme Ltd", "stage": "lost"}, 200, &rec, "If-Match", `"2"`)
	if _, ok := rec["amount"]; ok || rec["version"].(float64) != 3 {
		t.Fatalf("PUT must replace: %v", rec)
	}

	// Unique fields.
	e.do("POST", "/api/v1/records/deal", map[string]any{"name": "U1", "email": " Sales@Example.com "}, 201, &rec)
	if rec["email"] != "sales@example.com" {
		t.Fatalf("email not normalized: %v", rec["email"])
	}
	r = e.raw("POST", "/api/v1/records/deal", map[string]any{"name": "U2", "email": "sales@example.com"})
	if r.Status != 409 || problemFields(t, r)["email"] != "unique" {
		t.Fatalf("duplicate unique: %d %s", r.Status, r.Body)
	}

	// Delete, then the record is gone.
	r = e.raw("DELETE", "/api/v1/records/deal/"+id, nil, "If-Match", "1")
	if r.Status != 409 {
		t.Fatalf("delete with stale version: %d", r.Status)
	}
	e.do("DELETE", "/api/v1/records/deal/"+id, nil, 204, nil, "If-Match", "3")
	e.do("GET", "/api/v1/records/deal/"+id, nil, 404, nil)

	// Every write left an audit entry and an outbox event.
	var audit struct{ Items []store.AuditEntry }
	e.do("GET", "/api/v1/audit?entity=deal&record_id="+id, nil, 200, &audit)
	var actions []string
	for _, a := range audit.Items {
		actions = append(actions, a.Action)
	}
	if strings.Join(actions, ",") != "record.delete,record.update,record.update,record.create" {
		t.Fatalf("audit of the record: %v", actions)
	}
	if ch := audit.Items[2].Changes["amount"].(map[string]any); ch["from"].(float64) != 1200 || ch["to"].(float64) != 1500 {
		t.Fatalf("field-level diff: %v", audit.Items[2].Changes)
	}
	evs, err := e.st.Events(t.Context(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var evTypes []string
	for _, ev := range evs {
		if ev.RecordID == id {
			evTypes = append(evTypes, fmt.Sprintf("%s v%d", ev.Type, ev.Version))
		}
	}
	if want := "record.created v1,record.updated v2,record.updated v3,record.deleted v3"; strings.Join(evTypes, ",") != want {
		t.Fatalf("outbox events for the record: %v, want %s (TestEventContent checks what they say)", evTypes, want)
	}

	// The schema and the OpenAPI document follow the metadata.
	var schema map[string]any
	e.do("GET", "/api/v1/meta/entities/deal/schema", nil, 200, &schema)
	if schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" || schema["properties"].(map[string]any)["score"] == nil {
		t.Fatalf("schema: %v", schema)
	}
	var oa map[string]any
	e.do("GET", "/api/v1/openapi.json", nil, 200, &oa)
	if oa["openapi"] != "3.1.0" || oa["paths"].(map[string]any)["/records/deal/{id}"] == nil {
		t.Fatalf("openapi: %v", oa["paths"])
	}
}

func TestBadInput(t *testing.T) {
	e := start(t)
	e.do("POST", "/api/v1/meta/entities", dealEntity, 201, nil)
	before, _, _ := e.st.Count(t.Context(), "deal", nil, 1000)
	auditBefore, _ := e.st.ListAudit(t.Context(), store.AuditQuery{Limit: 1000})
	cases := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"malformed json", "POST", "/api/v1/records/deal", `{"name": "x",`, 400, "body"},
		{"not an object", "POST", "/api/v1/records/deal", `["x"]`, 400, "body"},
		{"trailing data", "POST", "/api/v1/records/deal", `{"name":"x"} {"name":"y"}`, 400, "body"},
		{"empty body", "POST", "/api/v1/records/deal", ``, 400, "body"},
		{"wrong type", "POST", "/api/v1/records/deal", map[string]any{"name": 5, "amount": "lots"}, 422, "amount"},
		{"unknown field", "POST", "/api/v1/records/deal", map[string]any{"name": "x", "colour": "red"}, 422, "colour"},
		{"operator key", "POST", "/api/v1/records/deal", map[string]any{"name": "x", "$ne": 1}, 422, "$ne"},
		{"system field", "POST", "/api/v1/records/deal", map[string]any{"name": "x", "id": "0190b5d0-0000-7000-8000-000000000000"}, 422, "id"},
		{"created_at", "POST", "/api/v1/records/deal", map[string]any{"name": "x", "created_at": "2020-01-01T00:00:00Z"}, 422, "created_at"},
		{"operator value", "POST", "/api/v1/records/deal", map[string]any{"name": map[string]any{"$gt": ""}}, 422, "name"},
		{"unknown entity", "GET", "/api/v1/records/nope", nil, 404, ""},
		{"unknown entity write", "POST", "/api/v1/records/nope", map[string]any{"name": "x"}, 404, ""},
		{"filter unknown field", "GET", "/api/v1/records/deal?filter=" + url.QueryEscape(`colour == "red"`), nil, 400, "filter"},
		{"filter function", "GET", "/api/v1/records/deal?filter=" + url.QueryEscape(`name == exec("ls")`), nil, 400, "filter"},
		{"filter sql", "GET", "/api/v1/records/deal?filter=" + url.QueryEscape(`name == "x" OR 1=1; DROP TABLE rec_deal`), nil, 400, "filter"},
		{"filter $where", "GET", "/api/v1/records/deal?filter=" + url.QueryEscape(`$where == "sleep(1000)"`), nil, 400, "filter"},
		{"sort unknown", "GET", "/api/v1/records/deal?sort=-colour", nil, 400, "sort"},
		{"sort injection", "GET", "/api/v1/records/deal?sort=" + url.QueryEscape("name; DROP TABLE x"), nil, 400, "sort"},
		{"fields unknown", "GET", "/api/v1/records/deal?fields=name,secret", nil, 400, "fields"},
		{"limit too big", "GET", "/api/v1/records/deal?limit=501", nil, 400, "limit"},
		{"limit not a number", "GET", "/api/v1/records/deal?limit=ten", nil, 400, "limit"},
		{"bad cursor", "GET", "/api/v1/records/deal?cursor=abc", nil, 400, "cursor"},
		{"bad id", "GET", "/api/v1/records/deal/' OR 1=1", nil, 404, ""},
		{"bad If-Match", "PATCH", "/api/v1/records/deal/0190b5d0-0000-7000-8000-000000000000", map[string]any{"name": "x"}, 400, "If-Match"},
		{"meta unknown key", "POST", "/api/v1/meta/entities", map[string]any{"name": "x", "colour": "red"}, 422, ""},
		{"meta bad name", "POST", "/api/v1/meta/entities", map[string]any{"name": "Robert'); DROP TABLE"}, 422, "name"},
		{"meta unknown type", "POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "x", "type": "blob"}, 422, "type"},
		{"meta reserved field", "POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "owner", "type": "text"}, 422, "fields.owner.name"},
		{"meta duplicate field", "POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "amount", "type": "text"}, 409, ""},
		{"meta bad formula", "POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "f", "type": "formula", "formula": "amount +"}, 422, "fields.f.formula"},
		{"meta lookup target", "POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "acct", "type": "lookup", "target": "nope"}, 422, "fields.acct.target"},
		{"meta select without options", "POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "s", "type": "select"}, 422, "fields.s.options"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(tc.method, tc.path, tc.body, "If-Match", map[bool]string{true: "abc", false: ""}[tc.name == "bad If-Match"])
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", r.Status, tc.status, r.Body)
			}
			fields := problemFields(t, r)
			if tc.field != "" {
				if _, ok := fields[tc.field]; !ok {
					t.Fatalf("error does not name %q: %s", tc.field, r.Body)
				}
			}
		})
	}
	// A 10 MB body is refused from its headers, before it is read.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/v1/records/deal HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", e.token, 10<<20)
	status, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || !strings.Contains(status, " 413 ") {
		t.Fatalf("10 MB body: %q %v", status, err)
	}
	after, _, _ := e.st.Count(t.Context(), "deal", nil, 1000)
	auditAfter, _ := e.st.ListAudit(t.Context(), store.AuditQuery{Limit: 1000})
	if after != before || len(auditAfter) != len(auditBefore) {
		t.Fatalf("bad input changed something: records %d→%d, audit %d→%d", before, after, len(auditBefore), len(auditAfter))
	}
}
