package workflows_test

import (
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/server/servertest"
)

// TestConditionCheck: the editor's live check of a condition answers as
// a save would, for the trigger chosen: old values only where a change
// has them, payload only on webhooks, store filters on schedules, with
// the error's position.
func TestConditionCheck(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			type answer struct {
				OK    bool
				Error *struct {
					Message string
					Code    string
					Offset  *int
				}
			}
			check := func(trigger, cond string) answer {
				t.Helper()
				var a answer
				e.Do("POST", "/api/v1/meta/workflows/check", map[string]any{"entity": "deal",
					"trigger": map[string]any{"type": trigger}, "condition": cond}, 200, &a)
				return a
			}
			cases := []struct {
				trigger, cond string
				ok            bool
				code          string
				offset        int
			}{
				{"record.updated", `old.stage != "won" and stage == "won"`, true, "", 0},
				{"record.updated", `old.stgae != "won"`, false, "unknown_field", -1},
				{"record.created", `stage == `, false, "invalid_expression", -1},
				{"record.created", `amount > 10 and stgae == "won"`, false, "unknown_field", 16},
				{"webhook", `payload.kind == "vip"`, true, "", 0},
				{"record.created", `payload.kind == "vip"`, false, "unknown_field", -1},
				{"schedule", `amount * 2 > 100`, false, "not_filterable", -1},
				{"schedule", `stage not in ["won", "lost"] and updated_at < days_ago(14)`, true, "", 0},
				{"manual", ``, true, "", 0},
				{"record.created", strings.Repeat("x", 2001), false, "maxLength", -1},
			}
			for _, c := range cases {
				a := check(c.trigger, c.cond)
				if a.OK != c.ok {
					t.Errorf("%s %q: ok %v, want %v (%+v)", c.trigger, c.cond, a.OK, c.ok, a.Error)
					continue
				}
				if c.ok {
					continue
				}
				if a.Error == nil || a.Error.Code != c.code || a.Error.Message == "" {
					t.Errorf("%s %q: error %+v, want code %s", c.trigger, c.cond, a.Error, c.code)
					continue
				}
				if c.offset >= 0 && (a.Error.Offset == nil || *a.Error.Offset != c.offset) {
					t.Errorf("%s %q: offset %v, want %d", c.trigger, c.cond, a.Error.Offset, c.offset)
				}
			}
			// The request's own mistakes are 422s naming them.
			e.Do("POST", "/api/v1/meta/workflows/check", map[string]any{"entity": "ghost",
				"trigger": map[string]any{"type": "manual"}, "condition": "true"}, 422, nil)
			e.Do("POST", "/api/v1/meta/workflows/check", map[string]any{"entity": "deal",
				"trigger": map[string]any{"type": "record.touched"}, "condition": "true"}, 422, nil)
			// Admins only, as the rules are.
			e.Do("POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "password": servertest.AdminPassword, "roles": []string{"sales_rep"}}, 201, nil)
			e.As("rep@example.com", servertest.AdminPassword).Do("POST", "/api/v1/meta/workflows/check", map[string]any{"entity": "deal",
				"trigger": map[string]any{"type": "manual"}, "condition": "true"}, 403, nil)
		})
	}
}
