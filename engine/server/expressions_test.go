package server_test

import (
	"net/url"
	"strings"
	"testing"
)

type checked struct {
	OK    bool `json:"ok"`
	Error struct {
		Message string `json:"message"`
		Field   string `json:"field"`
		Offset  *int   `json:"offset"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
	} `json:"error"`
}

// TestCheckExpression: an editor learns whether an expression compiles for
// its place and where it goes wrong, as the person types; filters against
// the fields the caller may see, definitions for admins only.
func TestCheckExpression(t *testing.T) {
	o := setupOrg(t, start(t))
	admin, rep := o.admin, o.users["rep1"]
	check := func(e *env, mode, src string, status int) checked {
		t.Helper()
		var c checked
		e.do("POST", "/api/v1/expressions/check", map[string]any{"entity": "deal", "expression": src, "mode": mode}, status, &c)
		return c
	}
	if c := check(rep, "filter", `stage == "won" and amount > 10`, 200); !c.OK {
		t.Fatalf("a good filter: %+v", c)
	}
	// A field hidden from the rep is unknown to them, at its place.
	c := check(rep, "filter", `stage == "won" and margin > 1`, 200)
	if c.OK || c.Error.Field != "margin" || c.Error.Offset == nil || *c.Error.Offset != 19 || c.Error.Column != 19 || c.Error.Line != 1 {
		t.Fatalf("hidden field in a filter: %+v", c)
	}
	if c := check(admin, "filter", `stage == "won" and margin > 1`, 200); !c.OK {
		t.Fatalf("the admin's filter on margin: %+v", c)
	}
	c = check(rep, "filter", "amount >\n  ", 200)
	if c.OK || c.Error.Line != 1 || !strings.Contains(c.Error.Message, "syntax") {
		t.Fatalf("a syntax error: %+v", c)
	}
	c = check(admin, "formula", "amount *\n ratee", 200)
	if c.OK || c.Error.Field != "ratee" || c.Error.Line != 2 || c.Error.Column != 1 {
		t.Fatalf("an unknown name in a formula: %+v", c)
	}
	if c := check(admin, "rule", "amount >= 0 or user.id == owner", 200); !c.OK {
		t.Fatalf("a good rule: %+v", c)
	}
	if c := check(admin, "row_rule", "owner == user.id or region == user.region", 200); !c.OK {
		t.Fatalf("a good row rule: %+v", c)
	}
	if c := check(admin, "row_rule", "amount * 2 > 1", 200); c.OK || c.Error.Offset == nil {
		t.Fatalf("a row rule the store cannot run: %+v", c)
	}
	check(rep, "formula", "amount * 2", 403)
	check(admin, "poem", "x", 422)
	admin.do("POST", "/api/v1/expressions/check", map[string]any{"entity": "nope", "expression": "x", "mode": "filter"}, 422, nil)
	o.users["nobody"].do("POST", "/api/v1/expressions/check", map[string]any{"entity": "deal", "expression": "x", "mode": "filter"}, 403, nil)

	// A list that refuses a filter says where.
	r := rep.raw("GET", "/api/v1/records/deal?"+url.Values{"filter": {`name == "A" and colour == 1`}}.Encode(), nil)
	if r.Status != 400 || !strings.Contains(string(r.Body), `"offset":16`) || !strings.Contains(string(r.Body), `"line":1`) {
		t.Fatalf("list with a bad filter: %d %s", r.Status, r.Body)
	}
	// Saving a formula or rule that names what the entity lacks is refused
	// with the path and the place.
	r = admin.raw("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "total", "type": "formula", "formula": "amount * ratee"})
	if r.Status != 422 || problemFields(t, r)["fields.total.formula"] != "unknown_field" || !strings.Contains(string(r.Body), "column 10") {
		t.Fatalf("a formula over an unknown field: %d %s", r.Status, r.Body)
	}
}
