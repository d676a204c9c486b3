package access_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
)

func fieldErrors(t *testing.T, err error, status int) map[string]string {
	t.Helper()
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != status {
		t.Fatalf("want a problem with status %d, got %v", status, err)
	}
	out := map[string]string{}
	for _, fe := range pe.Errors {
		out[fe.Field] = fe.Code
	}
	return out
}

func status(err error) int {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Status
	}
	return 0
}

// TestBuiltInRoles: the first Load creates the four built-in roles; a
// later one, on this node or another, neither duplicates nor resets them.
func TestBuiltInRoles(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		var names []string
		for _, r := range f.roles.List(t.Context()) {
			names = append(names, r.Name)
			if !r.BuiltIn || r.Version != 1 {
				t.Errorf("built-in %s: %+v", r.Name, r)
			}
		}
		if !slices.Equal(names, []string{access.Admin, access.Manager, access.ReadOnly, access.SalesRep}) {
			t.Fatalf("built-in roles: %v", names)
		}
		if docs, _ := st.ListDocs(t.Context(), "role"); len(docs) != 4 {
			t.Fatalf("%d role documents stored", len(docs))
		}
		rep, _ := f.roles.Get(t.Context(), access.SalesRep)
		rep.Label = "Rep"
		f.put(t, access.SalesRep, rep)

		other := access.NewRoles(st, f.cat)
		if err := other.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		got, ok := other.Get(t.Context(), access.SalesRep)
		if !ok || got.Label != "Rep" || got.Version != 2 || !got.BuiltIn {
			t.Fatalf("a changed built-in role after Load: %+v", got)
		}
		if docs, _ := st.ListDocs(t.Context(), "role"); len(docs) != 4 {
			t.Fatalf("%d role documents after a second Load", len(docs))
		}
	})
}

// TestPutRole: a role is saved with a new version and an audit entry of
// before and after; a built-in stays built in, a new role cannot claim to
// be one.
func TestPutRole(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		r := f.put(t, "auditor", &access.Role{BuiltIn: true, Entities: map[string]*access.Grant{
			"deal": {Read: expr("stage == 'won'"), Fields: map[string]string{"owner": access.ReadOnlyPerm}}}})
		if r.Version != 1 || r.BuiltIn || r.Label != "auditor" || r.Name != "auditor" {
			t.Fatalf("new role: %+v", r)
		}
		r = f.put(t, "auditor", &access.Role{Label: "Auditor", Entities: map[string]*access.Grant{"deal": {Read: yes}}})
		if r.Version != 2 {
			t.Fatalf("version after a second put: %d", r.Version)
		}
		if got, _ := f.roles.Get(t.Context(), "auditor"); got.Label != "Auditor" {
			t.Fatalf("cached role: %+v", got)
		}
		as, err := st.ListAudit(t.Context(), store.AuditQuery{Action: "role.put", RecordID: "auditor", Limit: 10})
		if err != nil || len(as) != 2 {
			t.Fatalf("role audit: %v %v", as, err)
		}
		for _, a := range as {
			if a.Actor != admin.UserID || a.IP != admin.IP || a.Entity != "role" || a.Changes["after"] == nil {
				t.Errorf("role audit entry: %+v", a)
			}
		}
		if as[0].Changes["before"] == nil || as[1].Changes["before"] != nil { // newest first
			t.Errorf("before of the entries: %v / %v", as[0].Changes["before"], as[1].Changes["before"])
		}
		// The admin role may change, and keeps admin rights.
		a, _ := f.roles.Get(t.Context(), access.Admin)
		f.put(t, access.Admin, &access.Role{Label: "Administrators", Admin: true, AssignOwner: a.AssignOwner})
		if got, _ := f.roles.Get(t.Context(), access.Admin); !got.BuiltIn || got.Label != "Administrators" {
			t.Fatalf("admin after a change: %+v", got)
		}
	})
}

// TestPutRoleRefusals: a role that names what does not exist, holds a
// rule that does not compile, or strips the admin role of its rights, is
// refused with the path of every problem, and nothing changes.
func TestPutRoleRefusals(t *testing.T) {
	st := stores["sqlite"](t)
	f := newFixture(t, st)
	grant := func(g *access.Grant) *access.Role { return &access.Role{Entities: map[string]*access.Grant{"deal": g}} }
	cases := []struct {
		name string
		role string
		r    *access.Role
		want map[string]string
	}{
		{"unknown entity", "rep", &access.Role{Entities: map[string]*access.Grant{"nope": {Create: true}}}, map[string]string{"entities.nope": "unknown_entity"}},
		{"empty grant", "rep", &access.Role{Entities: map[string]*access.Grant{"deal": nil}}, map[string]string{"entities.deal": "required"}},
		{"unknown field", "rep", grant(&access.Grant{Fields: map[string]string{"colour": access.Hidden}}), map[string]string{"entities.deal.fields.colour": "unknown_field"}},
		{"unknown permission", "rep", grant(&access.Grant{Fields: map[string]string{"amount": "secret"}}), map[string]string{"entities.deal.fields.amount": "enum"}},
		{"rule syntax", "rep", grant(&access.Grant{Read: expr("owner ==")}), map[string]string{"entities.deal.read": "invalid_rule"}},
		{"rule on an unknown field", "rep", grant(&access.Grant{Update: expr("colour == 'red'")}), map[string]string{"entities.deal.update": "invalid_rule"}},
		{"rule the store cannot run", "rep", grant(&access.Grant{Delete: expr("name matches '^A'")}), map[string]string{"entities.deal.delete": "invalid_rule"}},
		{"* rule on a data field", "rep", &access.Role{Entities: map[string]*access.Grant{"*": {Read: expr("region == 'east'")}}}, map[string]string{"entities.*.read": "invalid_rule"}},
		{"several problems", "rep", &access.Role{Entities: map[string]*access.Grant{
			"deal": {Read: expr("1 +"), Fields: map[string]string{"nope": access.Hidden, "amount": "secret"}}, "ghost": {}}},
			map[string]string{"entities.deal.read": "invalid_rule", "entities.deal.fields.nope": "unknown_field",
				"entities.deal.fields.amount": "enum", "entities.ghost": "unknown_entity"}},
		{"role name", "Sales Rep", &access.Role{}, map[string]string{"name": "pattern"}},
		{"admin without admin rights", access.Admin, &access.Role{Label: "Admin"}, map[string]string{"admin": "immutable"}},
	}
	before := f.roles.List(t.Context())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.roles.Put(t.Context(), admin, tc.role, tc.r)
			got := fieldErrors(t, err, http.StatusUnprocessableEntity)
			for path, code := range tc.want {
				if got[path] != code {
					t.Errorf("%s: %q, want %q (all: %v)", path, got[path], code, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("errors %v, want %v", got, tc.want)
			}
		})
	}
	after := f.roles.List(t.Context())
	b, _ := json.Marshal(before)
	a, _ := json.Marshal(after)
	if string(a) != string(b) {
		t.Fatalf("refused roles changed the roles:\n%s\nwas\n%s", a, b)
	}
	if as, _ := st.ListAudit(t.Context(), store.AuditQuery{Action: "role.put", Limit: 10}); len(as) != 0 {
		t.Fatalf("refused roles were audited as saved: %d", len(as))
	}
	if _, ok := f.roles.Get(t.Context(), "rep"); ok {
		t.Fatal("a refused role exists")
	}
	// The owner field may be limited wherever records have owners, and a
	// * grant may limit fields any entity might have.
	f.put(t, "owners", &access.Role{Entities: map[string]*access.Grant{
		"deal": {Read: yes, Fields: map[string]string{"owner": access.ReadOnlyPerm}},
		"*":    {Read: expr("owner == user.id"), Fields: map[string]string{"anything": access.Hidden}}}})
}

// TestPutRoleConflict: two nodes change one role; the one whose cached
// version is stale is refused.
func TestPutRoleConflict(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		other := access.NewRoles(st, f.cat)
		if err := other.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		f.put(t, access.SalesRep, &access.Role{Label: "first"})
		_, err := other.Put(t.Context(), admin, access.SalesRep, &access.Role{Label: "second"})
		if status(err) != http.StatusConflict {
			t.Fatalf("a put from a stale node: %v", err)
		}
		if err := other.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got, _ := other.Get(t.Context(), access.SalesRep); got.Label != "first" || got.Version != 2 {
			t.Fatalf("after Load: %+v", got)
		}
	})
}

// TestDeleteRole: a custom role can be deleted, with an audit entry; a
// built-in one cannot.
func TestDeleteRole(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		f := newFixture(t, st)
		f.put(t, "temp", &access.Role{})
		for _, b := range []string{access.Admin, access.Manager, access.SalesRep, access.ReadOnly} {
			if err := f.roles.Delete(t.Context(), admin, b); status(err) != http.StatusConflict {
				t.Errorf("delete of built-in %s: %v", b, err)
			}
		}
		if err := f.roles.Delete(t.Context(), admin, "nope"); status(err) != http.StatusNotFound {
			t.Fatalf("delete of an unknown role: %v", err)
		}
		if err := f.roles.Delete(t.Context(), admin, "temp"); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.roles.Get(t.Context(), "temp"); ok {
			t.Fatal("deleted role still cached")
		}
		if as, _ := st.ListAudit(t.Context(), store.AuditQuery{Action: "role.delete", RecordID: "temp", Limit: 10}); len(as) != 1 {
			t.Fatalf("delete audit: %d entries", len(as))
		}
		other := access.NewRoles(st, f.cat)
		if err := other.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, ok := other.Get(t.Context(), "temp"); ok {
			t.Fatal("deleted role loaded again")
		}
		if err := f.roles.Exist(t.Context(), []string{access.SalesRep, "temp"}); fieldErrors(t, err, 422)["roles"] != "unknown_role" {
			t.Fatalf("Exist with a deleted role: %v", err)
		}
		if err := f.roles.Exist(t.Context(), []string{access.SalesRep, access.Admin}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRoleFlags: AdminRoles and RequireSecondFactor read the roles' flags,
// not their names.
func TestRoleFlags(t *testing.T) {
	st := stores["sqlite"](t)
	f := newFixture(t, st)
	f.testRoles(t)
	for _, tc := range []struct {
		roles         []string
		admin, second bool
	}{
		{[]string{"admin"}, true, false},
		{[]string{"super"}, true, false},
		{[]string{"sales_rep", "super"}, true, false},
		{[]string{"sales_rep", "manager"}, false, false},
		{[]string{"strict"}, false, true},
		{[]string{"viewer", "strict"}, false, true},
		{[]string{"ghost"}, false, false},
		{nil, false, false},
	} {
		if got := f.roles.AdminRoles(tc.roles); got != tc.admin {
			t.Errorf("AdminRoles(%v) = %v", tc.roles, got)
		}
		if got := f.roles.RequireSecondFactor(tc.roles); got != tc.second {
			t.Errorf("RequireSecondFactor(%v) = %v", tc.roles, got)
		}
	}
	// Taking admin rights from a custom role takes them from its holders.
	f.put(t, "super", &access.Role{})
	if f.roles.AdminRoles([]string{"super"}) {
		t.Fatal("a role without the admin flag has admin rights")
	}
}

// TestCheckRule: what can be a row rule of an entity.
func TestCheckRule(t *testing.T) {
	st := stores["sqlite"](t)
	f := newFixture(t, st)
	for _, tc := range []struct {
		entity, src string
		ok          bool
	}{
		{"deal", "owner == user.id", true},
		{"deal", "owner in user.subtree_member_ids", true},
		{"deal", "owner in user.team_member_ids or region == 'east'", true},
		{"deal", "region == user.region", true}, // any attribute reads as text
		{"deal", "stage in ['lead', 'won'] and amount > 100", true},
		{"deal", "created_at > days_ago(30)", true},
		{"deal", "not (region == 'north')", true},
		{"note", "owner == user.id", false}, // no owners
		{"deal", "colour == 'red'", false},
		{"deal", "owner ==", false},
		{"deal", "name matches 'x'", false},
		{"deal", "amount > region", false},
		{"deal", "amount", false},
		{"deal", "len(name) > 3", false},
	} {
		e, _ := f.cat.Get(tc.entity)
		err := access.CheckRule(e.Entity, tc.src)
		if (err == nil) != tc.ok {
			t.Errorf("CheckRule(%s, %q): %v", tc.entity, tc.src, err)
		}
	}
}

// TestRuleJSON: a rule is written as true, false or an expression.
func TestRuleJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want access.Rule
		out  string
	}{
		{`true`, access.Rule{Allow: true}, `true`},
		{`false`, access.Rule{}, `false`},
		{`null`, access.Rule{}, `false`},
		{`"true"`, access.Rule{Allow: true}, `true`},
		{`" false "`, access.Rule{}, `false`},
		{`""`, access.Rule{}, `false`},
		{`" owner == user.id "`, access.Rule{Allow: true, Expr: "owner == user.id"}, `"owner == user.id"`},
	} {
		var r access.Rule
		if err := json.Unmarshal([]byte(tc.in), &r); err != nil || r != tc.want {
			t.Errorf("%s: %+v %v", tc.in, r, err)
			continue
		}
		if b, _ := json.Marshal(r); string(b) != tc.out {
			t.Errorf("%s written back as %s", tc.in, b)
		}
	}
	for _, in := range []string{`5`, `["x"]`, `{"allow":true}`} {
		var r access.Rule
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("%s read as a rule: %+v", in, r)
		}
	}
}
