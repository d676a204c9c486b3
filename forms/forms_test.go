package forms_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/jimu-crm/jimu/engine/server/servertest"
)

// dealEntity is the entity of the form tests: a visit's outcome decides
// what else is asked.
func dealEntity(e *servertest.Env) {
	opts := func(vs ...string) []any {
		out := []any{}
		for _, v := range vs {
			out = append(out, map[string]any{"value": v})
		}
		return out
	}
	e.Do("POST", "/api/v1/meta/entities", map[string]any{"name": "deal", "ownership": true, "fields": []any{
		map[string]any{"name": "name", "type": "text", "required": true},
		map[string]any{"name": "outcome", "type": "select", "options": opts("won", "lost", "follow_up")},
		map[string]any{"name": "next_visit", "type": "date"},
		map[string]any{"name": "lost_reason", "type": "long_text"},
		map[string]any{"name": "competitor", "type": "text"},
		map[string]any{"name": "amount", "type": "currency"},
		map[string]any{"name": "stage", "type": "select", "options": opts("lead", "qualified", "won")},
		map[string]any{"name": "region", "type": "select", "options": opts("east", "west")},
		map[string]any{"name": "product", "type": "select", "options": opts("basic", "pro", "enterprise")},
		map[string]any{"name": "source", "type": "text"},
		map[string]any{"name": "margin", "type": "number"},
		map[string]any{"name": "score", "type": "formula", "formula": "amount * 2"},
	}}, 201, nil)
}

// visitReport is the form of the example, with one rule of every
// kind.
func visitReport() map[string]any {
	return map[string]any{"name": "visit_report", "entity": "deal", "label": map[string]any{"en": "Visit report", "zh-CN": "拜访记录"},
		"sections": []any{
			map[string]any{"label": "Visit", "columns": 2, "fields": []any{
				map[string]any{"field": "name", "required": true},
				map[string]any{"field": "outcome", "required": true},
				map[string]any{"field": "next_visit", "require_when": `outcome == "follow_up"`},
				map[string]any{"field": "lost_reason", "show_when": `outcome == "lost"`, "column": 2},
				map[string]any{"field": "competitor", "show_when": `outcome == "lost"`, "required": true},
			}},
			map[string]any{"label": "Deal", "fields": []any{
				map[string]any{"field": "amount", "read_only_when": `stage == "won"`},
				map[string]any{"field": "stage", "default": "lead"},
				map[string]any{"field": "region"},
				map[string]any{"field": "product", "options_when": []any{
					map[string]any{"when": `region == "east"`, "options": []any{"basic", "pro"}}}},
				map[string]any{"field": "source", "read_only": true},
				map[string]any{"field": "score"},
			}},
		}}
}

type formOut struct {
	ID      string
	Name    string
	Version int64
	Publish *struct{ Slug string }
}

func createForm(t *testing.T, e *servertest.Env, body map[string]any) formOut {
	t.Helper()
	var f formOut
	e.Do("POST", "/api/v1/meta/forms", body, 201, &f)
	if f.ID == "" || f.Version != 1 {
		t.Fatalf("created form %+v", f)
	}
	return f
}

// TestFormMetadata: forms are versioned documents with their history,
// several per entity, built by admins and by roles with design_forms;
// what a form names is checked against its entity at save time, each
// problem by its path.
func TestFormMetadata(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			dealEntity(admin)
			f := createForm(t, admin, visitReport())
			quick := createForm(t, admin, map[string]any{"name": "quick", "entity": "deal", "label": "Quick create",
				"sections": []any{map[string]any{"fields": []any{map[string]any{"field": "name"}}}}})

			var list struct{ Items []formOut }
			admin.Do("GET", "/api/v1/meta/forms?entity=deal", nil, 200, &list)
			if len(list.Items) != 2 {
				t.Fatalf("forms of deal: %+v", list.Items)
			}
			body := visitReport()
			body["label"] = "Visit"
			admin.Do("PUT", "/api/v1/meta/forms/"+f.ID, body, 200, &f, "If-Match", `"1"`)
			if f.Version != 2 {
				t.Fatalf("version after a change: %d", f.Version)
			}
			admin.Do("PUT", "/api/v1/meta/forms/"+f.ID, body, 409, nil, "If-Match", `"1"`)
			var hist struct {
				Items []struct {
					Version int64
					Label   any
				}
			}
			admin.Do("GET", "/api/v1/meta/forms/"+f.ID+"/history", nil, 200, &hist)
			if len(hist.Items) != 2 || hist.Items[0].Version != 1 || hist.Items[1].Label != "Visit" {
				t.Fatalf("history: %+v", hist.Items)
			}
			dup := visitReport()
			r := admin.Raw("POST", "/api/v1/meta/forms", dup)
			if r.Status != 422 || servertest.ProblemFields(t, r)["name"] != "taken" {
				t.Fatalf("a second visit_report of deal: %d %s", r.Status, r.Body)
			}

			// Who designs: admins and design_forms; a rep neither.
			admin.Do("PUT", "/api/v1/roles/designer", map[string]any{"label": "Designer", "permissions": []string{"design_forms"},
				"entities": map[string]any{"deal": map[string]any{"read": true, "fields": map[string]any{"margin": "hidden"}}}}, 200, nil)
			r = admin.Raw("PUT", "/api/v1/roles/bad", map[string]any{"label": "Bad", "permissions": []string{"design_everything"}})
			if r.Status != 422 || servertest.ProblemFields(t, r)["permissions.0"] != "enum" {
				t.Fatalf("an unknown permission: %d %s", r.Status, r.Body)
			}
			for _, u := range []struct{ email, role string }{{"designer@example.com", "designer"}, {"rep@example.com", "sales_rep"}} {
				admin.Do("POST", "/api/v1/users", map[string]any{"email": u.email, "password": servertest.AdminPassword, "roles": []string{u.role}}, 201, nil)
			}
			designer := admin.As("designer@example.com", servertest.AdminPassword)
			rep := admin.As("rep@example.com", servertest.AdminPassword)
			var me struct{ Permissions []string }
			designer.Do("GET", "/api/v1/auth/me", nil, 200, &me)
			if !slices.Equal(me.Permissions, []string{"design_forms"}) {
				t.Fatalf("the designer's permissions: %v", me.Permissions)
			}
			rep.Do("GET", "/api/v1/auth/me", nil, 200, &me)
			if len(me.Permissions) != 0 {
				t.Fatalf("the rep's permissions: %v", me.Permissions)
			}
			rep.Do("POST", "/api/v1/meta/forms", map[string]any{"name": "mine", "entity": "deal", "sections": []any{}}, 403, nil)
			rep.Do("GET", "/api/v1/meta/forms", nil, 403, nil)
			rep.Do("DELETE", "/api/v1/meta/forms/"+quick.ID, nil, 403, nil)
			designer.Do("POST", "/api/v1/meta/forms", map[string]any{"name": "designed", "entity": "deal",
				"sections": []any{map[string]any{"fields": []any{map[string]any{"field": "name"}}}}}, 201, nil)

			// Bad input, refused at save time by path and reason.
			field := func(f map[string]any) map[string]any {
				return map[string]any{"name": "bad", "entity": "deal", "sections": []any{map[string]any{"columns": 1, "fields": []any{f}}}}
			}
			for _, c := range []struct {
				who        *servertest.Env
				body       map[string]any
				path, code string
			}{
				{admin, field(map[string]any{"field": "colour"}), "sections.0.fields.0.field", "unknown_field"},
				{designer, field(map[string]any{"field": "margin"}), "sections.0.fields.0.field", "unknown_field"},
				{admin, field(map[string]any{"field": "name", "show_when": `outcome ==`}), "sections.0.fields.0.show_when", "expression"},
				{admin, field(map[string]any{"field": "amount", "require_when": `colour == "red"`}), "sections.0.fields.0.require_when", "unknown_field"},
				{designer, field(map[string]any{"field": "amount", "read_only_when": `margin > 1`}), "sections.0.fields.0.read_only_when", "unknown_field"},
				{admin, field(map[string]any{"field": "amount", "options_when": []any{map[string]any{"when": "true", "options": []any{"x"}}}}), "sections.0.fields.0.options_when", "type"},
				{admin, field(map[string]any{"field": "product", "options_when": []any{map[string]any{"when": "true", "options": []any{"gold"}}}}), "sections.0.fields.0.options_when.0.options.0", "unknown_option"},
				{admin, field(map[string]any{"field": "product", "options_when": []any{map[string]any{"when": "region = 1", "options": []any{"pro"}}}}), "sections.0.fields.0.options_when.0.when", "expression"},
				{admin, field(map[string]any{"field": "name", "column": 2}), "sections.0.fields.0.column", "range"},
				{admin, field(map[string]any{"field": "name", "required": true, "read_only": true}), "sections.0.fields.0.read_only", "conflict"},
				{admin, field(map[string]any{"field": "name", "show_when": "true"}), "sections.0.fields.0.show_when", "required_by_entity"},
				{admin, field(map[string]any{"field": "score", "required": true}), "sections.0.fields.0", "read_only_field"},
				{admin, field(map[string]any{"field": "stage", "default": "closed"}), "sections.0.fields.0.default", "unknown_option"},
				{admin, field(map[string]any{"field": "amount", "default": "lots"}), "sections.0.fields.0.default", "invalid"},
				{admin, field(map[string]any{"field": "name", "colour": "red"}), "sections.0.fields.0.colour", "unknown_property"},
				{admin, field(map[string]any{"field": "name", "show_when": 1}), "sections.0.fields.0.show_when", "type"},
				{admin, map[string]any{"name": "bad", "entity": "nope", "sections": []any{map[string]any{"fields": []any{}}}}, "entity", "unknown_entity"},
				{admin, map[string]any{"name": "bad", "entity": "deal", "sections": []any{}}, "sections", "minItems"},
				{admin, map[string]any{"name": "Bad Name", "entity": "deal", "sections": []any{}}, "name", "pattern"},
				{admin, map[string]any{"entity": "deal", "sections": []any{}}, "name", "required"},
			} {
				r := c.who.Raw("POST", "/api/v1/meta/forms", c.body)
				if r.Status != 422 {
					t.Errorf("%v: %d %s", c.body, r.Status, r.Body)
					continue
				}
				if got := servertest.ProblemFields(t, r)[c.path]; got != c.code {
					t.Errorf("%v: %s is %q, want %q: %s", c.body, c.path, got, c.code, r.Body)
				}
			}
			// A rule's error says where in it the problem is.
			r = admin.Raw("POST", "/api/v1/meta/forms", field(map[string]any{"field": "amount", "require_when": `stage == "won" and colour > 1`}))
			var p struct {
				Errors []struct {
					Field  string
					Offset *int
					Column *int
				}
			}
			if err := json.Unmarshal(r.Body, &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Offset == nil || *p.Errors[0].Offset != 19 {
				t.Fatalf("the position of an unknown name in a rule: %s", r.Body)
			}

			admin.Do("DELETE", "/api/v1/meta/forms/"+quick.ID, nil, 204, nil)
			admin.Do("GET", "/api/v1/meta/forms/"+quick.ID, nil, 404, nil)
			var audit struct{ Items []struct{ Action string } }
			admin.Do("GET", "/api/v1/audit?record_id="+f.ID, nil, 200, &audit)
			if len(audit.Items) != 2 || audit.Items[0].Action != "meta.form.update" {
				t.Fatalf("audit of the form: %+v", audit.Items)
			}
		})
	}
}
