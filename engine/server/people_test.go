package server_test

import (
	"strings"
	"testing"
)

// TestPeople: anyone signed in finds users by name for a picker, and the
// names of the users some ids name; only admins see e-mail addresses, and
// deactivated users are not offered.
func TestPeople(t *testing.T) {
	o := setupOrg(t, start(t))
	admin, rep := o.admin, o.users["rep1"]
	o.users["rep2"].do("PATCH", "/api/v1/auth/me", map[string]any{"name": "Rita Rep"}, 200, nil)
	admin.do("PATCH", "/api/v1/users/"+o.ids["ro"], map[string]any{"active": false}, 200, nil)
	var got struct {
		Items []struct{ ID, Name, Email string }
	}
	rep.do("GET", "/api/v1/people?q=REP", nil, 200, &got)
	var names []string
	for _, p := range got.Items {
		names = append(names, p.Name)
		if p.Email != "" {
			t.Errorf("a rep sees %s's e-mail", p.Name)
		}
	}
	if strings.Join(names, ",") != "rep1,Rita Rep" {
		t.Fatalf("rep's search for rep: %v", names)
	}
	rep.do("GET", "/api/v1/people?q=ro", nil, 200, &got)
	for _, p := range got.Items {
		if p.ID == o.ids["ro"] {
			t.Fatal("a deactivated user is offered")
		}
	}
	admin.do("GET", "/api/v1/people?ids="+o.ids["mgr"]+","+o.ids["ro"], nil, 200, &got)
	if len(got.Items) != 2 || got.Items[0].Email == "" {
		t.Fatalf("admin's lookup by id: %+v", got.Items)
	}
	rep.do("GET", "/api/v1/people?limit=0", nil, 400, nil)
}

// TestRecent: the records a person opened follow them: newest first,
// each once, with its title, and none they may not read.
func TestRecent(t *testing.T) {
	o := setupOrg(t, start(t))
	rep := o.users["rep1"]
	var q map[string]any
	rep.do("POST", "/api/v1/records/quote", map[string]any{"title": "Q1"}, 201, &q)
	rep.do("POST", "/api/v1/recent", map[string]any{"entity": "deal", "id": o.recs["A"]}, 204, nil)
	rep.do("POST", "/api/v1/recent", map[string]any{"entity": "quote", "id": q["id"]}, 204, nil)
	rep.do("POST", "/api/v1/recent", map[string]any{"entity": "deal", "id": o.recs["A"]}, 204, nil)
	rep.do("POST", "/api/v1/recent", map[string]any{"entity": "deal", "id": o.recs["B"]}, 404, nil)
	var got struct {
		Items []struct{ Entity, ID, Title string }
	}
	rep.do("GET", "/api/v1/recent", nil, 200, &got)
	if len(got.Items) != 2 || got.Items[0].ID != o.recs["A"] || got.Items[0].Title != "A" || got.Items[1].Title != "Q1" {
		t.Fatalf("recent: %+v", got.Items)
	}
	// Once the rep may no longer read A, it is left out.
	o.admin.do("PATCH", "/api/v1/records/deal/"+o.recs["A"], map[string]any{"owner": o.ids["rep2"]}, 200, nil)
	rep.do("GET", "/api/v1/recent", nil, 200, &got)
	if len(got.Items) != 1 || got.Items[0].Title != "Q1" {
		t.Fatalf("recent after A moved to rep2: %+v", got.Items)
	}
	o.users["rep2"].do("GET", "/api/v1/recent", nil, 200, &got)
	if len(got.Items) != 0 {
		t.Fatalf("rep2 sees rep1's recent records: %+v", got.Items)
	}
}
