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
