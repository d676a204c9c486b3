package server_test

import (
	"context"
	"testing"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/server"
)

// oneForm is a FormHooks that knows the form "strict": no stage "lost".
type oneForm struct{}

func (oneForm) WriteHook(_ context.Context, _ *identity.Principal, entity, form string) (records.Hook, error) {
	if form != "strict" {
		return nil, problem.BadRequest("form", "unknown_form", "no form %q", form)
	}
	return func(_ context.Context, w *records.Write) error {
		if w.New.Data["stage"] == "lost" {
			return problem.Invalid(problem.FieldError{Field: "stage", Code: "option", Message: "not on this form"})
		}
		return nil
	}, nil
}

// TestFormParam: ?form= on the records API hands the write to the forms
// module's check; without a forms module it is refused, not ignored.
func TestFormParam(t *testing.T) {
	bare := start(t)
	bare.do("POST", "/api/v1/meta/entities", dealEntity, 201, nil)
	bare.do("POST", "/api/v1/records/deal?form=strict", map[string]any{"name": "A"}, 400, nil)

	e, _ := startServer(t, stores["sqlite"](t), auth.Options{}, func(d *server.Deps) { d.Forms = oneForm{} })
	e.do("POST", "/api/v1/meta/entities", dealEntity, 201, nil)
	var r struct{ ID string }
	e.do("POST", "/api/v1/records/deal?form=strict", map[string]any{"name": "A", "stage": "won"}, 201, &r)
	e.do("POST", "/api/v1/records/deal?form=strict", map[string]any{"name": "B", "stage": "lost"}, 422, nil)
	e.do("POST", "/api/v1/records/deal?form=other", map[string]any{"name": "B"}, 400, nil)
	e.do("PATCH", "/api/v1/records/deal/"+r.ID+"?form=strict", map[string]any{"stage": "lost"}, 422, nil)
	e.do("PUT", "/api/v1/records/deal/"+r.ID+"?form=strict", map[string]any{"name": "A", "stage": "lost"}, 422, nil)
	e.do("PATCH", "/api/v1/records/deal/"+r.ID, map[string]any{"stage": "lost"}, 200, nil)
}

// TestDesignersAddFields: a role with design_forms may add a field to an
// entity it may use (the form builder creates fields as it builds) and
// read the field types; changing or deleting fields, and entities it may
// not use, stay closed to it.
func TestDesignersAddFields(t *testing.T) {
	e := start(t)
	e.do("POST", "/api/v1/meta/entities", dealEntity, 201, nil)
	e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "secret", "fields": []any{map[string]any{"name": "name", "type": "text"}}}, 201, nil)
	e.do("PUT", "/api/v1/roles/designer", map[string]any{"label": "Designer", "permissions": []string{"design_forms"},
		"entities": map[string]any{"deal": map[string]any{"read": true}}}, 200, nil)
	e.do("POST", "/api/v1/users", map[string]any{"email": "designer@example.com", "password": adminPass, "roles": []string{"designer"}}, 201, nil)
	e.do("POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "password": adminPass, "roles": []string{"sales_rep"}}, 201, nil)
	d := e.as("designer@example.com")
	rep := e.as("rep@example.com")
	d.do("GET", "/api/v1/meta/field-types", nil, 200, nil)
	d.do("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "visit_notes", "type": "long_text"}, 201, nil)
	d.do("POST", "/api/v1/meta/entities/secret/fields", map[string]any{"name": "x", "type": "text"}, 403, nil)
	d.do("PATCH", "/api/v1/meta/entities/deal/fields/visit_notes", map[string]any{"type": "text"}, 403, nil)
	d.do("DELETE", "/api/v1/meta/entities/deal/fields/visit_notes", nil, 403, nil)
	d.do("GET", "/api/v1/meta/entities/deal", nil, 403, nil)
	rep.do("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "y", "type": "text"}, 403, nil)
	rep.do("GET", "/api/v1/meta/field-types", nil, 403, nil)
	e.do("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "z", "type": "text"}, 201, nil)
}
