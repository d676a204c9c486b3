package access_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

var ops = []string{records.OpCreate, records.OpRead, records.OpUpdate, records.OpDelete}

// TestDenyByDefault: without a grant nothing is allowed. Allowed audits
// each refusal; Permits, a question, does not.
func TestDenyByDefault(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		f.testRoles(t)
		for _, pr := range []struct{ name, id, role string }{
			{"a role without grants", "u-nothing", "nothing"},
			{"a role that does not exist", "u-ghost", "ghost"},
			{"a grant on another entity only", "u-east", "east_reader"},
		} {
			t.Run(pr.name, func(t *testing.T) {
				u := user(pr.id, pr.role)
				e := f.note
				if pr.role != "east_reader" {
					e = f.deal
				}
				for _, op := range ops {
					if f.policy.Permits(t.Context(), u, e, op) {
						t.Errorf("Permits %s", op)
					}
				}
				if n := len(denials(t, st, pr.id)); n != 0 {
					t.Fatalf("Permits audited %d refusals", n)
				}
				for _, op := range ops {
					if f.policy.Allowed(t.Context(), u, e, op) {
						t.Errorf("Allowed %s", op)
					}
				}
				ds := denials(t, st, pr.id)
				if len(ds) != len(ops) {
					t.Fatalf("%d denials audited, want %d", len(ds), len(ops))
				}
				var audited []string
				for _, d := range ds {
					if d.Entity != e.Name || d.IP != u.IP {
						t.Errorf("denial entry: %+v", d)
					}
					audited = append(audited, d.Changes["operation"].(string))
				}
				slices.Sort(audited)
				if want := slices.Sorted(slices.Values(ops)); !slices.Equal(audited, want) {
					t.Errorf("operations audited: %v", audited)
				}
				for _, op := range ops[1:] {
					c, err := f.policy.Scope(t.Context(), u, e, op)
					if err != nil || c == nil || c.Op != store.OpFalse {
						t.Errorf("Scope %s: %v %v", op, c, err)
					}
				}
				if h, ro := f.policy.Field(u, e, e.LiveFields()[0].Name); !h || !ro {
					t.Errorf("a field without a grant: hidden %v, read-only %v", h, ro)
				}
				if f.policy.CanExport(t.Context(), u, e) || f.policy.CanImport(t.Context(), u, e) || f.policy.CanAssignOwner(u, e) {
					t.Error("bulk or owner rights without a grant")
				}
			})
		}
		// An allowed operation writes no denial.
		u := user("u-viewer", "viewer")
		if !f.policy.Allowed(t.Context(), u, f.deal, records.OpRead) || len(denials(t, st, "u-viewer")) != 0 {
			t.Fatal("an allowed read was refused or audited")
		}
	})
}

// TestAdminRights: a role with admin rights, built in or not, allows
// everything on every entity with no row condition and no field limits,
// whatever other roles the user holds.
func TestAdminRights(t *testing.T) {
	st := stores["sqlite"](t)
	f := newFixture(t, st)
	f.testRoles(t)
	for _, roles := range [][]string{{"admin"}, {"super"}, {"nothing", "super"}, {"own", "admin"}} {
		u := user("u-a", roles...)
		for _, e := range []string{"deal", "note"} {
			ce, _ := f.cat.Get(e)
			for _, op := range ops {
				if !f.policy.Permits(t.Context(), u, ce, op) {
					t.Errorf("%v: %s on %s refused", roles, op, e)
				}
				if c, err := f.policy.Scope(t.Context(), u, ce, op); c != nil || err != nil {
					t.Errorf("%v: scope of %s on %s: %v %v", roles, op, e, c, err)
				}
			}
			if h, ro := f.policy.Field(u, ce, "margin"); h || ro {
				t.Errorf("%v: field limits on %s", roles, e)
			}
			if !f.policy.CanAssignOwner(u, ce) || !f.policy.CanExport(t.Context(), u, ce) || !f.policy.CanImport(t.Context(), u, ce) {
				t.Errorf("%v: bulk or owner rights refused on %s", roles, e)
			}
		}
	}
}

// TestScope: the row condition of each combination of roles, as the store
// receives it, and the records it selects there. Roles merge by union; a
// role that sees everything makes the union everything; a rule that cannot
// be translated for the user grants nothing and is logged.
func TestScope(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		f.testRoles(t)
		const me, other = "u-me", "u-other"
		for _, r := range []struct{ name, region, owner string }{
			{"A", "east", other}, {"B", "west", me}, {"C", "west", other}, {"D", "east", me}, {"E", "north", ""},
		} {
			insert(t, st, "deal", r.owner, map[string]any{"name": r.name, "region": r.region})
		}
		insert(t, st, "note", "", map[string]any{"name": "N", "title": "t"})
		east := &store.Cond{Op: store.OpEq, Field: "region", Kind: metadata.KindString, Value: "east"}
		mine := &store.Cond{Op: store.OpEq, Field: "owner", Kind: metadata.KindString, Value: me}
		west := &store.Cond{Op: store.OpEq, Field: "region", Kind: metadata.KindString, Value: "west"}
		none := &store.Cond{Op: store.OpFalse}
		all := []string{"A", "B", "C", "D", "E"}
		cases := []struct {
			name   string
			roles  []string
			attrs  map[string]string
			entity string
			op     string
			want   *store.Cond
			recs   []string
			logged bool
		}{
			{"one rule", []string{"east_reader"}, nil, "deal", records.OpRead, east, []string{"A", "D"}, false},
			{"own records", []string{"own"}, nil, "deal", records.OpRead, mine, []string{"B", "D"}, false},
			{"union of two roles", []string{"east_reader", "own"}, nil, "deal", records.OpRead, store.Or(east, mine), []string{"A", "B", "D"}, false},
			{"union in role order", []string{"own", "east_reader"}, nil, "deal", records.OpRead, store.Or(mine, east), []string{"A", "B", "D"}, false},
			{"a role that sees all", []string{"east_reader", "read_only"}, nil, "deal", records.OpRead, nil, all, false},
			{"a role without the grant", []string{"east_reader", "nothing"}, nil, "deal", records.OpRead, east, []string{"A", "D"}, false},
			{"an operation not granted", []string{"east_reader"}, nil, "deal", records.OpUpdate, none, []string{}, false},
			{"another operation's rule", []string{"east_reader", "own"}, nil, "deal", records.OpDelete, mine, []string{"B", "D"}, false},
			{"no roles", nil, nil, "deal", records.OpRead, none, []string{}, false},
			{"a user attribute", []string{"regional"}, map[string]string{"region": "west"}, "deal", records.OpRead, west, []string{"B", "C"}, false},
			{"a missing attribute fails closed", []string{"regional"}, nil, "deal", records.OpRead, none, []string{}, true},
			{"the other role still grants", []string{"regional", "own"}, nil, "deal", records.OpRead, mine, []string{"B", "D"}, true},
			{"the entity's grant before *", []string{"mixed"}, nil, "deal", records.OpRead, east, []string{"A", "D"}, false},
			{"the entity's grant replaces *", []string{"mixed"}, nil, "deal", records.OpUpdate, none, []string{}, false},
			{"* where the entity has none", []string{"mixed"}, nil, "note", records.OpRead, nil, []string{"N"}, false},
			{"built-in sales rep", []string{"sales_rep"}, nil, "deal", records.OpUpdate, mine, []string{"B", "D"}, false},
			{"built-in read only", []string{"read_only"}, nil, "deal", records.OpUpdate, none, []string{}, false},
			// note has no owner: "owner == user.id" names nothing there.
			{"an owner rule without owners fails closed", []string{"sales_rep"}, nil, "note", records.OpRead, none, []string{}, true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := len(f.log.String())
				u := user(me, tc.roles...)
				u.Attributes = tc.attrs
				e, _ := f.cat.Get(tc.entity)
				c, err := f.policy.Scope(t.Context(), u, e, tc.op)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(c, tc.want) {
					t.Fatalf("scope %v, want %v", c, tc.want)
				}
				if got := selected(t, st, tc.entity, c); !slices.Equal(got, tc.recs) {
					t.Fatalf("selects %v, want %v", got, tc.recs)
				}
				logged := strings.Contains(f.log.String()[before:], "rule grants nothing")
				if logged != tc.logged {
					t.Fatalf("logged a rule that grants nothing: %v, want %v\n%s", logged, tc.logged, f.log.String()[before:])
				}
			})
		}
	})
}

// TestFields: field permissions merge by union of rights. A field is
// hidden only when every role that reads the entity hides it, read-only
// only when every role that writes it says so (or none writes).
func TestFields(t *testing.T) {
	st := stores["sqlite"](t)
	f := newFixture(t, st)
	f.testRoles(t)
	type perm struct{ hidden, readOnly bool }
	cases := []struct {
		roles []string
		want  map[string]perm // field → permission
	}{
		{[]string{"rep_hide"}, map[string]perm{"margin": {true, true}, "amount": {false, true}, "name": {false, false}}},
		{[]string{"rep_hide", "viewer"}, map[string]perm{"margin": {false, true}, "amount": {false, true}, "name": {false, false}}},
		{[]string{"viewer_hide", "rep_hide"}, map[string]perm{"margin": {true, true}, "name": {false, false}}},
		{[]string{"viewer"}, map[string]perm{"margin": {false, true}, "name": {false, true}}},
		// A role that does not read the entity does not hide its fields.
		{[]string{"viewer", "hider_no_read"}, map[string]perm{"margin": {false, true}, "name": {false, false}}},
		{[]string{"rep_hide", "writer"}, map[string]perm{"amount": {false, false}, "margin": {true, true}}},
		{[]string{"writer"}, map[string]perm{"name": {true, true}}},
		{nil, map[string]perm{"name": {true, true}}},
		{[]string{"nothing"}, map[string]perm{"name": {true, true}}},
		{[]string{"admin"}, map[string]perm{"margin": {false, false}, "amount": {false, false}}},
	}
	for _, tc := range cases {
		u := user("u-1", tc.roles...)
		for field, want := range tc.want {
			h, ro := f.policy.Field(u, f.deal, field)
			if (perm{h, ro}) != want {
				t.Errorf("%v on %s: hidden %v, read-only %v; want %+v", tc.roles, field, h, ro, want)
			}
		}
	}
}

// TestBulkAndOwnerRights: export, import and assigning owners are granted
// by roles like the rest.
func TestBulkAndOwnerRights(t *testing.T) {
	st := stores["sqlite"](t)
	f := newFixture(t, st)
	f.testRoles(t)
	ctx := t.Context()
	for _, tc := range []struct {
		roles                  []string
		entity                 string
		export, imp, setOwners bool
	}{
		{[]string{"manager"}, "deal", true, true, true},
		{[]string{"sales_rep"}, "deal", false, false, false},
		{[]string{"read_only"}, "deal", false, false, false},
		{[]string{"exporter"}, "deal", true, false, false},
		{[]string{"exporter"}, "note", false, true, false},
		{[]string{"sales_rep", "exporter"}, "deal", true, false, false},
	} {
		u := user("u-1", tc.roles...)
		e, _ := f.cat.Get(tc.entity)
		if got := f.policy.CanExport(ctx, u, e); got != tc.export {
			t.Errorf("%v export %s: %v", tc.roles, tc.entity, got)
		}
		if got := f.policy.CanImport(ctx, u, e); got != tc.imp {
			t.Errorf("%v import %s: %v", tc.roles, tc.entity, got)
		}
		if got := f.policy.CanAssignOwner(u, e); got != tc.setOwners {
			t.Errorf("%v assign owners on %s: %v", tc.roles, tc.entity, got)
		}
	}
}
