package server_test

import (
	"strings"
	"testing"
)

// TestNumberDefinitions: a field whose default, min or max its type cannot
// hold is refused when the metadata is saved, naming the place; the same
// definitions at the edge of the range are accepted.
func TestNumberDefinitions(t *testing.T) {
	e := start(t)
	e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "def", "fields": []any{
		map[string]any{"name": "label", "type": "text"}}}, 201, nil)
	for _, c := range []struct {
		body, field string
	}{
		{`{"name":"d","type":"currency","default":1e307}`, "fields.d.default"},
		{`{"name":"d","type":"currency","min":0,"default":1e307}`, "fields.d.default"},
		{`{"name":"d","type":"integer","default":12345678901234567890}`, "fields.d.default"},
		{`{"name":"d","type":"integer","max":1e300}`, "fields.d.max"},
		{`{"name":"d","type":"currency","min":-1e14}`, "fields.d.min"},
		{`{"name":"d","type":"number","min":1e400}`, "min"},
		{`{"name":"d","type":"number","max":-1e-400}`, "max"},
		{`{"name":"d","type":"number","default":1e400}`, "default"},
		{`{"name":"d","type":"json","default":{"x":[1e-400]}}`, "default.x.0"},
	} {
		r := e.raw("POST", "/api/v1/meta/entities/def/fields", c.body)
		if r.Status != 422 || problemFields(t, r)[c.field] != "out_of_range" {
			t.Errorf("%s: %d %s, want 422 out_of_range at %s", c.body, r.Status, r.Body, c.field)
		}
	}
	r := e.raw("POST", "/api/v1/meta/entities", `{"name":"def2","fields":[{"name":"a","type":"number","min":1e400}]}`)
	if r.Status != 422 || problemFields(t, r)["fields.0.min"] != "out_of_range" {
		t.Errorf("entity with min 1e400: %d %s", r.Status, r.Body)
	}
	e.do("POST", "/api/v1/meta/entities/def/fields", `{"name":"ok","type":"integer","min":-9007199254740991,"max":9007199254740991,"default":9007199254740991}`, 201, nil)
	r = e.raw("PATCH", "/api/v1/meta/entities/def/fields/ok", `{"max":9007199254740992}`)
	if r.Status != 422 || problemFields(t, r)["fields.ok.max"] != "out_of_range" {
		t.Errorf("PATCH max beyond the integer range: %d %s", r.Status, r.Body)
	}
	var rec map[string]any
	e.do("POST", "/api/v1/records/def", map[string]any{}, 201, &rec)
	if rec["ok"] != 9007199254740991.0 {
		t.Errorf("edge default: %v", rec["ok"])
	}
	// The schema publishes the range.
	var schema struct {
		Properties map[string]map[string]any
	}
	e.do("GET", "/api/v1/meta/entities/def/schema", nil, 200, &schema)
	if p := schema.Properties["ok"]; p["maximum"] != 9007199254740991.0 || p["minimum"] != -9007199254740991.0 {
		t.Errorf("integer schema %v", p)
	}
}

// TestNumberResults: a default expression or formula whose result no JSON
// client can read (1 / 0 is +Inf) or the field cannot hold is a 422 naming
// the field, not a silent null; a formula over empty fields stays empty.
func TestNumberResults(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startWith(t, open(t))
			e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "calc", "fields": []any{
				map[string]any{"name": "x", "type": "number"},
				map[string]any{"name": "y", "type": "number"},
				map[string]any{"name": "ratio", "type": "formula", "formula": "x / y"},
			}}, 201, nil)
			var rec map[string]any
			e.do("POST", "/api/v1/records/calc", map[string]any{"x": 1, "y": 2}, 201, &rec)
			if rec["ratio"] != 0.5 {
				t.Fatalf("formula: %v", rec)
			}
			id := rec["id"].(string)
			e.do("POST", "/api/v1/records/calc", map[string]any{}, 201, &rec)
			if _, has := rec["ratio"]; has {
				t.Fatalf("formula over empty fields: %v", rec)
			}
			for _, body := range []map[string]any{{"x": 1, "y": 0}, {"x": 0, "y": 0}, {"x": 1.7976931348623157e308, "y": 0.5}} {
				r := e.raw("POST", "/api/v1/records/calc", body)
				if r.Status != 422 || problemFields(t, r)["ratio"] != "out_of_range" {
					t.Errorf("formula %v: %d %s", body, r.Status, r.Body)
				}
			}
			r := e.raw("PATCH", "/api/v1/records/calc/"+id, map[string]any{"y": 0})
			if r.Status != 422 || problemFields(t, r)["ratio"] != "out_of_range" {
				t.Errorf("update to a +Inf formula: %d %s", r.Status, r.Body)
			}
			e.do("GET", "/api/v1/records/calc/"+id, nil, 200, &rec)
			if rec["version"] != 1.0 || rec["y"] != 2.0 {
				t.Errorf("refused update wrote: %v", rec)
			}

			for _, c := range []struct{ field, typ, expr string }{
				{"inf", "number", "1 / 0"},
				{"nan", "number", "0 / 0"},
				{"big", "currency", "1e14"},
				{"huge", "integer", "2 ** 60"},
				{"frac", "integer", "7 / 2"},
			} {
				e.do("POST", "/api/v1/meta/entities/calc/fields", map[string]any{"name": c.field, "type": c.typ, "default_expr": c.expr}, 201, nil)
				r := e.raw("POST", "/api/v1/records/calc", map[string]any{"x": 1})
				fields := problemFields(t, r)
				if r.Status != 422 || (fields[c.field] != "out_of_range" && fields[c.field] != "type") {
					t.Errorf("default_expr %s on %s: %d %s", c.expr, c.typ, r.Status, r.Body)
				}
				e.do("DELETE", "/api/v1/meta/entities/calc/fields/"+c.field, nil, 204, nil)
			}
			var page struct{ Count int }
			e.do("GET", "/api/v1/records/calc?count=true", nil, 200, &page)
			if page.Count != 2 {
				t.Errorf("%d records, want 2: a refused write stored", page.Count)
			}
		})
	}
}

// TestNumberConversions: a type change converts every value the new type
// holds or is refused with a report naming the records that do not; it
// never panics and never writes a value the type cannot hold (number →
// currency with min 0 over 1e307 overflowed to +Inf and panicked).
func TestNumberConversions(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startWith(t, open(t))
			e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "conv", "fields": []any{
				map[string]any{"name": "num", "type": "number"},
				map[string]any{"name": "txt", "type": "text"},
			}}, 201, nil)
			ids := map[string]string{}
			for _, body := range []string{`{"num":1e307}`, `{"num":1e20}`, `{"num":1.5}`, `{"num":-0.125}`,
				`{"txt":"12345678901234567890"}`, `{"txt":"NaN"}`, `{"txt":"1e400"}`, `{"txt":"0x10"}`, `{"txt":" 1.005 "}`, `{"txt":"Infinity"}`} {
				var rec map[string]any
				e.do("POST", "/api/v1/records/conv", body, 201, &rec)
				ids[body] = rec["id"].(string)
			}
			refused := func(patch map[string]any, bad ...string) {
				t.Helper()
				r := e.raw("PATCH", "/api/v1/meta/entities/conv/fields/"+patch["name"].(string), patch)
				if r.Status != 422 {
					t.Fatalf("%v: %d %s", patch, r.Status, r.Body)
				}
				for _, b := range bad {
					if !strings.Contains(string(r.Body), ids[b]) {
						t.Errorf("%v: report does not name the record of %s: %s", patch, b, r.Body)
					}
				}
				if fields := problemFields(t, r); fields[patch["name"].(string)] != "conversion" {
					t.Errorf("%v: errors %s", patch, r.Body)
				}
			}
			refused(map[string]any{"name": "num", "type": "currency", "min": 0}, `{"num":1e307}`, `{"num":1e20}`, `{"num":-0.125}`)
			refused(map[string]any{"name": "num", "type": "currency"}, `{"num":1e307}`, `{"num":1e20}`)
			refused(map[string]any{"name": "num", "type": "integer"}, `{"num":1e307}`, `{"num":1e20}`, `{"num":1.5}`, `{"num":-0.125}`)
			refused(map[string]any{"name": "txt", "type": "number"}, `{"txt":"NaN"}`, `{"txt":"1e400"}`, `{"txt":"0x10"}`, `{"txt":"Infinity"}`)
			refused(map[string]any{"name": "txt", "type": "integer"}, `{"txt":"12345678901234567890"}`, `{"txt":" 1.005 "}`, `{"txt":"NaN"}`)
			var rec map[string]any
			e.do("GET", "/api/v1/records/conv/"+ids[`{"num":1e307}`], nil, 200, &rec)
			if rec["num"] != 1e307 || rec["version"] != 1.0 {
				t.Fatalf("a refused conversion changed a record: %v", rec)
			}

			// What the type holds converts: text to currency rounds the
			// decimal as written.
			for _, body := range []string{`{"txt":"NaN"}`, `{"txt":"1e400"}`, `{"txt":"0x10"}`, `{"txt":"Infinity"}`, `{"txt":"12345678901234567890"}`} {
				e.do("DELETE", "/api/v1/records/conv/"+ids[body], nil, 204, nil)
			}
			e.do("PATCH", "/api/v1/meta/entities/conv/fields/txt", map[string]any{"type": "currency"}, 200, nil)
			e.do("GET", "/api/v1/records/conv/"+ids[`{"txt":" 1.005 "}`], nil, 200, &rec)
			if rec["txt"] != 1.01 {
				t.Fatalf("text 1.005 as currency: %v", rec)
			}
		})
	}
}
