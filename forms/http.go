package forms

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/server"
)

// Module serves the forms package's routes; cmd/jimu hands it to the
// server (server.Deps.Modules, and server.Deps.Forms for ?form= on the
// records API).
type Module struct {
	Views  *Views
	Forms  *Forms
	Public *Public
}

// NewModule builds the module over the engine's services.
func NewModule(d server.Deps) *Module {
	var roles *access.Roles
	if d.Access != nil {
		roles = d.Access.Roles
	}
	fs := NewForms(d.Store, d.Catalog, d.Records, roles, d.Auth)
	return &Module{Views: NewViews(d.Store, d.Catalog, d.Records), Forms: fs, Public: NewPublic(d.Store, d.Catalog, d.Records, fs, d.Log)}
}

var _ server.FormHooks = (*Module)(nil)

// WriteHook serves ?form={id} on the records API.
func (m *Module) WriteHook(ctx context.Context, p *identity.Principal, entity, form string) (records.Hook, error) {
	if m.Forms == nil {
		return nil, problem.BadRequest("form", "unsupported", "this server does not serve forms")
	}
	return m.Forms.WriteHook(ctx, p, entity, form)
}

// Routes mounts the saved views and the forms under /api/v1 (signed in)
// and the public form pages under /f.
func (m *Module) Routes(public, api fiber.Router) {
	if m.Views != nil {
		api.Get("/views", m.listViews)
		api.Post("/views", m.createView)
		api.Get("/views/:id", m.getView)
		api.Put("/views/:id", m.putView)
		api.Delete("/views/:id", m.deleteView)
	}
	if m.Forms != nil {
		m.formRoutes(api)
	}
	if m.Public != nil {
		m.Public.routes(public)
	}
}

func who(c *fiber.Ctx) *identity.Principal { return identity.From(c.UserContext()) }

func (m *Module) listViews(c *fiber.Ctx) error {
	vs, err := m.Views.List(c.UserContext(), who(c), c.Query("entity"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": vs})
}

func (m *Module) getView(c *fiber.Ctx) error {
	v, err := m.Views.Get(c.UserContext(), who(c), c.Params("id"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, strconv.Quote(strconv.FormatInt(v.Version, 10)))
	return c.JSON(v)
}

// viewInput is what a client sends; id, owner, version and times are the
// server's.
type viewInput struct {
	Entity     string          `json:"entity"`
	Name       json.RawMessage `json:"name"`
	Kind       string          `json:"kind"`
	Columns    []string        `json:"columns"`
	Sort       string          `json:"sort"`
	Filter     string          `json:"filter"`
	GroupBy    string          `json:"group_by"`
	SharedWith *Sharing        `json:"shared_with"`
}

func decodeView(c *fiber.Ctx) (*View, error) {
	var in viewInput
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, problem.BadRequest("body", "malformed_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return nil, problem.BadRequest("body", "trailing_data", "the body holds data after the JSON object")
	}
	v := &View{Entity: in.Entity, Kind: in.Kind, Columns: in.Columns, Sort: in.Sort, Filter: in.Filter,
		GroupBy: in.GroupBy, SharedWith: in.SharedWith}
	if len(in.Name) > 0 {
		if err := json.Unmarshal(in.Name, &v.Name); err != nil {
			return nil, problem.Invalid(problem.FieldError{Field: "name", Code: "type", Message: err.Error()})
		}
	}
	return v, nil
}

func (m *Module) createView(c *fiber.Ctx) error {
	in, err := decodeView(c)
	if err != nil {
		return err
	}
	v, err := m.Views.Save(c.UserContext(), who(c), in, 0)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(v)
}

func (m *Module) putView(c *fiber.Ctx) error {
	in, err := decodeView(c)
	if err != nil {
		return err
	}
	in.ID = c.Params("id")
	var expected int64
	if h := strings.Trim(strings.TrimPrefix(strings.TrimSpace(c.Get(fiber.HeaderIfMatch)), "W/"), `"`); h != "" && h != "*" {
		if expected, err = strconv.ParseInt(h, 10, 64); err != nil || expected < 1 {
			return problem.BadRequest("If-Match", "invalid", "If-Match must be a view version such as \"3\"")
		}
	}
	v, err := m.Views.Save(c.UserContext(), who(c), in, expected)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (m *Module) deleteView(c *fiber.Ctx) error {
	if err := m.Views.Delete(c.UserContext(), who(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
