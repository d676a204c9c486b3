package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/server"
)

// TestHeavyReadsAreAdmitted: a user with their allowance of counts,
// aggregates and unindexed lists in flight gets 429 with Retry-After for
// another one, while their gets and indexed lists are answered, and other
// users are not refused. The allowance is held through the service itself,
// so no request has to be slow for the test to see it.
func TestHeavyReadsAreAdmitted(t *testing.T) {
	var recs *records.Service
	e, _ := startServer(t, stores["sqlite"](t), auth.Options{}, func(d *server.Deps) {
		d.Records.Heavy = records.NewAdmission(records.AdmissionLimits{Running: 2, PerUser: 1})
		recs = d.Records
	})
	e.do("POST", "/api/v1/meta/entities", dealEntity, 201, nil)
	var rec map[string]any
	e.do("POST", "/api/v1/records/deal", map[string]any{"name": "Acme", "amount": 10, "stage": "won"}, 201, &rec)
	var me struct{ ID string }
	e.do("GET", "/api/v1/auth/me", nil, 200, &me)

	release, err := recs.Heavy.Enter(context.Background(), me.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, path := range []string{
		"/api/v1/records/deal?count=true",
		"/api/v1/records/deal?filter=" + strings.ReplaceAll(`name == "Acme"`, " ", "%20"),
		"/api/v1/records/deal/aggregate?group_by=stage",
	} {
		r := e.raw("GET", path, nil)
		if r.Status != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s with the allowance in flight: %d, Retry-After %q: %s", path, r.Status, r.Header.Get("Retry-After"), r.Body)
		}
		problemFields(t, r)
	}
	// Light reads still answer.
	e.do("GET", "/api/v1/records/deal/"+rec["id"].(string), nil, 200, nil)
	e.do("GET", "/api/v1/records/deal?filter=stage%20%3D%3D%20%22won%22&sort=-created_at", nil, 200, nil)
	e.do("GET", "/api/v1/records/deal?sort=-amount", nil, 200, nil)
	// Another user's count is not refused because of the first one's.
	e.do("POST", "/api/v1/users", map[string]any{"email": "other@example.com", "password": adminPass, "roles": []string{"admin"}}, 201, nil)
	e.as("other@example.com").do("GET", "/api/v1/records/deal?count=true", nil, 200, nil)
}
