package server_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"testing"
)

// numEntity has one field of every numeric type, and a currency with
// min 0 like the README's deal amount: its JSON Schema minimum is the
// check that panicked on +Inf (issue 13).
var numEntity = map[string]any{"name": "num", "fields": []any{
	map[string]any{"name": "label", "type": "text"},
	map[string]any{"name": "n", "type": "number"},
	map[string]any{"name": "p", "type": "percent"},
	map[string]any{"name": "c", "type": "currency"},
	map[string]any{"name": "cm", "type": "currency", "min": 0},
	map[string]any{"name": "i", "type": "integer"},
	map[string]any{"name": "j", "type": "json"},
}}

// outcome is what a field answers for a value: stored (and read back as
// the JSON of v) or refused with a 422 naming it with code.
type outcome struct {
	v    any
	code string
}

func ok(v any) outcome       { return outcome{v: v} }
func no(code string) outcome { return outcome{code: code} }
func (o outcome) String() string {
	if o.code != "" {
		return "422 " + o.code
	}
	b, _ := json.Marshal(o.v)
	return "= " + string(b)
}

// numberEdges are the edge values of issue 13 as a client sends them, and
// what a number (and percent), currency, integer and json field answers.
// A currency with min 0 answers like currency, except "minimum" for a
// negative amount. A json field gets the value inside {"v":[…]}.
var numberEdges = []struct {
	text          string
	n, c, i, json outcome
}{
	{`1e400`, no("out_of_range"), no("out_of_range"), no("out_of_range"), no("out_of_range")},
	{`-1e400`, no("out_of_range"), no("out_of_range"), no("out_of_range"), no("out_of_range")},
	{`1.8e308`, no("out_of_range"), no("out_of_range"), no("out_of_range"), no("out_of_range")},
	{`1.7976931348623157e308`, ok(math.MaxFloat64), no("out_of_range"), no("out_of_range"), ok(math.MaxFloat64)},
	{`1e307`, ok(1e307), no("out_of_range"), no("out_of_range"), ok(1e307)},
	{`1e21`, ok(1e21), no("out_of_range"), no("out_of_range"), ok(1e21)},
	{`1e-400`, no("out_of_range"), ok(0.0), no("type"), no("out_of_range")},
	{`5e-324`, ok(5e-324), ok(0.0), no("type"), ok(5e-324)},
	{`1e-7`, ok(1e-7), ok(0.0), no("type"), ok(1e-7)},
	{`0`, ok(0.0), ok(0.0), ok(int64(0)), ok(0.0)},
	{`-0`, ok(0.0), ok(0.0), ok(int64(0)), ok(0.0)},
	{`-0.0`, ok(0.0), ok(0.0), ok(int64(0)), ok(0.0)},
	{`9223372036854775807`, ok(9223372036854775807.0), no("out_of_range"), no("out_of_range"), ok(9223372036854775807.0)},
	{`9223372036854775808`, ok(9223372036854775808.0), no("out_of_range"), no("out_of_range"), ok(9223372036854775808.0)},
	{`-9223372036854775808`, ok(-9223372036854775808.0), no("out_of_range"), no("out_of_range"), ok(-9223372036854775808.0)},
	{`-9223372036854775809`, ok(-9223372036854775808.0), no("out_of_range"), no("out_of_range"), ok(-9223372036854775808.0)},
	{`12345678901234567890`, ok(12345678901234567890.0), no("out_of_range"), no("out_of_range"), ok(12345678901234567890.0)},
	{`9007199254740991`, ok(9007199254740991.0), no("out_of_range"), ok(int64(9007199254740991)), ok(9007199254740991.0)},
	{`9007199254740992`, ok(9007199254740992.0), no("out_of_range"), no("out_of_range"), ok(9007199254740992.0)},
	{`9007199254740993`, ok(9007199254740992.0), no("out_of_range"), no("out_of_range"), ok(9007199254740992.0)},
	{`-9007199254740991`, ok(-9007199254740991.0), no("out_of_range"), ok(int64(-9007199254740991)), ok(-9007199254740991.0)},
	{`-9007199254740992`, ok(-9007199254740992.0), no("out_of_range"), no("out_of_range"), ok(-9007199254740992.0)},
	{`1.005`, ok(1.005), ok(1.01), no("type"), ok(1.005)},
	{`0.125`, ok(0.125), ok(0.13), no("type"), ok(0.125)},
	{`-0.125`, ok(-0.125), ok(-0.13), no("type"), ok(-0.125)},
	{`0.005`, ok(0.005), ok(0.01), no("type"), ok(0.005)},
	{`0.0049999999999999999999`, ok(0.005), ok(0.0), no("type"), ok(0.005)},
	{`123.456789`, ok(123.456789), ok(123.46), no("type"), ok(123.456789)},
	{`3.14159265358979323846264338327950288`, ok(math.Pi), ok(3.14), no("type"), ok(math.Pi)},
	{`100.0000000000000000000001`, ok(100.0), ok(100.0), no("type"), ok(100.0)},
	{`9999999999999.99`, ok(9999999999999.99), ok(9999999999999.99), no("type"), ok(9999999999999.99)},
	{`-9999999999999.99`, ok(-9999999999999.99), ok(-9999999999999.99), no("type"), ok(-9999999999999.99)},
	{`9999999999999.995`, ok(9999999999999.995), no("out_of_range"), no("type"), ok(9999999999999.995)},
	{`10000000000000`, ok(1e13), no("out_of_range"), ok(int64(1e13)), ok(1e13)},
	{`90071992547409.91`, ok(90071992547409.91), no("out_of_range"), no("type"), ok(90071992547409.91)},
	{`1.5`, ok(1.5), ok(1.5), no("type"), ok(1.5)},
	{`1e3`, ok(1000.0), ok(1000.0), ok(int64(1000)), ok(1000.0)},
	{`1.0`, ok(1.0), ok(1.0), ok(int64(1)), ok(1.0)},
	{`1E2`, ok(100.0), ok(100.0), ok(int64(100)), ok(100.0)},
	{`-5`, ok(-5.0), ok(-5.0), ok(int64(-5)), ok(-5.0)},
	{`"12"`, no("type"), no("type"), no("type"), ok("12")},
	{`"1e400"`, no("type"), no("type"), no("type"), ok("1e400")},
	{`"NaN"`, no("type"), no("type"), no("type"), ok("NaN")},
	{`"Infinity"`, no("type"), no("type"), no("type"), ok("Infinity")},
	{`true`, no("type"), no("type"), no("type"), ok(true)},
	{`[1]`, no("type"), no("type"), no("type"), ok([]any{1.0})},
}

// expect is what field answers for edge value number k.
func expect(k int, field string) outcome {
	e := numberEdges[k]
	switch field {
	case "n", "p":
		return e.n
	case "c":
		return e.c
	case "cm":
		if f, isF := e.c.v.(float64); isF && f < 0 {
			return no("minimum")
		}
		return e.c
	case "i":
		return e.i
	}
	if e.json.code != "" {
		return e.json
	}
	return ok(map[string]any{"v": []any{e.json.v}})
}

// TestNumberEdges: every numeric field type against every edge value, on
// both stores, through the API: a create and an update either store the
// value, which reads back as expected, or answer 422 naming the field with
// the expected code and change nothing. Lists, sorts and aggregates over
// everything stored then answer.
func TestNumberEdges(t *testing.T) {
	fields := []string{"n", "p", "c", "cm", "i", "j"}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startWith(t, open(t))
			e.do("POST", "/api/v1/meta/entities", numEntity, 201, nil)
			var base map[string]any
			e.do("POST", "/api/v1/records/num", map[string]any{"label": "base"}, 201, &base)
			baseURL := "/api/v1/records/num/" + base["id"].(string)
			version := 1
			created := 1
			for k, edge := range numberEdges {
				for _, f := range fields {
					want := expect(k, f)
					body := fmt.Sprintf(`{%q:%s}`, f, edge.text)
					if f == "j" {
						body = fmt.Sprintf(`{"j":{"v":[%s]}}`, edge.text)
					}
					what := fmt.Sprintf("%s %s", f, body)

					r := e.raw("POST", "/api/v1/records/num", body)
					if want.code != "" {
						checkRefused(t, what+" create", r, f, want.code)
					} else {
						if r.Status != 201 {
							t.Errorf("%s create: %d %s, want %v", what, r.Status, r.Body, want)
							continue
						}
						created++
						id := r.JSON(t)["id"].(string)
						checkStored(t, what+" create", r, f, want)
						checkStored(t, what+" read", e.raw("GET", "/api/v1/records/num/"+id, nil), f, want)
					}

					r = e.raw("PATCH", baseURL, body)
					if want.code != "" {
						checkRefused(t, what+" update", r, f, want.code)
					} else {
						if r.Status != 200 {
							t.Errorf("%s update: %d %s", what, r.Status, r.Body)
							continue
						}
						if v := int(r.JSON(t)["version"].(float64)); v != version {
							version = v
						}
						checkStored(t, what+" update", r, f, want)
					}
					var cur map[string]any
					e.do("GET", baseURL, nil, 200, &cur)
					if int(cur["version"].(float64)) != version {
						t.Fatalf("%s: base record at version %v, want %d (a refused update wrote)", what, cur["version"], version)
					}
				}
			}
			// Nothing refused was created, and every stored value encodes.
			var page struct {
				Items []map[string]any
				Count int
			}
			e.do("GET", "/api/v1/records/num?count=true&limit=500", nil, 200, &page)
			if page.Count != created {
				t.Fatalf("%d records, want %d: a refused create wrote", page.Count, created)
			}
			for _, f := range fields[:5] {
				for _, sort := range []string{f, "-" + f} {
					e.do("GET", "/api/v1/records/num?limit=500&sort="+sort, nil, 200, &page)
					if len(page.Items) != created {
						t.Errorf("sort %s: %d items", sort, len(page.Items))
					}
				}
				q := url.Values{"measures": {"count,sum:" + f + ",avg:" + f + ",min:" + f + ",max:" + f + ",count_distinct:" + f}}
				e.do("GET", "/api/v1/records/num/aggregate?"+q.Encode(), nil, 200, nil)
				q = url.Values{"group_by": {f}, "measures": {"count"}}
				e.do("GET", "/api/v1/records/num/aggregate?"+q.Encode(), nil, 200, nil)
			}
		})
	}
}

func checkRefused(t *testing.T, what string, r *response, field, code string) {
	t.Helper()
	if r.Status != 422 {
		t.Errorf("%s: %d %s, want 422 %s", what, r.Status, r.Body, code)
		return
	}
	if got := problemFields(t, r)[field]; got != code {
		t.Errorf("%s: errors %s, want %s on %s", what, r.Body, code, field)
	}
}

func checkStored(t *testing.T, what string, r *response, field string, want outcome) {
	t.Helper()
	if r.Status/100 != 2 {
		t.Errorf("%s: %d %s", what, r.Status, r.Body)
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s: %v: %s", what, err, r.Body)
	}
	w, _ := json.Marshal(want.v)
	if got := string(m[field]); got != string(w) {
		t.Errorf("%s: reads back %s, want %s", what, got, w)
	}
}
