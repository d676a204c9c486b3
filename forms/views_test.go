package forms_test

import (
	"testing"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/server/servertest"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/forms"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

var stores = servertest.Stores

// start serves Jimu with the forms module as jimu serve wires it.
func start(t testing.TB, st store.Store) *servertest.Env {
	e, _ := startModule(t, st)
	return e
}

// startModule is start, also returning the module (tests drive the
// public pages' clock through it).
func startModule(t testing.TB, st store.Store) (*servertest.Env, *forms.Module) {
	var m *forms.Module
	e := servertest.Start(t, st, auth.Options{}, func(d *server.Deps) {
		m = forms.NewModule(*d)
		m.Public.PruneEvery = 0
		d.Modules = append(d.Modules, m)
		d.Forms = m
	})
	return e, m
}

// org: a deal entity whose margin the reps may not see, two reps and a
// manager.
func org(t *testing.T, e *servertest.Env) (rep1, rep2, mgr *servertest.Env) {
	e.Do("POST", "/api/v1/meta/entities", map[string]any{"name": "deal", "ownership": true, "fields": []any{
		map[string]any{"name": "name", "type": "text"},
		map[string]any{"name": "amount", "type": "currency"},
		map[string]any{"name": "margin", "type": "number"},
		map[string]any{"name": "stage", "type": "select", "options": []any{map[string]any{"value": "lead"}, map[string]any{"value": "won"}}},
	}}, 201, nil)
	e.Do("PUT", "/api/v1/roles/sales_rep", map[string]any{"label": "Sales Rep", "entities": map[string]any{
		"deal": map[string]any{"create": true, "read": "owner == user.id", "update": "owner == user.id", "fields": map[string]any{"margin": "hidden"}}}}, 200, nil)
	for _, u := range []struct{ email, role string }{{"rep1@example.com", "sales_rep"}, {"rep2@example.com", "sales_rep"}, {"mgr@example.com", "manager"}} {
		e.Do("POST", "/api/v1/users", map[string]any{"email": u.email, "password": servertest.AdminPassword, "roles": []string{u.role}}, 201, nil)
	}
	return e.As("rep1@example.com", servertest.AdminPassword), e.As("rep2@example.com", servertest.AdminPassword), e.As("mgr@example.com", servertest.AdminPassword)
}

type view struct {
	ID, Owner, Kind, Sort, Filter string
	Version                       int64
	Columns                       []string
}

func names(e *servertest.Env) map[string]bool {
	var out struct{ Items []view }
	e.Do("GET", "/api/v1/views?entity=deal", nil, 200, &out)
	m := map[string]bool{}
	for _, v := range out.Items {
		m[v.ID] = true
	}
	return m
}

// TestViews: saved views are private to their owner unless shared with
// roles; owners (and admins) change them with optimistic versions; what a
// view names is checked against the entity as its author may see it.
func TestViews(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			rep1, rep2, mgr := org(t, admin)
			var v view
			rep1.Do("POST", "/api/v1/views", map[string]any{"entity": "deal", "name": map[string]any{"en": "Won deals", "zh-CN": "赢单"},
				"kind": "list", "columns": []string{"name", "stage", "amount"}, "sort": "-amount,name", "filter": `stage == "won"`}, 201, &v)
			if v.ID == "" || v.Version != 1 || v.Owner == "" {
				t.Fatalf("created view %+v", v)
			}
			if !names(rep1)[v.ID] || names(rep2)[v.ID] || !names(admin)[v.ID] {
				t.Fatal("a private view is seen by the wrong people")
			}
			rep2.Do("GET", "/api/v1/views/"+v.ID, nil, 404, nil)

			share := map[string]any{"entity": "deal", "name": "Won deals", "kind": "list", "columns": []string{"name"},
				"shared_with": map[string]any{"roles": []string{"manager"}}}
			r := rep1.Raw("PUT", "/api/v1/views/"+v.ID, share)
			if r.Status != 422 || servertest.ProblemFields(t, r)["shared_with.roles.0"] != "forbidden" {
				t.Fatalf("sharing with a role the rep does not hold: %d %s", r.Status, r.Body)
			}
			share["shared_with"] = map[string]any{"roles": []string{"sales_rep"}}
			rep1.Do("PUT", "/api/v1/views/"+v.ID, share, 200, &v, "If-Match", "1")
			if !names(rep2)[v.ID] || names(mgr)[v.ID] || v.Version != 2 {
				t.Fatal("a view shared with sales_rep is seen by the wrong people")
			}
			rep2.Do("PUT", "/api/v1/views/"+v.ID, share, 403, nil)
			rep1.Do("PUT", "/api/v1/views/"+v.ID, share, 409, nil, "If-Match", "1")
			rep2.Do("DELETE", "/api/v1/views/"+v.ID, nil, 403, nil)

			for _, c := range []struct {
				body  map[string]any
				field string
			}{
				{map[string]any{"entity": "deal", "name": "x", "kind": "list", "columns": []string{"colour"}}, "columns.0"},
				{map[string]any{"entity": "deal", "name": "x", "kind": "list", "columns": []string{"margin"}}, "columns.0"},
				{map[string]any{"entity": "deal", "name": "x", "kind": "list", "sort": "-margin"}, "sort"},
				{map[string]any{"entity": "deal", "name": "x", "kind": "list", "filter": "amount >"}, "filter"},
				{map[string]any{"entity": "deal", "name": "x", "kind": "list", "filter": "margin > 1"}, "filter"},
				{map[string]any{"entity": "deal", "name": "x", "kind": "kanban", "group_by": "amount"}, "group_by"},
				{map[string]any{"entity": "deal", "name": "x", "kind": "calendar"}, "kind"},
				{map[string]any{"entity": "deal", "kind": "list"}, "name"},
				{map[string]any{"entity": "nope", "name": "x", "kind": "list"}, "entity"},
			} {
				r := rep1.Raw("POST", "/api/v1/views", c.body)
				if r.Status != 422 {
					t.Errorf("%v: %d %s", c.body, r.Status, r.Body)
					continue
				}
				if _, ok := servertest.ProblemFields(t, r)[c.field]; !ok {
					t.Errorf("%v: the error does not name %s: %s", c.body, c.field, r.Body)
				}
			}
			if r := rep1.Raw("POST", "/api/v1/views", map[string]any{"entity": "deal", "name": "x", "kind": "list", "owner": "me"}); r.Status != 400 {
				t.Errorf("a view naming its owner: %d %s", r.Status, r.Body)
			}
			// The admin may use margin; a kanban board groups by a select.
			admin.Do("POST", "/api/v1/views", map[string]any{"entity": "deal", "name": "Board", "kind": "kanban", "group_by": "stage",
				"columns": []string{"name", "margin"}}, 201, nil)

			rep1.Do("DELETE", "/api/v1/views/"+v.ID, nil, 204, nil)
			rep1.Do("GET", "/api/v1/views/"+v.ID, nil, 404, nil)
			var audit struct{ Items []struct{ Action string } }
			admin.Do("GET", "/api/v1/audit?entity=deal&record_id="+v.ID, nil, 200, &audit)
			if len(audit.Items) != 3 {
				t.Fatalf("audit of the view: %+v", audit.Items)
			}
		})
	}
}
