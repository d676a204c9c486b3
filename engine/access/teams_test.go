package access_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// org is an org tree over real users:
//
//	East (manager mgr; members mgr, sub)
//	└── East Sub (manager sub; members r1, gone — deactivated)
//	    └── East Sub Sub (no manager; member r2)
//	West (manager wm; member r3)
type org struct {
	*fixture
	users map[string]string // name → id
	teams map[string]string // name → id
}

func newOrg(t *testing.T, st store.Store) *org {
	t.Helper()
	o := &org{fixture: newFixture(t, st), users: map[string]string{}, teams: map[string]string{}}
	ctx := t.Context()
	for _, n := range []string{"mgr", "sub", "r1", "r2", "r3", "wm", "gone"} {
		u, err := o.auth.CreateUser(ctx, admin, auth.NewUser{Email: n + "@example.com", Password: "correct horse battery", Roles: []string{access.Manager}})
		if err != nil {
			t.Fatal(err)
		}
		o.users[n] = u.ID
	}
	o.team(t, "East", "", "mgr")
	o.team(t, "East Sub", "East", "sub")
	o.team(t, "East Sub Sub", "East Sub", "")
	o.team(t, "West", "", "wm")
	for user, teams := range map[string][]string{"mgr": {"East"}, "sub": {"East"}, "r1": {"East Sub"}, "gone": {"East Sub"},
		"r2": {"East Sub Sub"}, "r3": {"West"}} {
		o.setTeams(t, user, teams...)
	}
	if err := o.auth.SetActive(ctx, admin, o.users["gone"], false); err != nil {
		t.Fatal(err)
	}
	o.dir.Invalidate()
	return o
}

func (o *org) team(t *testing.T, name, parent, manager string) {
	t.Helper()
	in := access.TeamInput{Name: &name}
	if parent != "" {
		p := o.teams[parent]
		in.Parent = &p
	}
	if manager != "" {
		m := o.users[manager]
		in.Manager = &m
	}
	tm, err := o.dir.Save(t.Context(), admin, "", in)
	if err != nil {
		t.Fatalf("team %s: %v", name, err)
	}
	o.teams[name] = tm.ID
}

func (o *org) setTeams(t *testing.T, user string, teams ...string) {
	t.Helper()
	ids := []string{}
	for _, n := range teams {
		ids = append(ids, o.teams[n])
	}
	if _, err := o.auth.SetAccess(t.Context(), admin, o.users[user], auth.Access{Teams: ids}); err != nil {
		t.Fatal(err)
	}
}

func (o *org) ids(names ...string) []string {
	out := []string{}
	for _, n := range names {
		out = append(out, o.users[n])
	}
	slices.Sort(out)
	return out
}

func (o *org) enrich(t *testing.T, name string) *identity.Principal {
	t.Helper()
	p := &identity.Principal{UserID: o.users[name], Roles: []string{access.Manager}}
	o.dir.Enrich(t.Context(), p)
	return p
}

// TestEnrich: a manager's subtree holds the members and managers of every
// team below the ones they manage, and not themselves; team members are
// those of their own teams. Deactivated users are in neither.
func TestEnrich(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		o := newOrg(t, st)
		for _, tc := range []struct {
			user          string
			subtree, team []string
		}{
			{"mgr", []string{"r1", "r2", "sub"}, []string{"sub"}},
			{"sub", []string{"r1", "r2"}, []string{"mgr"}},
			{"r1", nil, nil},
			{"r2", nil, nil},
			{"wm", []string{"r3"}, nil},
			{"r3", nil, nil},
		} {
			p := o.enrich(t, tc.user)
			team := slices.Sorted(slices.Values(p.TeamMemberIDs))
			if !slices.Equal(p.SubtreeMemberIDs, o.ids(tc.subtree...)) || !slices.Equal(team, o.ids(tc.team...)) {
				t.Errorf("%s: subtree %v, want %v; team %v, want %v", tc.user, p.SubtreeMemberIDs, o.ids(tc.subtree...), team, o.ids(tc.team...))
			}
			v := p.Vars()
			if ids := v["subtree_member_ids"].([]any); len(ids) != len(tc.subtree)+1 || ids[0] != p.UserID {
				t.Errorf("%s: user.subtree_member_ids %v", tc.user, ids)
			}
		}
		// Members are derived from the users, active ones only.
		tm, err := o.dir.Get(t.Context(), o.teams["East Sub"])
		if err != nil || !slices.Equal(tm.Members, o.ids("r1")) {
			t.Fatalf("East Sub: %+v %v", tm, err)
		}
	})
}

// TestManagerScope: the built-in manager's rule, translated for a manager,
// is the list of their subtree and themselves, and selects their records
// in the store.
func TestManagerScope(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		o := newOrg(t, st)
		for _, owner := range []string{"mgr", "sub", "r1", "r2", "r3", "wm", "gone"} {
			insert(t, st, "deal", o.users[owner], map[string]any{"name": owner})
		}
		insert(t, st, "deal", "", map[string]any{"name": "nobody"})
		p := &identity.Principal{UserID: o.users["sub"], Roles: []string{access.Manager}} // not enriched: Scope does it
		c, err := o.policy.Scope(t.Context(), p, o.deal, records.OpRead)
		if err != nil {
			t.Fatal(err)
		}
		want := &store.Cond{Op: store.OpIn, Field: "owner", Kind: metadata.KindString,
			Values: []any{o.users["sub"], o.ids("r1", "r2")[0], o.ids("r1", "r2")[1]}}
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("scope %v, want %v", c, want)
		}
		if got := selected(t, st, "deal", c); !slices.Equal(got, []string{"r1", "r2", "sub"}) {
			t.Fatalf("sub selects %v", got)
		}
		p = &identity.Principal{UserID: o.users["mgr"], Roles: []string{access.Manager}}
		c, _ = o.policy.Scope(t.Context(), p, o.deal, records.OpDelete)
		if got := selected(t, st, "deal", c); !slices.Equal(got, []string{"mgr", "r1", "r2", "sub"}) {
			t.Fatalf("mgr selects %v", got)
		}
	})
}

// TestTeamChanges: a change to the tree is seen at once on the node that
// made it; a change to a user's teams once the directory is invalidated.
func TestTeamChanges(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		o := newOrg(t, st)
		ctx := t.Context()
		// West moves under East Sub: its members join sub's and mgr's subtrees.
		parent := o.teams["East Sub"]
		if _, err := o.dir.Save(ctx, admin, o.teams["West"], access.TeamInput{Parent: &parent}); err != nil {
			t.Fatal(err)
		}
		if got := o.enrich(t, "sub").SubtreeMemberIDs; !slices.Equal(got, o.ids("r1", "r2", "r3", "wm")) {
			t.Fatalf("sub's subtree after a move: %v", got)
		}
		// r1 joins West too.
		o.setTeams(t, "r1", "East Sub", "West")
		o.dir.Invalidate()
		if got := o.enrich(t, "wm").SubtreeMemberIDs; !slices.Equal(got, o.ids("r1", "r3")) {
			t.Fatalf("wm's subtree after a user's teams changed: %v", got)
		}
		// A leaf team goes; its members leave the subtrees.
		if err := o.dir.Delete(ctx, admin, o.teams["East Sub Sub"]); err != nil {
			t.Fatal(err)
		}
		if got := o.enrich(t, "sub").SubtreeMemberIDs; !slices.Equal(got, o.ids("r1", "r3", "wm")) {
			t.Fatalf("sub's subtree after a team was deleted: %v", got)
		}
		if err := o.dir.Delete(ctx, admin, o.teams["East"]); status(err) != http.StatusConflict {
			t.Fatalf("delete of a team with sub-teams: %v", err)
		}
		if err := o.dir.Delete(ctx, admin, "nope"); status(err) != http.StatusNotFound {
			t.Fatalf("delete of an unknown team: %v", err)
		}
		for action, n := range map[string]int{"team.create": 4, "team.update": 1, "team.delete": 1} {
			if as, _ := st.ListAudit(ctx, store.AuditQuery{Action: action, Limit: 10}); len(as) != n {
				t.Errorf("%s: %d audit entries, want %d", action, len(as), n)
			}
		}
		// Another node loads the same tree.
		other := access.NewDirectory(st, o.auth)
		var names []string
		for _, tm := range other.List(ctx) {
			names = append(names, tm.Name)
		}
		if !slices.Equal(names, []string{"East", "East Sub", "West"}) {
			t.Fatalf("teams on another node: %v", names)
		}
	})
}

// TestTeamRefusals: a team needs a name, and a parent and a manager that
// exist; a team cannot move into its own subtree. Every problem is named
// and nothing changes.
func TestTeamRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		o := newOrg(t, st)
		ctx := t.Context()
		str := func(s string) *string { return &s }
		cases := []struct {
			name string
			id   string
			in   access.TeamInput
			want map[string]string
		}{
			{"no name", "", access.TeamInput{Name: str("  ")}, map[string]string{"name": "required"}},
			{"long name", "", access.TeamInput{Name: str(strings.Repeat("x", 201))}, map[string]string{"name": "required"}},
			{"unknown parent", "", access.TeamInput{Name: str("X"), Parent: str("nope")}, map[string]string{"parent": "unknown_team"}},
			{"unknown manager", "", access.TeamInput{Name: str("X"), Manager: str("nope")}, map[string]string{"manager": "unknown_user"}},
			{"all at once", "", access.TeamInput{Name: str(""), Parent: str("nope"), Manager: str("nope")},
				map[string]string{"name": "required", "parent": "unknown_team", "manager": "unknown_user"}},
			{"own parent", o.teams["East"], access.TeamInput{Parent: str(o.teams["East"])}, map[string]string{"parent": "cycle"}},
			{"under a descendant", o.teams["East"], access.TeamInput{Parent: str(o.teams["East Sub Sub"])}, map[string]string{"parent": "cycle"}},
			{"under a child", o.teams["East Sub"], access.TeamInput{Parent: str(o.teams["East Sub Sub"])}, map[string]string{"parent": "cycle"}},
		}
		for _, tc := range cases {
			_, err := o.dir.Save(ctx, admin, tc.id, tc.in)
			if got := fieldErrors(t, err, http.StatusUnprocessableEntity); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
		if _, err := o.dir.Save(ctx, admin, "nope", access.TeamInput{Name: str("X")}); status(err) != http.StatusNotFound {
			t.Fatalf("change of an unknown team: %v", err)
		}
		if ts := o.dir.List(ctx); len(ts) != 4 {
			t.Fatalf("%d teams after refusals", len(ts))
		}
		if tm, _ := o.dir.Get(ctx, o.teams["East"]); tm.Parent != "" || tm.Version != 1 {
			t.Fatalf("a refused move changed East: %+v", tm)
		}
		if err := o.dir.Exist(ctx, []string{o.teams["West"], "nope"}); fieldErrors(t, err, 422)["teams"] != "unknown_team" {
			t.Fatalf("Exist with an unknown team: %v", err)
		}
		if err := o.dir.Exist(ctx, []string{o.teams["West"], o.teams["East"]}); err != nil {
			t.Fatal(err)
		}
	})
}
