package forms_test

import (
	"slices"
	"testing"

	"github.com/jimu-crm/jimu/engine/server/servertest"
)

type evaluation struct {
	Visible  []string
	Required []string
	ReadOnly []string `json:"read_only"`
	Options  map[string][]string
	Defaults map[string]any
	Errors   []struct{ Field, Code, Message string }
}

// TestEvaluate: the server answers, for draft values, which fields are
// shown, required and read-only and which options a select allows — the
// live preview's question, answered by the same rules a submission meets.
func TestEvaluate(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			dealEntity(admin)
			f := createForm(t, admin, visitReport())
			eval := func(values map[string]any) evaluation {
				t.Helper()
				var ev evaluation
				admin.Do("POST", "/api/v1/forms/"+f.ID+"/evaluate", map[string]any{"values": values}, 200, &ev)
				return ev
			}
			ev := eval(map[string]any{"outcome": "lost"})
			if !slices.Contains(ev.Visible, "lost_reason") || !slices.Contains(ev.Visible, "competitor") || slices.Contains(ev.Required, "next_visit") {
				t.Fatalf("outcome lost: %+v", ev)
			}
			if !slices.Contains(ev.Required, "competitor") || !slices.Contains(ev.Required, "name") {
				t.Fatalf("required when lost: %+v", ev.Required)
			}
			if ev.Defaults["stage"] != "lead" {
				t.Fatalf("the form's default: %+v", ev.Defaults)
			}
			ev = eval(map[string]any{"outcome": "follow_up"})
			if slices.Contains(ev.Visible, "lost_reason") || !slices.Contains(ev.Required, "next_visit") || slices.Contains(ev.Required, "competitor") {
				t.Fatalf("outcome follow_up: %+v", ev)
			}
			if !slices.Contains(ev.ReadOnly, "source") || !slices.Contains(ev.ReadOnly, "score") || slices.Contains(ev.ReadOnly, "amount") {
				t.Fatalf("read-only fields: %+v", ev.ReadOnly)
			}
			ev = eval(map[string]any{"stage": "won", "region": "east"})
			if !slices.Contains(ev.ReadOnly, "amount") || !slices.Equal(ev.Options["product"], []string{"basic", "pro"}) {
				t.Fatalf("stage won, region east: %+v", ev)
			}
			ev = eval(map[string]any{"region": "west", "amount": "lots"})
			if !slices.Equal(ev.Options["product"], []string{"basic", "pro", "enterprise"}) || len(ev.Errors) != 1 || ev.Errors[0].Field != "amount" {
				t.Fatalf("region west and a bad amount: %+v", ev)
			}
			for _, values := range []map[string]any{{"colour": "red"}, {"margin": 1}, {"id": "x"}} {
				r := admin.Raw("POST", "/api/v1/forms/"+f.ID+"/evaluate", map[string]any{"values": values})
				if r.Status != 422 {
					t.Errorf("evaluating %v: %d %s", values, r.Status, r.Body)
				}
			}
			admin.Do("POST", "/api/v1/forms/"+f.ID+"/evaluate", map[string]any{"values": map[string]any{}, "extra": 1}, 400, nil)

			// The builder's draft, unsaved: checked as a save would, then
			// evaluated.
			draft := visitReport()
			var pv evaluation
			admin.Do("POST", "/api/v1/meta/form-preview", map[string]any{"form": draft, "values": map[string]any{"outcome": "lost"}}, 200, &pv)
			if !slices.Contains(pv.Visible, "lost_reason") {
				t.Fatalf("the preview of a draft: %+v", pv)
			}
			draft["sections"].([]any)[0].(map[string]any)["fields"].([]any)[3].(map[string]any)["show_when"] = `outcome == "lost" and colour`
			r := admin.Raw("POST", "/api/v1/meta/form-preview", map[string]any{"form": draft, "values": map[string]any{}})
			if r.Status != 422 || servertest.ProblemFields(t, r)["form.sections.0.fields.3.show_when"] != "unknown_field" {
				t.Fatalf("the preview of a draft with a bad rule: %d %s", r.Status, r.Body)
			}

			// Over a stored record: its values, with the draft's applied.
			var rec struct{ ID string }
			admin.Do("POST", "/api/v1/records/deal", map[string]any{"name": "Acme", "stage": "won"}, 201, &rec)
			var ev2 evaluation
			admin.Do("POST", "/api/v1/forms/"+f.ID+"/evaluate", map[string]any{"values": map[string]any{"outcome": "lost"}, "record_id": rec.ID}, 200, &ev2)
			if !slices.Contains(ev2.ReadOnly, "amount") || !slices.Contains(ev2.Visible, "lost_reason") {
				t.Fatalf("over a won deal: %+v", ev2)
			}
		})
	}
}

type problemOut struct {
	Status int
	Errors []struct{ Field, Code, Message string }
}

// TestSubmitRules: every rule kind holds on the server whichever way a
// record is written through the form — POST /forms/{id}/submit, PATCH
// …/submit/{id}, the records API with ?form= — with no browser in the
// way; the plain records API keeps only the entity's rules; a refused
// write leaves nothing behind.
func TestSubmitRules(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			dealEntity(admin)
			f := createForm(t, admin, visitReport())
			submit := "/api/v1/forms/" + f.ID + "/submit"
			viaRecords := "/api/v1/records/deal?form=" + f.ID
			count := func() int {
				var out struct{ Items []any }
				admin.Do("GET", "/api/v1/records/deal?limit=500", nil, 200, &out)
				return len(out.Items)
			}
			refused := func(method, path string, body map[string]any, field, code string) {
				t.Helper()
				before := count()
				r := admin.Raw(method, path, body)
				if r.Status != 422 {
					t.Fatalf("%s %s %v: %d %s", method, path, body, r.Status, r.Body)
				}
				if got := servertest.ProblemFields(t, r)[field]; got != code {
					t.Fatalf("%s %s %v: %s is %q, want %q: %s", method, path, body, field, got, code, r.Body)
				}
				if count() != before {
					t.Fatalf("%s %s %v: a refused write created a record", method, path, body)
				}
			}
			for _, path := range []string{submit, viaRecords} {
				// required, and require_when.
				refused("POST", path, map[string]any{"name": "A"}, "outcome", "required")
				refused("POST", path, map[string]any{"name": "A", "outcome": "follow_up"}, "next_visit", "required")
				// show_when: a hidden field's value is refused; a hidden
				// required field is not required.
				refused("POST", path, map[string]any{"name": "A", "outcome": "won", "lost_reason": "price"}, "lost_reason", "hidden")
				refused("POST", path, map[string]any{"name": "A", "outcome": "lost"}, "competitor", "required")
				// read_only: never written through the form.
				refused("POST", path, map[string]any{"name": "A", "outcome": "won", "source": "web"}, "source", "read_only")
				// options_when.
				refused("POST", path, map[string]any{"name": "A", "outcome": "won", "region": "east", "product": "enterprise"}, "product", "option")
				// Not on the form, owner included; unknown and system
				// fields as the pipeline refuses them.
				refused("POST", path, map[string]any{"name": "A", "outcome": "won", "margin": 1}, "margin", "not_on_form")
				refused("POST", path, map[string]any{"name": "A", "outcome": "won", "owner": "01a2312a-5858-7064-972c-3110d239b4a1"}, "owner", "not_on_form")
				refused("POST", path, map[string]any{"name": "A", "outcome": "won", "colour": "red"}, "colour", "unknown_field")
				refused("POST", path, map[string]any{"name": "A", "outcome": "won", "created_by": "x"}, "created_by", "read_only")
			}
			var won, lost, follow struct {
				ID, Stage, Source string
				Version           int64
				Amount            float64
				NextVisit         string `json:"next_visit"`
				LostReason        string `json:"lost_reason"`
				Competitor        string
				Product           string
			}
			admin.Do("POST", submit, map[string]any{"name": "Won", "outcome": "won", "amount": 100, "region": "east", "product": "pro"}, 201, &won)
			if won.Stage != "lead" {
				t.Fatalf("the form's default stage: %+v", won)
			}
			admin.Do("POST", viaRecords, map[string]any{"name": "Lost", "outcome": "lost", "lost_reason": "price", "competitor": "Rival"}, 201, &lost)
			admin.Do("POST", submit, map[string]any{"name": "Later", "outcome": "follow_up", "next_visit": "2027-01-05"}, 201, &follow)
			if lost.LostReason != "price" || follow.NextVisit != "2027-01-05" {
				t.Fatalf("accepted submissions: %+v %+v", lost, follow)
			}
			// The plain records API keeps the entity's own rules only.
			admin.Do("POST", "/api/v1/records/deal", map[string]any{"name": "Plain", "lost_reason": "n/a", "source": "import", "margin": 3}, 201, nil)

			// Updates: read_only_when holds on the record as it was and
			// as it would be; other fields still change.
			patch := "/api/v1/forms/" + f.ID + "/submit/" + won.ID
			admin.Do("PATCH", patch, map[string]any{"stage": "won"}, 200, &won)
			refused("PATCH", patch, map[string]any{"amount": 200}, "amount", "read_only")
			refused("PATCH", "/api/v1/records/deal/"+won.ID+"?form="+f.ID, map[string]any{"amount": 200}, "amount", "read_only")
			refused("PUT", "/api/v1/records/deal/"+won.ID+"?form="+f.ID, map[string]any{"name": "Won", "outcome": "won", "stage": "won", "amount": 300}, "amount", "read_only")
			admin.Do("PATCH", patch, map[string]any{"amount": 100, "name": "Won big"}, 200, &won) // the same amount: no change
			refused("PATCH", patch, map[string]any{"stage": "qualified", "amount": 5}, "amount", "read_only")
			refused("PATCH", patch, map[string]any{"outcome": "follow_up"}, "next_visit", "required")
			refused("PATCH", patch, map[string]any{"lost_reason": "x"}, "lost_reason", "hidden")
			admin.Do("PATCH", patch, map[string]any{"outcome": "follow_up", "next_visit": "2027-02-01"}, 200, &won)
			admin.Do("PATCH", "/api/v1/records/deal/"+won.ID, map[string]any{"amount": 999}, 200, &won) // without the form
			if won.Amount != 999 {
				t.Fatalf("the plain API's change: %+v", won)
			}
			// A form of another entity, or none at all.
			admin.Do("POST", "/api/v1/meta/entities", map[string]any{"name": "lead", "fields": []any{map[string]any{"name": "name", "type": "text"}}}, 201, nil)
			admin.Do("POST", "/api/v1/records/lead?form="+f.ID, map[string]any{"name": "x"}, 400, nil)
			admin.Do("POST", "/api/v1/records/deal?form=nope", map[string]any{"name": "x"}, 400, nil)

			// A rep fills the form under their own rights: a field their
			// role hides is unknown to them, on the form or not.
			admin.Do("PUT", "/api/v1/roles/sales_rep", map[string]any{"label": "Sales Rep", "entities": map[string]any{
				"deal": map[string]any{"create": true, "read": "owner == user.id", "update": "owner == user.id", "fields": map[string]any{"competitor": "hidden"}}}}, 200, nil)
			admin.Do("POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "password": servertest.AdminPassword, "roles": []string{"sales_rep"}}, 201, nil)
			rep := admin.As("rep@example.com", servertest.AdminPassword)
			var lostRep struct{ ID string }
			rep.Do("POST", submit, map[string]any{"name": "Rep's", "outcome": "lost", "lost_reason": "timing"}, 201, &lostRep)
			r := rep.Raw("POST", submit, map[string]any{"name": "Rep's", "outcome": "lost", "competitor": "Rival"})
			if r.Status != 422 || servertest.ProblemFields(t, r)["competitor"] != "unknown_field" {
				t.Fatalf("a hidden field through the form: %d %s", r.Status, r.Body)
			}
			rep.Do("PATCH", patch, map[string]any{"name": "not mine"}, 404, nil)

			// Events: each accepted submission is one create like any.
			var events int
			for _, ev := range allEvents(t, admin) {
				if ev.Type == "record.created" && ev.Entity == "deal" {
					events++
				}
			}
			if events != 5 {
				t.Fatalf("record.created events: %d, want 5", events)
			}
		})
	}
}

// TestFormsInUse: whoever works with an entity's records reads its forms
// as they may use them — without the fields their role hides and, unless
// they design forms, without the publication.
func TestFormsInUse(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			admin := start(t, open(t))
			dealEntity(admin)
			f := createForm(t, admin, visitReport())
			admin.Do("PUT", "/api/v1/roles/sales_rep", map[string]any{"label": "Sales Rep", "entities": map[string]any{
				"deal": map[string]any{"create": true, "read": "owner == user.id", "fields": map[string]any{"competitor": "hidden"}}}}, 200, nil)
			admin.Do("POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "password": servertest.AdminPassword, "roles": []string{"sales_rep"}}, 201, nil)
			admin.Do("POST", "/api/v1/users", map[string]any{"email": "ro@example.com", "password": servertest.AdminPassword, "roles": []string{"read_only"}}, 201, nil)
			admin.Do("PUT", "/api/v1/roles/read_only", map[string]any{"label": "Read-only", "entities": map[string]any{}}, 200, nil)
			rep := admin.As("rep@example.com", servertest.AdminPassword)
			var list struct {
				Items []struct {
					ID       string
					Publish  any
					Sections []struct{ Fields []struct{ Field string } }
				}
			}
			rep.Do("GET", "/api/v1/forms?entity=deal", nil, 200, &list)
			if len(list.Items) != 1 || list.Items[0].ID != f.ID || list.Items[0].Publish != nil {
				t.Fatalf("the rep's forms: %+v", list.Items)
			}
			for _, fd := range list.Items[0].Sections[0].Fields {
				if fd.Field == "competitor" {
					t.Fatal("a field the rep's role hides is on their form")
				}
			}
			rep.Do("GET", "/api/v1/forms/"+f.ID, nil, 200, nil)
			// The entity's chosen forms: the "new" dialog's and the record
			// page's.
			rep.Do("PUT", "/api/v1/meta/form-choices/deal", map[string]any{"new": f.ID}, 403, nil)
			r := admin.Raw("PUT", "/api/v1/meta/form-choices/deal", map[string]any{"new": f.ID, "record": "nope"})
			if r.Status != 422 || servertest.ProblemFields(t, r)["record"] != "unknown_form" {
				t.Fatalf("choosing an unknown form: %d %s", r.Status, r.Body)
			}
			admin.Do("PUT", "/api/v1/meta/form-choices/deal", map[string]any{"new": f.ID, "record": f.ID}, 200, nil)
			var chosen struct{ Chosen struct{ New, Record string } }
			rep.Do("GET", "/api/v1/forms?entity=deal", nil, 200, &chosen)
			if chosen.Chosen.New != f.ID || chosen.Chosen.Record != f.ID {
				t.Fatalf("the chosen forms: %+v", chosen)
			}
			ro := admin.As("ro@example.com", servertest.AdminPassword)
			ro.Do("GET", "/api/v1/forms/"+f.ID, nil, 404, nil)
			ro.Do("POST", "/api/v1/forms/"+f.ID+"/evaluate", map[string]any{"values": map[string]any{}}, 404, nil)
			rep.Do("GET", "/api/v1/meta/forms/"+f.ID, nil, 403, nil)
		})
	}
}
