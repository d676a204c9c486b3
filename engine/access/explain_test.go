package access_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// TestExplain: the report says, per operation, which role's rule matches
// the record as the store runs it, and which fields are limited.
func TestExplain(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		f.testRoles(t)
		const me = "u-me"
		eastOther := insert(t, st, "deal", "u-other", map[string]any{"name": "A", "region": "east"})
		eastMine := insert(t, st, "deal", me, map[string]any{"name": "D", "region": "east"})
		west := insert(t, st, "deal", "u-other", map[string]any{"name": "C", "region": "west"})
		type check struct {
			role    string
			source  string
			matches bool
		}
		cases := []struct {
			name   string
			roles  []string
			id     string
			exists bool
			can    map[string]bool
			rules  map[string][]check
			fields map[string]string
		}{
			{"another's east record", []string{"own", "east_reader"}, eastOther, true,
				map[string]bool{"create": true, "read": true, "update": false, "delete": false},
				map[string][]check{
					"create": {{"own", "deal", true}, {"east_reader", "deal", false}},
					"read":   {{"own", "deal", false}, {"east_reader", "deal", true}},
					"update": {{"own", "deal", false}, {"east_reader", "deal", false}},
				}, map[string]string{}},
			{"one's own record", []string{"own", "east_reader"}, eastMine, true,
				map[string]bool{"create": true, "read": true, "update": true, "delete": true}, map[string][]check{
					"read": {{"own", "deal", true}, {"east_reader", "deal", true}},
				}, map[string]string{}},
			{"outside every rule", []string{"own", "east_reader"}, west, true,
				map[string]bool{"create": true, "read": false, "update": false, "delete": false}, nil, map[string]string{}},
			{"a record that does not exist", []string{"read_only", "east_reader"}, "01900000-0000-7000-8000-000000000000", false,
				map[string]bool{"create": false, "read": false, "update": false, "delete": false}, map[string][]check{
					"read": {{"read_only", "*", false}, {"east_reader", "deal", false}},
				}, map[string]string{"name": "read_only", "margin": "read_only"}},
			{"no record: the entity", []string{"east_reader"}, "", false,
				map[string]bool{"create": false, "read": true, "update": false, "delete": false}, nil,
				map[string]string{"name": "read_only", "margin": "read_only"}},
			{"field limits", []string{"rep_hide"}, eastOther, true,
				map[string]bool{"create": true, "read": true, "update": true, "delete": false}, nil,
				map[string]string{"margin": "hidden", "amount": "read_only"}},
			{"no grant", []string{"nothing"}, eastOther, true,
				map[string]bool{"create": false, "read": false, "update": false, "delete": false}, map[string][]check{},
				map[string]string{"name": "hidden", "amount": "hidden", "margin": "hidden", "region": "hidden", "stage": "hidden"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				x, err := f.policy.Explain(t.Context(), user(me, tc.roles...), f.deal, tc.id)
				if err != nil {
					t.Fatal(err)
				}
				if x.User != me || x.Entity != "deal" || x.RecordID != tc.id || x.Exists != tc.exists || x.Admin {
					t.Fatalf("report: %+v", x)
				}
				if !reflect.DeepEqual(x.Can, tc.can) {
					t.Errorf("can %v, want %v", x.Can, tc.can)
				}
				for op, want := range tc.rules {
					var got []check
					for _, rc := range x.Rules[op] {
						got = append(got, check{rc.Role, rc.Source, rc.Matches})
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s rules %v, want %v", op, got, want)
					}
				}
				for field, perm := range tc.fields {
					if x.Fields[field] != perm {
						t.Errorf("field %s: %q, want %q (all %v)", field, x.Fields[field], perm, x.Fields)
					}
				}
				if len(tc.fields) == 0 && len(x.Fields) != 0 {
					t.Errorf("fields %v, want none limited", x.Fields)
				}
			})
		}
	})
}

// TestExplainDetails: an admin's report, a rule that does not translate
// for the user, the roles in order, and ForUser's team ids.
func TestExplainDetails(t *testing.T) {
	st := stores["sqlite"](t)
	f := newFixture(t, st)
	f.testRoles(t)
	id := insert(t, st, "deal", "u-other", map[string]any{"name": "A", "region": "east"})

	x, err := f.policy.Explain(t.Context(), user("u-a", "super"), f.deal, id)
	if err != nil {
		t.Fatal(err)
	}
	if !x.Admin || !x.Exists || len(x.Rules) != 0 || len(x.Fields) != 0 {
		t.Fatalf("admin report: %+v", x)
	}
	for _, op := range ops {
		if !x.Can[op] {
			t.Errorf("admin cannot %s", op)
		}
	}

	x, err = f.policy.Explain(t.Context(), user("u-r", "regional"), f.deal, id) // no region attribute
	if err != nil {
		t.Fatal(err)
	}
	if rs := x.Rules[records.OpRead]; len(rs) != 1 || rs[0].Matches || rs[0].Error == "" || x.Can[records.OpRead] {
		t.Fatalf("a rule that does not translate: %+v", rs)
	}
	u := user("u-r", "regional")
	u.Attributes = map[string]string{"region": "east"}
	if x, _ = f.policy.Explain(t.Context(), u, f.deal, id); !x.Can[records.OpRead] {
		t.Fatalf("with the attribute: %+v", x.Rules)
	}

	u = user("u-z", "viewer", "east_reader", "own")
	x, _ = f.policy.Explain(t.Context(), u, f.deal, id)
	if !slices.Equal(x.Roles, []string{"east_reader", "own", "viewer"}) {
		t.Fatalf("report's roles: %v", x.Roles)
	}
	if !slices.Equal(u.Roles, []string{"viewer", "east_reader", "own"}) {
		t.Fatalf("Explain reordered the principal's roles: %v", u.Roles)
	}

	p := access.ForUser(t.Context(), f.dir, "u-x", "x@example.com", "X", []string{"own"}, nil, map[string]string{"region": "east"})
	if p.UserID != "u-x" || p.Email != "x@example.com" || p.Attributes["region"] != "east" || p.SubtreeMemberIDs == nil {
		t.Fatalf("ForUser: %+v", p)
	}
}
