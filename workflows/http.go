package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/workflows/notifications"
)

// Module serves the workflow routes; cmd/jimu hands it to the server.
type Module struct {
	Service *Service
}

// Routes mounts the rules (admins) under /api/v1/meta/workflows, the run
// log under /api/v1/workflows/runs, the manual triggers and the
// notifications for everyone signed in, and inbound webhooks at
// /hooks/{secret} (no sign-in: the secret is the credential).
func (m *Module) Routes(public, api fiber.Router) {
	admin := func(h fiber.Handler) fiber.Handler {
		return func(c *fiber.Ctx) error {
			if !who(c).IsAdmin() {
				return problem.New(http.StatusForbidden, "this needs the admin role")
			}
			return h(c)
		}
	}
	api.Get("/meta/workflows", admin(m.list))
	api.Post("/meta/workflows", admin(m.create))
	api.Get("/meta/workflows/schema", admin(m.schema))
	api.Get("/meta/workflows/actions", admin(m.actions))
	api.Post("/meta/workflows/test", admin(m.testDraft))
	api.Post("/meta/workflows/matches", admin(m.matches))
	api.Post("/meta/workflows/check", admin(m.check))
	api.Get("/meta/workflows/:id", admin(m.get))
	api.Put("/meta/workflows/:id", admin(m.replace))
	api.Patch("/meta/workflows/:id", admin(m.patch))
	api.Delete("/meta/workflows/:id", admin(m.remove))
	api.Get("/meta/workflows/:id/history", admin(m.history))
	api.Post("/meta/workflows/:id/test", admin(m.test))
	api.Get("/meta/workflows/:id/preview", admin(m.preview))
	api.Post("/meta/workflows/:id/webhook/rotate", admin(m.rotate))

	api.Get("/workflows/status", admin(m.status))
	api.Get("/workflows/runs", m.runs)
	api.Get("/workflows/runs/:id", admin(m.run))
	api.Post("/workflows/runs/:id/retry", admin(m.retry))
	api.Get("/workflows/manual", m.manualRules)
	api.Post("/workflows/:id/run", m.manual)

	api.Get("/notifications", m.notifications)
	api.Post("/notifications/read-all", m.readAll)
	api.Post("/notifications/:id/read", m.read)

	public.Post("/hooks/:secret", m.inbound)
}

func who(c *fiber.Ctx) *identity.Principal { return identity.From(c.UserContext()) }

func expected(c *fiber.Ctx) (int64, error) {
	h := strings.Trim(strings.TrimPrefix(strings.TrimSpace(c.Get(fiber.HeaderIfMatch)), "W/"), `"`)
	if h == "" || h == "*" {
		return 0, nil
	}
	n, err := strconv.ParseInt(h, 10, 64)
	if err != nil || n < 1 {
		return 0, problem.BadRequest("If-Match", "invalid", "If-Match must be a workflow version such as \"3\"")
	}
	return n, nil
}

func jsonBody(c *fiber.Ctx) ([]byte, error) {
	b := c.Body()
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, problem.BadRequest("body", "empty", "the request body must be a JSON object")
	}
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.Contains(ct, "json") {
		return nil, &problem.Error{Status: http.StatusUnsupportedMediaType, Type: "about:blank", Title: "Unsupported media type",
			Detail: "send Content-Type: application/json"}
	}
	return b, nil
}

// decodeStrict reads a JSON object into v, refusing unknown keys.
func decodeStrict(c *fiber.Ctx, v any) error {
	b, err := jsonBody(c)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return problem.BadRequest("body", "malformed_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return problem.BadRequest("body", "trailing_data", "the body holds data after the JSON object")
	}
	return nil
}

// ruleView is a rule as the API shows it: secrets masked.
func ruleView(c *fiber.Ctx, r *Rule) error {
	c.Set(fiber.HeaderETag, strconv.Quote(strconv.FormatInt(r.Version, 10)))
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(maskedRule(r))
}

func (m *Module) list(c *fiber.Ctx) error {
	rules, err := m.Service.List(c.UserContext())
	if err != nil {
		return err
	}
	items := make([]json.RawMessage, 0, len(rules))
	for _, r := range rules {
		if e := c.Query("entity"); e != "" && r.Entity != e {
			continue
		}
		items = append(items, maskedRule(r))
	}
	return c.JSON(fiber.Map{"items": items})
}

func (m *Module) schema(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/schema+json")
	return c.Send(Schema())
}

func (m *Module) actions(c *fiber.Ctx) error { return c.JSON(fiber.Map{"items": actionTypes()}) }

func (m *Module) create(c *fiber.Ctx) error {
	b, err := jsonBody(c)
	if err != nil {
		return err
	}
	r, err := m.Service.Save(c.UserContext(), who(c), "", b, 0)
	if err != nil {
		return err
	}
	c.Location("/api/v1/meta/workflows/" + r.ID)
	c.Status(http.StatusCreated)
	return ruleView(c, r)
}

func (m *Module) get(c *fiber.Ctx) error {
	r, err := m.Service.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return ruleView(c, r)
}

func (m *Module) replace(c *fiber.Ctx) error {
	b, err := jsonBody(c)
	if err != nil {
		return err
	}
	exp, err := expected(c)
	if err != nil {
		return err
	}
	r, err := m.Service.Save(c.UserContext(), who(c), c.Params("id"), b, exp)
	if err != nil {
		return err
	}
	return ruleView(c, r)
}

func (m *Module) patch(c *fiber.Ctx) error {
	b, err := jsonBody(c)
	if err != nil {
		return err
	}
	exp, err := expected(c)
	if err != nil {
		return err
	}
	r, err := m.Service.Patch(c.UserContext(), who(c), c.Params("id"), b, exp)
	if err != nil {
		return err
	}
	return ruleView(c, r)
}

func (m *Module) remove(c *fiber.Ctx) error {
	if err := m.Service.Delete(c.UserContext(), who(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (m *Module) history(c *fiber.Ctx) error {
	rs, err := m.Service.History(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	items := make([]json.RawMessage, len(rs))
	for i, r := range rs {
		items[i] = maskedRule(r)
	}
	return c.JSON(fiber.Map{"items": items})
}

func (m *Module) test(c *fiber.Ctx) error {
	var req TestRequest
	if err := decodeStrict(c, &req); err != nil {
		return err
	}
	if len(req.Rule) > 0 {
		return problem.BadRequest("rule", "unexpected", "a saved workflow is tested as saved; POST /api/v1/meta/workflows/test tests a draft")
	}
	res, err := m.Service.Test(c.UserContext(), who(c), c.Params("id"), plain(req))
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (m *Module) testDraft(c *fiber.Ctx) error {
	var req TestRequest
	if err := decodeStrict(c, &req); err != nil {
		return err
	}
	res, err := m.Service.Test(c.UserContext(), who(c), "", plain(req))
	if err != nil {
		return err
	}
	return c.JSON(res)
}

// plain turns the numbers a strict decode kept exact into the numbers
// records hold.
func plain(req TestRequest) TestRequest {
	req.Record = store.PlainNumbers(req.Record, nil)
	req.Old = store.PlainNumbers(req.Old, nil)
	if m, ok := req.Payload.(map[string]any); ok {
		req.Payload = store.PlainNumbers(m, nil)
	}
	return req
}

func (m *Module) matches(c *fiber.Ctx) error {
	var req struct {
		Entity    string `json:"entity"`
		Condition string `json:"condition"`
	}
	if err := decodeStrict(c, &req); err != nil {
		return err
	}
	res, err := m.Service.Matches(c.UserContext(), who(c), req.Entity, req.Condition)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

// check: POST /api/v1/meta/workflows/check {"entity","trigger","condition"}
// answers like /api/v1/expressions/check, for a rule's condition: the
// editor's live check, through the compiler a save uses (old values on
// updates, payload on webhooks, store filters on schedules and dates).
func (m *Module) check(c *fiber.Ctx) error {
	var req struct {
		Entity    string  `json:"entity"`
		Trigger   Trigger `json:"trigger"`
		Condition string  `json:"condition"`
	}
	if err := decodeStrict(c, &req); err != nil {
		return err
	}
	fe, err := m.Service.CheckCondition(req.Entity, req.Trigger.Type, req.Condition)
	if err != nil {
		return err
	}
	if fe == nil {
		return c.JSON(fiber.Map{"ok": true})
	}
	bad := fiber.Map{"message": fe.Message, "code": fe.Code}
	if fe.Position != nil {
		bad["line"], bad["column"], bad["offset"] = fe.Position.Line, fe.Position.Column, fe.Position.Offset
	}
	return c.JSON(fiber.Map{"ok": false, "error": bad})
}

func (m *Module) preview(c *fiber.Ctx) error {
	days := 7
	if q := c.Query("days"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil {
			return problem.BadRequest("days", "type", "days must be a whole number")
		}
		days = n
	}
	p, err := m.Service.Preview(c.UserContext(), c.Params("id"), days)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (m *Module) rotate(c *fiber.Ctx) error {
	url, err := m.Service.RotateHook(c.UserContext(), who(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"webhook": url, "note": "the previous URL no longer works"})
}

// runView is a run as the log shows it: its effective status (a run past
// its lease is queued, not running).
func runView(r *Run, now time.Time) fiber.Map {
	status, why := r.effective(now)
	b, _ := json.Marshal(r)
	var m fiber.Map
	_ = json.Unmarshal(b, &m)
	m["status"] = status
	if why != "" {
		m["note"] = why
	}
	return m
}

// summary is a run as someone who is not an admin sees it on a record
// page: what ran and how it ended, not the values it read and wrote.
func summary(r *Run, now time.Time) fiber.Map {
	status, _ := r.effective(now)
	m := fiber.Map{"id": r.ID, "workflow": r.Workflow, "workflow_name": r.Name, "workflow_version": r.Version,
		"trigger": r.Trigger, "status": status, "created_at": r.CreatedAt, "finished_at": r.FinishedAt}
	steps := make([]fiber.Map, len(r.Steps))
	for i, st := range r.Steps {
		steps[i] = fiber.Map{"index": st.Index, "type": st.Type, "name": st.Name, "status": st.Status}
	}
	m["steps"] = steps
	return m
}

// runs: GET /api/v1/workflows/runs?workflow=&status=&entity=&record=&touched=&before=&limit=
// — admins read the whole log; anyone may read the runs of a record they
// may read (entity and record), as summaries.
func (m *Module) runs(c *fiber.Ctx) error {
	p := who(c)
	f := RunFilter{Workflow: c.Query("workflow"), Status: c.Query("status"), Entity: c.Query("entity"),
		RecordID: c.Query("record"), Touched: c.Query("touched"), Before: c.Query("before")}
	if f.Status != "" && !validStatus(f.Status) {
		return problem.BadRequest("status", "enum", "status is one of %s", statusList())
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			return problem.BadRequest("limit", "range", "limit must be between 1 and 200")
		}
		f.Limit = n
	}
	ctx := c.UserContext()
	if !p.IsAdmin() {
		if f.Entity == "" || f.RecordID == "" {
			return problem.New(http.StatusForbidden, "the run log is for admins; others read the runs of a record they may see (entity and record)")
		}
		if err := m.Service.recs.Check(ctx, p, f.Entity, f.RecordID, records.OpRead); err != nil {
			return err
		}
		// The runs that ran for it or changed it.
		f.Touched, f.RecordID, f.Entity = f.Entity+":"+f.RecordID, "", ""
	}
	runs, next, err := m.Service.Runs(ctx, f)
	if err != nil {
		return err
	}
	now := m.Service.now()
	items := make([]fiber.Map, len(runs))
	for i, r := range runs {
		if p.IsAdmin() {
			items[i] = runView(r, now)
		} else {
			items[i] = summary(r, now)
		}
	}
	out := fiber.Map{"items": items}
	if next != "" {
		out["next_before"] = next
	}
	return c.JSON(out)
}

func (m *Module) status(c *fiber.Ctx) error {
	st, err := m.Service.State(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(st)
}

func (m *Module) run(c *fiber.Ctx) error {
	r, err := m.Service.getRun(c.UserContext(), c.Params("id"))
	if errors.Is(err, store.ErrNotFound) {
		return problem.NotFound("no run %s", c.Params("id"))
	}
	if err != nil {
		return err
	}
	return c.JSON(runView(r, m.Service.now()))
}

func (m *Module) retry(c *fiber.Ctx) error {
	ans, err := m.Service.Retry(c.UserContext(), who(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(ans)
}

func (m *Module) manualRules(c *fiber.Ctx) error {
	rs, err := m.Service.ManualRules(c.UserContext(), who(c), c.Query("entity"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": rs})
}

func (m *Module) manual(c *fiber.Ctx) error {
	var req ManualRequest
	if err := decodeStrict(c, &req); err != nil {
		return err
	}
	runs, err := m.Service.Manual(c.UserContext(), who(c), c.Params("id"), req)
	if err != nil {
		return err
	}
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"runs": ids, "count": len(ids)})
}

func (m *Module) inbound(c *fiber.Ctx) error {
	b := c.Body()
	if len(b) > MaxPayload {
		return problem.New(http.StatusRequestEntityTooLarge, "a webhook body is at most %d KiB", MaxPayload>>10)
	}
	var payload any
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&payload); err != nil || dec.More() {
			return problem.BadRequest("body", "malformed_json", "the body must be one JSON value")
		}
		if mp, ok := payload.(map[string]any); ok {
			payload = store.PlainNumbers(mp, nil)
		}
	}
	run, err := m.Service.Inbound(c.UserContext(), c.Params("secret"), payload)
	if err != nil {
		return err
	}
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"run": run.ID})
}

func (m *Module) notifications(c *fiber.Ctx) error {
	limit := 0
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			return problem.BadRequest("limit", "range", "limit must be between 1 and 100")
		}
		limit = n
	}
	page, err := m.Service.notes.List(c.UserContext(), who(c).UserID, c.Query("unread") == "true", c.Query("before"), limit)
	if err != nil {
		return err
	}
	return c.JSON(page)
}

func (m *Module) read(c *fiber.Ctx) error {
	n, err := m.Service.notes.MarkRead(c.UserContext(), who(c).UserID, c.Params("id"))
	if errors.Is(err, notifications.ErrNotFound) {
		return problem.NotFound("no notification %s", c.Params("id"))
	}
	if err != nil {
		return err
	}
	return c.JSON(n)
}

func (m *Module) readAll(c *fiber.Ctx) error {
	n, err := m.Service.notes.MarkAllRead(c.UserContext(), who(c).UserID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"marked": n})
}
