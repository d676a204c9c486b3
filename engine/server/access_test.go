package server_test

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
)

// as returns the env acting with another user's token.
func (e *env) as(email string) *env {
	e.t.Helper()
	var login struct{ Token string }
	e.do("POST", "/api/v1/auth/login", map[string]any{"email": email, "password": adminPass}, 200, &login)
	c := *e
	c.token = login.Token
	return &c
}

// org is the fixture of the access tests: an org tree, users in it, a deal
// entity with a hidden and a read-only field, and records owned by each.
type org struct {
	admin                      *env
	users                      map[string]*env   // rep1, rep2, mgr, ro, regional, nobody
	ids                        map[string]string // user name → id
	recs                       map[string]string // record name → id
	east, eastSub, west, quote string
}

func setupOrg(t *testing.T, e *env) *org {
	o := &org{admin: e, users: map[string]*env{}, ids: map[string]string{}, recs: map[string]string{}}
	e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "deal", "ownership": true, "fields": []any{
		map[string]any{"name": "name", "type": "text", "required": true},
		map[string]any{"name": "amount", "type": "currency", "indexed": true},
		map[string]any{"name": "margin", "type": "number"},
		map[string]any{"name": "region", "type": "text", "indexed": true},
		map[string]any{"name": "stage", "type": "select", "options": []any{map[string]any{"value": "lead"}, map[string]any{"value": "won"}}},
	}}, 201, nil)
	e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "quote", "ownership": true, "fields": []any{
		map[string]any{"name": "title", "type": "text", "required": true},
		map[string]any{"name": "deal", "type": "lookup", "target": "deal"},
	}}, 201, nil)
	var mgr map[string]any
	e.do("POST", "/api/v1/users", map[string]any{"email": "mgr@example.com", "password": adminPass, "roles": []string{"manager"}}, 201, &mgr)
	o.ids["mgr"] = mgr["id"].(string)
	var team map[string]any
	e.do("POST", "/api/v1/teams", map[string]any{"name": "East", "manager": o.ids["mgr"]}, 201, &team)
	o.east = team["id"].(string)
	e.do("POST", "/api/v1/teams", map[string]any{"name": "East Sub", "parent": o.east}, 201, &team)
	o.eastSub = team["id"].(string)
	e.do("POST", "/api/v1/teams", map[string]any{"name": "West"}, 201, &team)
	o.west = team["id"].(string)
	e.do("PATCH", "/api/v1/users/"+o.ids["mgr"], map[string]any{"teams": []string{o.east}}, 200, nil)

	users := []struct {
		name, role string
		teams      []string
		attrs      map[string]string
	}{
		{"rep1", "sales_rep", []string{o.eastSub}, nil},
		{"rep2", "sales_rep", []string{o.west}, nil},
		{"ro", "read_only", nil, nil},
		{"regional", "regional", nil, map[string]string{"region": "east"}},
		{"nobody", "nothing", nil, nil},
	}
	// Custom roles: one reads by region, one grants nothing (deny by default).
	e.do("PUT", "/api/v1/roles/regional", map[string]any{"label": "Regional", "entities": map[string]any{
		"deal": map[string]any{"read": "region == user.region", "update": false, "delete": false, "create": false}}}, 200, nil)
	e.do("PUT", "/api/v1/roles/nothing", map[string]any{"label": "Nothing", "entities": map[string]any{}}, 200, nil)
	// The Sales Rep: own deals, amount read-only, margin hidden.
	e.do("PUT", "/api/v1/roles/sales_rep", map[string]any{"label": "Sales Rep", "entities": map[string]any{
		"deal": map[string]any{"create": true, "read": "owner == user.id", "update": "owner == user.id", "delete": false,
			"export": false, "import": false, "fields": map[string]any{"amount": "read_only", "margin": "hidden"}},
		"quote": map[string]any{"create": true, "read": "owner == user.id", "update": "owner == user.id", "delete": "owner == user.id"},
	}}, 200, nil)
	for _, u := range users {
		var out map[string]any
		e.do("POST", "/api/v1/users", map[string]any{"email": u.name + "@example.com", "password": adminPass,
			"roles": []string{u.role}, "teams": u.teams, "attributes": u.attrs}, 201, &out)
		o.ids[u.name] = out["id"].(string)
	}
	for _, n := range []string{"rep1", "rep2", "mgr", "ro", "regional", "nobody"} {
		o.users[n] = e.as(n + "@example.com")
	}
	o.users["admin"] = e
	for _, r := range []struct{ name, owner, region string }{
		{"A", "rep1", "east"}, {"B", "rep2", "west"}, {"C", "mgr", "east"}, {"D", "", "north"},
	} {
		body := map[string]any{"name": r.name, "amount": 1000, "margin": 0.3, "region": r.region, "stage": "lead"}
		if r.owner != "" {
			body["owner"] = o.ids[r.owner]
		}
		var out map[string]any
		e.do("POST", "/api/v1/records/deal", body, 201, &out)
		o.recs[r.name] = out["id"].(string)
	}
	return o
}

// TestAccessMatrix proves, on both stores, who may read, update and delete
// which record, through get, list, count, update and delete.
func TestAccessMatrix(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			o := setupOrg(t, startWith(t, open(t)))
			readable := map[string]string{
				"admin": "ABCD", "rep1": "A", "rep2": "B", "mgr": "AC", "ro": "ABCD", "regional": "AC", "nobody": "",
			}
			writable := map[string]string{
				"admin": "ABCD", "rep1": "A", "rep2": "B", "mgr": "AC", "ro": "", "regional": "", "nobody": "",
			}
			deletable := map[string]string{"admin": "ABCD", "mgr": "AC"}
			for user, u := range o.users {
				// List and count run the row rule inside the store.
				var page struct {
					Items []map[string]any
					Count int
				}
				r := u.raw("GET", "/api/v1/records/deal?count=true&sort=name", nil)
				if readable[user] == "" && user != "admin" && user != "ro" {
					if user == "nobody" {
						if r.Status != 403 {
							t.Errorf("%s list: %d, want 403 (no grant)", user, r.Status)
						}
						continue
					}
				}
				u.do("GET", "/api/v1/records/deal?count=true&sort=name", nil, 200, &page)
				var got []string
				for _, it := range page.Items {
					got = append(got, it["name"].(string))
				}
				if strings.Join(got, "") != readable[user] || page.Count != len(readable[user]) {
					t.Errorf("%s lists %v (count %d), want %s", user, got, page.Count, readable[user])
				}
				for rec, id := range o.recs {
					canRead := strings.Contains(readable[user], rec)
					want := map[bool]int{true: 200, false: 404}[canRead]
					if r := u.raw("GET", "/api/v1/records/deal/"+id, nil); r.Status != want {
						t.Errorf("%s GET %s: %d, want %d", user, rec, r.Status, want)
					}
					canWrite := strings.Contains(writable[user], rec)
					r := u.raw("PATCH", "/api/v1/records/deal/"+id, map[string]any{"stage": "won"})
					switch {
					case canWrite && r.Status != 200:
						t.Errorf("%s PATCH %s: %d, want 200: %s", user, rec, r.Status, r.Body)
					case !canWrite && r.Status != 404 && r.Status != 403:
						t.Errorf("%s PATCH %s: %d, want 403/404", user, rec, r.Status)
					}
				}
			}
			// Deletes last, so they do not disturb the reads above.
			for _, user := range []string{"rep1", "ro", "regional", "mgr"} {
				for rec, id := range o.recs {
					r := o.users[user].raw("DELETE", "/api/v1/records/deal/"+id, nil)
					can := strings.Contains(deletable[user], rec)
					if can && r.Status != 204 || !can && r.Status != 403 && r.Status != 404 {
						t.Errorf("%s DELETE %s: %d (allowed %v)", user, rec, r.Status, can)
					}
				}
			}
		})
	}
}

// TestFieldPermissions: a hidden field never shows and cannot be probed; a
// read-only field cannot be written.
func TestFieldPermissions(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			o := setupOrg(t, startWith(t, open(t)))
			rep := o.users["rep1"]
			a := o.recs["A"]
			var rec map[string]any
			rep.do("GET", "/api/v1/records/deal/"+a, nil, 200, &rec)
			if _, ok := rec["margin"]; ok {
				t.Fatalf("hidden field in get: %v", rec)
			}
			if rec["amount"] == nil {
				t.Fatalf("read-only field must be readable: %v", rec)
			}
			var page struct{ Items []map[string]any }
			rep.do("GET", "/api/v1/records/deal", nil, 200, &page)
			for _, it := range page.Items {
				if _, ok := it["margin"]; ok {
					t.Fatalf("hidden field in list: %v", it)
				}
			}
			probes := []struct{ query, param string }{
				{"filter=" + url.QueryEscape("margin > 0.2"), "filter"},
				{"filter=" + url.QueryEscape("margin == nil"), "filter"},
				{"sort=-margin", "sort"},
				{"fields=name,margin", "fields"},
			}
			for _, p := range probes {
				r := rep.raw("GET", "/api/v1/records/deal?"+p.query, nil)
				if r.Status != 400 || problemFields(t, r)[p.param] == "" || !strings.Contains(string(r.Body), "margin") {
					t.Errorf("probe %s: %d %s", p.query, r.Status, r.Body)
				}
				// The answer is the one an unknown field gets: it does not
				// confirm the field exists.
				if strings.Contains(string(r.Body), "hidden") || strings.Contains(string(r.Body), "0.3") {
					t.Errorf("probe %s leaks: %s", p.query, r.Body)
				}
			}
			// Aggregates run under the row rule and refuse hidden fields.
			var agg struct {
				Rows []struct{ Keys, Values map[string]any }
			}
			rep.do("GET", "/api/v1/records/deal/aggregate?measures=count,sum:amount", nil, 200, &agg)
			if len(agg.Rows) != 1 || agg.Rows[0].Values["count"].(float64) != 1 || agg.Rows[0].Values["sum:amount"].(float64) != 1000 {
				t.Errorf("rep aggregate: %+v", agg.Rows)
			}
			o.admin.do("GET", "/api/v1/records/deal/aggregate?group_by=region&measures=count", nil, 200, &agg)
			if len(agg.Rows) != 3 {
				t.Errorf("admin aggregate by region: %+v", agg.Rows)
			}
			for _, q := range []string{"measures=sum:margin", "group_by=margin", "filter=" + url.QueryEscape("margin > 0")} {
				r := rep.raw("GET", "/api/v1/records/deal/aggregate?"+q, nil)
				if r.Status != 400 || !strings.Contains(string(r.Body), "margin") {
					t.Errorf("aggregate probe %s: %d %s", q, r.Status, r.Body)
				}
			}
			// Writes: hidden is unknown, read-only is refused, nothing changes.
			for body, field := range map[string]string{`{"margin": 0.9}`: "margin", `{"amount": 5}`: "amount"} {
				r := rep.raw("PATCH", "/api/v1/records/deal/"+a, body)
				if r.Status != 422 || problemFields(t, r)[field] == "" {
					t.Errorf("write %s: %d %s", body, r.Status, r.Body)
				}
			}
			// Creating with a read-only field is refused too; without it works.
			if r := rep.raw("POST", "/api/v1/records/deal", map[string]any{"name": "x", "amount": 1}); r.Status != 422 {
				t.Errorf("create with read-only field: %d", r.Status)
			}
			rep.do("POST", "/api/v1/records/deal", map[string]any{"name": "Mine"}, 201, &rec)
			if rec["owner"] != o.ids["rep1"] {
				t.Errorf("owner defaults to the creator: %v", rec["owner"])
			}
			// Reps may not reassign owners; managers may.
			if r := rep.raw("PATCH", "/api/v1/records/deal/"+a, map[string]any{"owner": o.ids["rep2"]}); r.Status != 422 {
				t.Errorf("rep reassigning owner: %d %s", r.Status, r.Body)
			}
			o.users["mgr"].do("PATCH", "/api/v1/records/deal/"+o.recs["C"], map[string]any{"owner": o.ids["rep1"]}, 200, nil)
			o.admin.do("GET", "/api/v1/records/deal/"+a, nil, 200, &rec)
			if rec["margin"].(float64) != 0.3 || rec["amount"].(float64) != 1000 {
				t.Fatalf("refused writes changed the record: %v", rec)
			}
			// Lookups cannot reach records the user cannot read.
			r := rep.raw("POST", "/api/v1/records/quote", map[string]any{"title": "q", "deal": o.recs["B"]})
			if r.Status != 422 || problemFields(t, r)["deal"] != "lookup" {
				t.Errorf("lookup to an unreadable record: %d %s", r.Status, r.Body)
			}
			rep.do("POST", "/api/v1/records/quote", map[string]any{"title": "q", "deal": a}, 201, nil)
			// The audit view of a readable record, with margin redacted.
			o.admin.do("PATCH", "/api/v1/records/deal/"+a, map[string]any{"margin": 0.4, "name": "A2"}, 200, nil)
			var audit struct{ Items []store.AuditEntry }
			rep.do("GET", "/api/v1/audit?entity=deal&record_id="+a, nil, 200, &audit)
			if len(audit.Items) == 0 {
				t.Fatal("no audit entries for a readable record")
			}
			for _, it := range audit.Items {
				if _, ok := it.Changes["margin"]; ok {
					t.Fatalf("audit shows a hidden field: %v", it.Changes)
				}
			}
			if _, ok := audit.Items[0].Changes["name"]; !ok {
				t.Fatalf("audit lost visible changes: %v", audit.Items[0].Changes)
			}
			if r := rep.raw("GET", "/api/v1/audit?entity=deal&record_id="+o.recs["B"], nil); r.Status != 404 {
				t.Errorf("audit of an unreadable record: %d", r.Status)
			}
			if r := rep.raw("GET", "/api/v1/audit", nil); r.Status != 403 {
				t.Errorf("full audit log for a rep: %d", r.Status)
			}
		})
	}
}

// TestMassAssignment PATCHes every system field: each is refused by name
// and the record does not change.
func TestMassAssignment(t *testing.T) {
	e := start(t)
	o := setupOrg(t, e)
	e.do("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "number", "type": "auto_number", "format": "D-{000}"}, 201, nil)
	e.do("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "double", "type": "formula", "formula": "amount * 2"}, 201, nil)
	a := o.recs["A"]
	var before map[string]any
	e.do("GET", "/api/v1/records/deal/"+a, nil, 200, &before)
	fields := map[string]any{"id": "01a214e0-0000-7000-8000-000000000000", "created_at": "2020-01-01T00:00:00Z",
		"updated_at": "2020-01-01T00:00:00Z", "created_by": o.ids["rep2"], "updated_by": o.ids["rep2"],
		"number": "D-999", "double": 1, "deleted_at": "x", "_id": "x"}
	for _, user := range []string{"admin", "rep1"} {
		for f, v := range fields {
			r := o.users[user].raw("PATCH", "/api/v1/records/deal/"+a, map[string]any{f: v})
			if r.Status != 422 || problemFields(t, r)[f] == "" {
				t.Errorf("%s PATCH %s: %d %s", user, f, r.Status, r.Body)
			}
		}
		if r := o.users[user].raw("PATCH", "/api/v1/records/deal/"+a, map[string]any{"version": 99}); r.Status != 409 {
			t.Errorf("%s PATCH version 99: %d", user, r.Status)
		}
	}
	var after map[string]any
	e.do("GET", "/api/v1/records/deal/"+a, nil, 200, &after)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("mass assignment changed the record:\n%v\n%v", before, after)
	}
}

func TestRolesAndExplain(t *testing.T) {
	e := start(t)
	o := setupOrg(t, e)
	var roles []map[string]any
	e.do("GET", "/api/v1/roles", nil, 200, &roles)
	var names []string
	for _, r := range roles {
		names = append(names, r["name"].(string))
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "admin,manager,nothing,read_only,regional,sales_rep" {
		t.Fatalf("roles: %v", names)
	}
	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"entities": map[string]any{"deal": map[string]any{"read": "owner =="}}}, "entities.deal.read"},
		{map[string]any{"entities": map[string]any{"deal": map[string]any{"read": "colour == 1"}}}, "entities.deal.read"},
		{map[string]any{"entities": map[string]any{"deal": map[string]any{"fields": map[string]any{"colour": "hidden"}}}}, "entities.deal.fields.colour"},
		{map[string]any{"entities": map[string]any{"deal": map[string]any{"fields": map[string]any{"amount": "secret"}}}}, "entities.deal.fields.amount"},
		{map[string]any{"entities": map[string]any{"nope": map[string]any{"create": true}}}, "entities.nope"},
		{map[string]any{"entities": map[string]any{"deal": map[string]any{"read": 5}}}, "body"},
	}
	for _, b := range bad {
		r := e.raw("PUT", "/api/v1/roles/sales_rep", b.body)
		if r.Status/100 != 4 || problemFields(t, r)[b.field] == "" {
			t.Errorf("bad role %v: %d %s", b.body, r.Status, r.Body)
		}
	}
	var rejected struct{ Items []store.AuditEntry }
	e.do("GET", "/api/v1/audit?action=role.rejected", nil, 200, &rejected)
	if len(rejected.Items) != len(bad)-1 { // the last one is refused by the decoder (400), not the role check
		t.Errorf("audit entries of rejected roles: %d, want %d", len(rejected.Items), len(bad)-1)
	}
	// The bad documents changed nothing: rep1 still sees A only.
	var page struct{ Items []map[string]any }
	o.users["rep1"].do("GET", "/api/v1/records/deal", nil, 200, &page)
	if len(page.Items) != 1 {
		t.Fatalf("a refused role change took effect: %d items", len(page.Items))
	}
	// Only admins manage roles, users and teams.
	for _, path := range []string{"/api/v1/roles", "/api/v1/users", "/api/v1/teams", "/api/v1/meta/entities"} {
		if r := o.users["mgr"].raw("GET", path, nil); r.Status != 403 {
			t.Errorf("manager GET %s: %d", path, r.Status)
		}
	}

	var x struct {
		Can   map[string]bool
		Rules map[string][]struct {
			Role    string
			Rule    any
			Matches bool
		}
		Fields map[string]string
	}
	e.do("GET", "/api/v1/access/explain?entity=deal&id="+o.recs["B"]+"&user="+o.ids["rep1"], nil, 200, &x)
	if x.Can["read"] || x.Can["update"] || x.Can["delete"] || !x.Can["create"] {
		t.Fatalf("explain rep1 on B: %+v", x.Can)
	}
	if len(x.Rules["read"]) != 1 || fmt.Sprint(x.Rules["read"][0].Rule) != "owner == user.id" || x.Rules["read"][0].Matches {
		t.Fatalf("explain rules: %+v", x.Rules)
	}
	if x.Fields["margin"] != "hidden" || x.Fields["amount"] != "read_only" {
		t.Fatalf("explain fields: %+v", x.Fields)
	}
	e.do("GET", "/api/v1/access/explain?entity=deal&id="+o.recs["A"]+"&user="+o.ids["mgr"], nil, 200, &x)
	if !x.Can["read"] || !x.Can["delete"] {
		t.Fatalf("explain manager on a subtree record: %+v", x)
	}

	// Deactivation keeps records and ownership, and stops the user.
	e.do("PATCH", "/api/v1/users/"+o.ids["rep1"], map[string]any{"active": false}, 200, nil)
	if r := o.users["rep1"].raw("GET", "/api/v1/records/deal", nil); r.Status != 401 {
		t.Errorf("deactivated user: %d", r.Status)
	}
	var rec map[string]any
	e.do("GET", "/api/v1/records/deal/"+o.recs["A"], nil, 200, &rec)
	if rec["owner"] != o.ids["rep1"] {
		t.Fatalf("deactivation changed ownership: %v", rec["owner"])
	}
	// Denials are audited.
	o.users["nobody"].raw("GET", "/api/v1/records/deal", nil)
	var audit struct{ Items []store.AuditEntry }
	e.do("GET", "/api/v1/audit?action=access.denied&actor="+o.ids["nobody"], nil, 200, &audit)
	if len(audit.Items) == 0 {
		t.Fatal("no audit entry for a denial")
	}
	// A role can require a second factor: its holders must set one up.
	e.do("PUT", "/api/v1/roles/regional", map[string]any{"label": "Regional", "require_second_factor": true, "entities": map[string]any{
		"deal": map[string]any{"read": "region == user.region"}}}, 200, nil)
	var login map[string]any
	e.token = ""
	e.do("POST", "/api/v1/auth/login", map[string]any{"email": "regional@example.com", "password": adminPass}, 200, &login)
	if login["second_factor_setup_required"] != true {
		t.Fatalf("login of a role that requires a second factor: %v", login)
	}
	limited := *e
	limited.token = login["token"].(string)
	if r := limited.raw("GET", "/api/v1/records/deal", nil); r.Status != 403 {
		t.Fatalf("a second-factor setup session reached records: %d", r.Status)
	}
}
