package forms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/server"
)

func (m *Module) formRoutes(api fiber.Router) {
	// Form metadata: designers (admins, design_forms).
	api.Get("/meta/forms", m.listForms)
	api.Post("/meta/forms", m.createForm)
	api.Get("/meta/forms/:id", m.getForm)
	api.Put("/meta/forms/:id", m.putForm)
	api.Delete("/meta/forms/:id", m.deleteForm)
	api.Get("/meta/forms/:id/history", m.formHistory)
	api.Post("/meta/forms/:id/publish", m.publishForm)
	api.Delete("/meta/forms/:id/publish", m.unpublishForm)
	api.Get("/meta/forms/:id/embed", m.embedForm)
	api.Put("/meta/form-choices/:entity", m.chooseForms)
	api.Post("/meta/form-preview", m.previewForm)
	// Forms in use: whoever may work with the entity's records.
	api.Get("/forms", m.usableForms)
	api.Get("/forms/:id", m.usableForm)
	api.Post("/forms/:id/evaluate", m.evaluate)
	api.Post("/forms/:id/submit", m.submit)
	api.Patch("/forms/:id/submit/:record", m.resubmit)
}

// decodeJSON reads a body strictly into out after its shape passed the
// schema (publish: the publication's, else the form's), numbers exact.
func decodeJSON(c *fiber.Ctx, publish bool, out any) error {
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.Contains(ct, "json") {
		return &problem.Error{Status: http.StatusUnsupportedMediaType, Type: "about:blank", Title: "Unsupported media type",
			Detail: "send Content-Type: application/json"}
	}
	doc, err := server.DecodeObject(c.Body())
	if err != nil {
		return err
	}
	if err := validateShape(doc, publish); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return problem.BadRequest("body", "malformed_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func versionOf(c *fiber.Ctx) (int64, error) {
	h := strings.Trim(strings.TrimPrefix(strings.TrimSpace(c.Get(fiber.HeaderIfMatch)), "W/"), `"`)
	if h == "" || h == "*" {
		return 0, nil
	}
	n, err := strconv.ParseInt(h, 10, 64)
	if err != nil || n < 1 {
		return 0, problem.BadRequest("If-Match", "invalid", "If-Match must be a version such as \"3\"")
	}
	return n, nil
}

func sendForm(c *fiber.Ctx, status int, f *Form) error {
	c.Set(fiber.HeaderETag, strconv.Quote(strconv.FormatInt(f.Version, 10)))
	return c.Status(status).JSON(f)
}

func (m *Module) listForms(c *fiber.Ctx) error {
	if err := m.Forms.designer(c.UserContext(), who(c)); err != nil {
		return err
	}
	fs, err := m.Forms.List(c.UserContext(), c.Query("entity"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": fs})
}

func (m *Module) createForm(c *fiber.Ctx) error {
	if err := m.Forms.designer(c.UserContext(), who(c)); err != nil {
		return err
	}
	var in Form
	if err := decodeJSON(c, false, &in); err != nil {
		return err
	}
	in.ID = ""
	f, err := m.Forms.Save(c.UserContext(), who(c), &in, 0)
	if err != nil {
		return err
	}
	c.Location("/api/v1/meta/forms/" + f.ID)
	return sendForm(c, http.StatusCreated, f)
}

func (m *Module) getForm(c *fiber.Ctx) error {
	if err := m.Forms.designer(c.UserContext(), who(c)); err != nil {
		return err
	}
	f, err := m.Forms.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return sendForm(c, http.StatusOK, f)
}

func (m *Module) putForm(c *fiber.Ctx) error {
	if err := m.Forms.designer(c.UserContext(), who(c)); err != nil {
		return err
	}
	var in Form
	if err := decodeJSON(c, false, &in); err != nil {
		return err
	}
	expected, err := versionOf(c)
	if err != nil {
		return err
	}
	in.ID = c.Params("id")
	f, err := m.Forms.Save(c.UserContext(), who(c), &in, expected)
	if err != nil {
		return err
	}
	return sendForm(c, http.StatusOK, f)
}

func (m *Module) deleteForm(c *fiber.Ctx) error {
	if err := m.Forms.Delete(c.UserContext(), who(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (m *Module) formHistory(c *fiber.Ctx) error {
	h, err := m.Forms.History(c.UserContext(), who(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": h})
}

func (m *Module) publishForm(c *fiber.Ctx) error {
	if err := m.Forms.designer(c.UserContext(), who(c)); err != nil {
		return err
	}
	var pub Publication
	if err := decodeJSON(c, true, &pub); err != nil {
		return err
	}
	expected, err := versionOf(c)
	if err != nil {
		return err
	}
	f, err := m.Forms.Publish(c.UserContext(), who(c), c.Params("id"), &pub, expected)
	if err != nil {
		return err
	}
	return sendForm(c, http.StatusOK, f)
}

func (m *Module) unpublishForm(c *fiber.Ctx) error {
	f, err := m.Forms.Unpublish(c.UserContext(), who(c), c.Params("id"))
	if err != nil {
		return err
	}
	return sendForm(c, http.StatusOK, f)
}

// forUser is a form as one who fills it sees it: without the fields they
// may not see and, unless they design forms, without its publication.
func (m *Module) forUser(c *fiber.Ctx, p *identity.Principal, f *Form) *Form {
	e, err := m.Forms.cat.Get(f.Entity)
	if err != nil {
		return f
	}
	out := *f
	if !m.Forms.CanDesign(c.UserContext(), p) {
		out.Publish = nil
	}
	out.Sections = make([]*Section, len(f.Sections))
	for i, s := range f.Sections {
		ns := *s
		ns.Fields = nil
		for _, ff := range s.Fields {
			if e.Field(ff.Field) == nil {
				continue
			}
			if hidden, _ := m.Forms.rec.FieldAccess(p, e, ff.Field); !hidden {
				ns.Fields = append(ns.Fields, ff)
			}
		}
		if ns.Fields == nil {
			ns.Fields = []*FormField{}
		}
		out.Sections[i] = &ns
	}
	return &out
}

func (m *Module) usableForms(c *fiber.Ctx) error {
	ctx, p := c.UserContext(), who(c)
	all, err := m.Forms.List(ctx, c.Query("entity"))
	if err != nil {
		return err
	}
	items := []*Form{}
	for _, f := range all {
		if _, _, err := m.Forms.usable(ctx, p, f.ID); err == nil {
			items = append(items, m.forUser(c, p, f))
		}
	}
	out := fiber.Map{"items": items}
	if entity := c.Query("entity"); entity != "" {
		ch, err := m.Forms.Choice(ctx, entity)
		if err != nil {
			return err
		}
		out["chosen"] = fiber.Map{"new": ch.New, "record": ch.Record}
	}
	return c.JSON(out)
}

func (m *Module) usableForm(c *fiber.Ctx) error {
	p := who(c)
	f, _, err := m.Forms.usable(c.UserContext(), p, c.Params("id"))
	if err != nil {
		return err
	}
	return sendForm(c, http.StatusOK, m.forUser(c, p, f))
}

type evaluateBody struct {
	Values   map[string]any `json:"values"`
	RecordID string         `json:"record_id"`
}

func (m *Module) evaluate(c *fiber.Ctx) error {
	var in evaluateBody
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return problem.BadRequest("body", "malformed_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return problem.BadRequest("body", "trailing_data", "the body holds data after the JSON object")
	}
	start := time.Now()
	ev, err := m.Forms.Evaluate(c.UserContext(), who(c), c.Params("id"), in.Values, in.RecordID)
	if err != nil {
		return err
	}
	// The live preview's budget is the server's share of a keystroke's
	// round trip: say what it was.
	c.Set("Server-Timing", fmt.Sprintf("eval;dur=%.3f", float64(time.Since(start).Microseconds())/1000))
	return c.JSON(ev)
}

func (m *Module) submit(c *fiber.Ctx) error {
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.Contains(ct, "json") {
		return &problem.Error{Status: http.StatusUnsupportedMediaType, Type: "about:blank", Title: "Unsupported media type",
			Detail: "send Content-Type: application/json"}
	}
	body, err := server.DecodeObject(c.Body())
	if err != nil {
		return err
	}
	p := who(c)
	r, e, err := m.Forms.Submit(c.UserContext(), p, c.Params("id"), body)
	if err != nil {
		return err
	}
	c.Location("/api/v1/records/" + e.Name + "/" + r.ID)
	c.Set(fiber.HeaderETag, strconv.Quote(strconv.FormatInt(r.Version, 10)))
	return c.Status(http.StatusCreated).JSON(m.Forms.rec.Render(p, e, r, nil))
}

func (m *Module) resubmit(c *fiber.Ctx) error {
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.Contains(ct, "json") {
		return &problem.Error{Status: http.StatusUnsupportedMediaType, Type: "about:blank", Title: "Unsupported media type",
			Detail: "send Content-Type: application/json"}
	}
	body, err := server.DecodeObject(c.Body())
	if err != nil {
		return err
	}
	expected, err := versionOf(c)
	if err != nil {
		return err
	}
	p := who(c)
	r, e, err := m.Forms.Resubmit(c.UserContext(), p, c.Params("id"), c.Params("record"), body, expected)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, strconv.Quote(strconv.FormatInt(r.Version, 10)))
	return c.JSON(m.Forms.rec.Render(p, e, r, nil))
}

type choiceBody struct {
	New    string `json:"new"`
	Record string `json:"record"`
}

// chooseForms: PUT /api/v1/meta/form-choices/{entity} {"new": id, "record": id}.
func (m *Module) chooseForms(c *fiber.Ctx) error {
	var in choiceBody
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return problem.BadRequest("body", "malformed_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	ch, err := m.Forms.Choose(c.UserContext(), who(c), c.Params("entity"), Choice{New: in.New, Record: in.Record})
	if err != nil {
		return err
	}
	return c.JSON(ch)
}

// previewForm: POST /api/v1/meta/form-preview {"form": {…}, "values": {…}}
// — the builder's draft checked as a save would check it (422 naming each
// problem by its path under "form.") and its rules run over the values.
func (m *Module) previewForm(c *fiber.Ctx) error {
	if err := m.Forms.designer(c.UserContext(), who(c)); err != nil {
		return err
	}
	var in struct {
		Form   json.RawMessage `json:"form"`
		Values map[string]any  `json:"values"`
	}
	dec := json.NewDecoder(bytes.NewReader(c.Body()))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return problem.BadRequest("body", "malformed_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	doc, err := server.DecodeObject(in.Form)
	if err == nil {
		err = validateShape(doc, false)
	}
	var f Form
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(in.Form))
		dec.UseNumber()
		if derr := dec.Decode(&f); derr != nil {
			err = problem.BadRequest("form", "malformed_json", "%s", strings.TrimPrefix(derr.Error(), "json: "))
		}
	}
	if err == nil {
		var ev *Evaluation
		if ev, err = m.Forms.Preview(c.UserContext(), who(c), &f, in.Values); err == nil {
			return c.JSON(ev)
		}
	}
	var pe *problem.Error
	if errors.As(err, &pe) {
		out := *pe
		out.Errors = make([]problem.FieldError, len(pe.Errors))
		for i, fe := range pe.Errors {
			if !strings.HasPrefix(fe.Field, "values.") {
				fe.Field = strings.TrimSuffix("form."+fe.Field, ".")
			}
			out.Errors[i] = fe
		}
		return &out
	}
	return err
}
