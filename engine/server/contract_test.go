package server_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestContractHidesHiddenFields: a user who may not see margin does not
// find it in the entity's JSON Schema nor in the OpenAPI document; a
// field read-only for them says so; entities they may not use and the
// admin routes are left out. Admins get everything. On both stores.
func TestContractHidesHiddenFields(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			o := setupOrg(t, startWith(t, open(t)))
			rep, nobody, admin := o.users["rep1"], o.users["nobody"], o.admin

			var schema map[string]any
			rep.do("GET", "/api/v1/meta/entities/deal/schema", nil, 200, &schema)
			props := schema["properties"].(map[string]any)
			if _, ok := props["margin"]; ok {
				t.Fatalf("the rep's schema names the hidden field margin: %v", props)
			}
			if amount := props["amount"].(map[string]any); amount["readOnly"] != true {
				t.Fatalf("amount is read-only for the rep, schema says %v", amount)
			}
			if props["name"] == nil || props["stage"] == nil {
				t.Fatalf("visible fields missing: %v", props)
			}
			admin.do("GET", "/api/v1/meta/entities/deal/schema", nil, 200, &schema)
			props = schema["properties"].(map[string]any)
			if props["margin"] == nil || props["amount"].(map[string]any)["readOnly"] == true {
				t.Fatalf("the admin's schema: %v", props)
			}
			// The entity-wide schema the admin sees is not changed by what
			// the rep got (the catalog's copy is shared).
			rep.do("GET", "/api/v1/meta/entities/deal/schema", nil, 200, nil)
			admin.do("GET", "/api/v1/meta/entities/deal/schema", nil, 200, &schema)
			if schema["properties"].(map[string]any)["margin"] == nil {
				t.Fatal("a rep's request changed the admin's schema")
			}
			nobody.do("GET", "/api/v1/meta/entities/deal/schema", nil, 403, nil)

			raw := string(rep.do("GET", "/api/v1/openapi.json", nil, 200, nil).Body)
			if strings.Contains(raw, "margin") {
				t.Fatal("the rep's OpenAPI document names margin")
			}
			var doc struct {
				Paths map[string]map[string]any `json:"paths"`
			}
			if err := json.Unmarshal([]byte(raw), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Paths["/records/deal"] == nil || doc.Paths["/records/quote"] == nil {
				t.Fatalf("the rep's document lacks the entities they use: %v", keys(doc.Paths))
			}
			for _, admin := range []string{"/meta/entities", "/users", "/roles/{name}", "/access/explain"} {
				if doc.Paths[admin] != nil {
					t.Errorf("the rep's document lists the admin route %s", admin)
				}
			}
			if doc.Paths["/auth/me"] == nil || doc.Paths["/audit"] == nil {
				t.Errorf("the rep's document lacks their own routes: %v", keys(doc.Paths))
			}
			nobody.do("GET", "/api/v1/openapi.json", nil, 200, &doc)
			if doc.Paths["/records/deal"] != nil {
				t.Error("a user without grants finds /records/deal in the document")
			}
			raw = string(admin.do("GET", "/api/v1/openapi.json", nil, 200, &doc).Body)
			if !strings.Contains(raw, "margin") || doc.Paths["/meta/entities"] == nil {
				t.Error("the admin's document lacks margin or the admin routes")
			}
		})
	}
}

// TestAuditViewHidesAddresses: on a record they can read, others see who
// changed it (by name) but not the address it came from; their own
// entries and the admin's view keep addresses.
func TestAuditViewHidesAddresses(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			o := setupOrg(t, startWith(t, open(t)))
			rep := o.users["rep1"]
			id := o.recs["A"]
			rep.do("PATCH", "/api/v1/records/deal/"+id, map[string]any{"stage": "won"}, 200, nil)
			var got struct {
				Items []struct {
					Actor     string `json:"actor"`
					ActorName string `json:"actor_name"`
					IP        string `json:"ip"`
					Action    string `json:"action"`
				} `json:"items"`
			}
			q := "/api/v1/audit?entity=deal&record_id=" + id
			rep.do("GET", q, nil, 200, &got)
			var admins, own int
			for _, a := range got.Items {
				if a.ActorName == "" {
					t.Errorf("entry %s by %s has no actor name", a.Action, a.Actor)
				}
				switch a.Actor {
				case o.ids["rep1"]:
					own++
					if a.IP == "" {
						t.Errorf("the rep's own entry lost its address")
					}
				default:
					admins++
					if a.IP != "" {
						t.Errorf("the rep sees the admin's address %q", a.IP)
					}
				}
			}
			if admins == 0 || own == 0 {
				t.Fatalf("entries: %+v", got.Items)
			}
			o.admin.do("GET", q, nil, 200, &got)
			for _, a := range got.Items {
				if a.IP == "" {
					t.Errorf("the admin sees no address on %s", a.Action)
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAdminIsTheRoleFlag: admin rights come from a role's admin flag, the
// same one the access policy grants everything by; a custom role with the
// flag opens the admin routes too, and /auth/me says so.
func TestAdminIsTheRoleFlag(t *testing.T) {
	e := start(t)
	e.do("PUT", "/api/v1/roles/ops", map[string]any{"label": "Ops", "admin": true, "entities": map[string]any{}}, 200, nil)
	e.do("POST", "/api/v1/users", map[string]any{"email": "ops@example.com", "password": adminPass, "roles": []string{"ops"}}, 201, nil)
	e.do("POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "password": adminPass, "roles": []string{"sales_rep"}}, 201, nil)
	var me struct {
		Admin bool `json:"admin"`
	}
	ops := e.as("ops@example.com")
	ops.do("GET", "/api/v1/auth/me", nil, 200, &me)
	if !me.Admin {
		t.Fatal("/auth/me: a user whose role has the admin flag is not an admin")
	}
	ops.do("GET", "/api/v1/meta/entities", nil, 200, nil)
	ops.do("GET", "/api/v1/users", nil, 200, nil)
	rep := e.as("rep@example.com")
	rep.do("GET", "/api/v1/auth/me", nil, 200, &me)
	if me.Admin {
		t.Fatal("/auth/me: a sales rep is an admin")
	}
	rep.do("GET", "/api/v1/meta/entities", nil, 403, nil)
	e.do("GET", "/api/v1/auth/me", nil, 200, &me)
	if !me.Admin {
		t.Fatal("/auth/me: the admin is not an admin")
	}
}
