package expression_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

func deal() *metadata.Entity {
	return &metadata.Entity{Name: "deal", Ownership: true, Fields: []*metadata.Field{
		{Name: "name", Type: "text"},
		{Name: "amount", Type: "currency"},
		{Name: "qty", Type: "integer"},
		{Name: "stage", Type: "select", Options: []metadata.Option{{Value: "won"}, {Value: "lost"}}},
		{Name: "close_date", Type: "date"},
		{Name: "hot", Type: "boolean"},
		{Name: "tags", Type: "tags"},
		{Name: "extra", Type: "json"},
		{Name: "margin", Type: "number"},
		{Name: "old", Type: "text", Deleted: true},
	}}
}

func resolver() *expression.EntityResolver {
	return &expression.EntityResolver{Entity: deal(),
		Hidden: func(f string) bool { return f == "margin" },
		Vars:   map[string]any{"user": map[string]any{"id": "u1", "team_ids": []any{"t1", "t2"}}}}
}

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestPushdown(t *testing.T) {
	cases := []struct{ src, want string }{
		{`stage in ["won","lost"] and amount >= 1000 and close_date >= date("2026-01-01")`,
			`(stage in [won lost] and amount ge 1000 and close_date ge "2026-01-01")`},
		{`stage == "won"`, `stage eq "won"`},
		{`"won" == stage`, `stage eq "won"`},
		{`1000 < amount`, `amount gt 1000`},
		{`amount != nil`, `amount not_null`},
		{`close_date == nil`, `close_date is_null`},
		{`not hot`, `not hot eq true`},
		{`!(qty > 3)`, `not qty gt 3`},
		{`"vip" in tags`, `tags has "vip"`},
		{`tags in ["a","b"]`, `tags has_any [a b]`},
		{`name contains "Ac" or name startsWith "B" or name endsWith "z"`, `(name contains "Ac" or name starts_with "B" or name ends_with "z")`},
		{`owner == user.id`, `owner eq "u1"`},
		{`owner in user.team_ids`, `owner in [t1 t2]`},
		{`true`, `true`},
		{`created_at >= days_ago(7)`, `created_at ge "2026-11-18T00:00:00.000Z"`},
		{`close_date < today()`, `close_date lt "2026-11-25"`},
		{`amount >= -5`, `amount ge -5`},
		{`stage not in ["won"]`, `not stage in [won]`},
	}
	for _, tc := range cases {
		c, err := expression.Pushdown(tc.src, resolver(), now)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if got := c.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.src, got, tc.want)
		}
	}
}

func TestPushdownRefuses(t *testing.T) {
	cases := []struct{ src, wantMsg string }{
		{`nope == 1`, `unknown field "nope"`},
		{`margin > 1`, `unknown field "margin"`}, // hidden: same answer as unknown
		{`old == "x"`, `unknown field "old"`},    // deleted
		{`extra == 1`, `cannot be used in a filter`},
		{`exec("rm")`, `not a condition`},
		{`amount > exec("rm")`, `function "exec" is not allowed`},
		{`amount > len("x")`, `function "len" is not allowed`},
		{`name matches ".*"`, `regular expressions`},
		{`amount > qty`, `comparing two fields`},
		{`amount == "x"`, `amount is a number field`},
		{`close_date > "yesterday"`, `close_date is a date field`},
		{`$where == 1`, `unknown field "$where"`},
		{`amount`, `not a condition`},
		{`stage ==`, `syntax error`},
		{`amount + 1 > 2`, `not allowed`},
		{`user.password == "x"`, `unknown attribute`},
		{strings.Repeat("a", expression.MaxFilterLen+1), `longer than`},
	}
	for _, tc := range cases {
		_, err := expression.Pushdown(tc.src, resolver(), now)
		if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("%.40s: got %v, want error containing %q", tc.src, err, tc.wantMsg)
		}
	}
}

func TestProgramDates(t *testing.T) {
	p, err := expression.Compile(`close_date == nil or close_date >= created_at`)
	if err != nil {
		t.Fatal(err)
	}
	today, _ := expression.NewDate("2026-11-25")
	yesterday, _ := expression.NewDate("2026-11-24")
	for _, tc := range []struct {
		env  map[string]any
		want bool
	}{
		{map[string]any{"close_date": today, "created_at": now}, true}, // same day counts
		{map[string]any{"close_date": yesterday, "created_at": now}, false},
		{map[string]any{"created_at": now}, true},
	} {
		got, err := p.Bool(tc.env)
		if err != nil || got != tc.want {
			t.Errorf("%v: got %v %v, want %v", tc.env, got, err, tc.want)
		}
	}
	f, _ := expression.Compile(`amount * 2 > 10 and name != nil`)
	if ok, err := f.Bool(map[string]any{"amount": 6.0, "name": "x"}); !ok || err != nil {
		t.Fatalf("arithmetic: %v %v", ok, err)
	}
	if ok, err := f.Bool(map[string]any{"amount": nil}); ok || err == nil {
		// nil * 2 is an error, reported, not a panic
		t.Fatalf("nil arithmetic must be an error, not %v %v", ok, err)
	}
	if _, err := expression.Compile(`amount >`); err == nil {
		t.Fatal("bad source compiled")
	}
}

func FuzzPushdown(f *testing.F) {
	for _, s := range []string{`stage == "won"`, `amount >= 1 and not hot`, `"x" in tags`, `owner in user.team_ids`,
		`close_date >= date("2026-01-01")`, `name contains "a" || qty < -3`, `[1,2] == nil`, `$ne`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := expression.Pushdown(src, resolver(), now)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q produced an invalid IR: %v", src, err)
		}
	})
}

// TestLongVariableList: a manager's team of thousands is a list from the
// user variable, not one typed in a filter; it must not fail closed at the
// 1,000 items a written list may hold.
func TestLongVariableList(t *testing.T) {
	ids := make([]any, 5000)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%05d", i)
	}
	res := resolver()
	res.Vars = map[string]any{"user": map[string]any{"subtree_member_ids": ids}}
	c, err := expression.Pushdown("owner in user.subtree_member_ids", res, now)
	if err != nil || c.Op != store.OpIn || len(c.Values) != 5000 {
		t.Fatalf("a 5,000-member team: %v %v", c, err)
	}
	written := "owner in [" + strings.Repeat(`"x",`, 1000) + `"x"]`
	if _, err := expression.Pushdown(written, resolver(), now); err == nil {
		t.Fatal("a written list of 1,001 items was taken")
	}
}
