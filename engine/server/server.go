// Package server is Jimu's HTTP API on Fiber: authentication, the metadata
// API, the generic records API, the audit log and the OpenAPI document. It
// decodes and encodes; every decision is the services' (catalog, records,
// auth).
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/activity"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// BodyLimit is the largest request body accepted.
const BodyLimit = 1 << 20

// HeaderLimit is the largest request line and headers accepted (fasthttp's
// read buffer). A filter longer than a URL holds goes in the body of POST
// …/query.
const HeaderLimit = 4096

// Deps are the services the server exposes.
type Deps struct {
	Store   store.Store
	Catalog *catalog.Catalog
	Records *records.Service
	Auth    *auth.Service
	Access  *access.Policy // nil: no roles (tests of the kernel alone)
	// Activities are the notes, tasks and logged calls that hang on records.
	Activities *activity.Service
	Log        *slog.Logger
	Version    string
	// HSTS sends Strict-Transport-Security on every answer: set it when
	// Jimu is reached only over TLS (--secure-cookies says so).
	HSTS bool
	// Modules add their routes (forms, workflows, dashboards).
	Modules []Module
	// Forms turns ?form={id} on the records API into a write through that
	// form (nil: refused). The forms module implements it.
	Forms FormHooks
	// UI is the workspace app served at / (app.go); nil serves none.
	UI fs.FS
}

// FormHooks gives the records API the check of a write through a form:
// the engine serves ?form={id} without importing the forms module.
type FormHooks interface {
	// WriteHook returns the hook that holds a write of entity to the
	// form's rules for p, or the error to answer (an unknown form, a form
	// of another entity).
	WriteHook(ctx context.Context, p *identity.Principal, entity, form string) (records.Hook, error)
}

// Module is a feature that serves HTTP routes: public ones, answered
// without sign-in, and API ones under /api/v1 behind authentication. The
// engine never imports the modules; cmd/jimu passes them in.
type Module interface {
	Routes(public, api fiber.Router)
}

// Server is the HTTP API.
type Server struct {
	Deps
	app     *fiber.App
	refused refusals
}

// New builds the routes.
func New(d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &Server{Deps: d}
	s.app = fiber.New(fiber.Config{
		AppName: "jimu",
		// Fiber's strings point into reused request buffers unless
		// Immutable: a role or entity name kept past the request (a cache
		// key) would change under us.
		Immutable:             true,
		BodyLimit:             BodyLimit,
		ReadBufferSize:        HeaderLimit,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
		JSONEncoder:           json.Marshal,
		JSONDecoder:           json.Unmarshal,
	})
	s.routes()
	return s
}

// App returns the Fiber app (tests use App().Test).
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(drainListener{ln}) }

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

func (s *Server) routes() {
	a := s.app
	a.Use(requestID, s.logRequests, s.recoverPanics, s.secureHeaders)
	a.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	a.Get("/readyz", s.ready)

	v1 := a.Group("/api/v1")
	v1.Post("/auth/login", s.login)
	v1.Post("/auth/login/totp", s.loginTOTP)
	v1.Post("/setup", s.setup)

	api := v1.Group("", s.authenticate)
	api.Post("/auth/logout", s.logout)
	api.Get("/auth/me", s.me)
	api.Patch("/auth/me", s.updateMe)
	api.Get("/auth/tokens", s.listTokens)
	api.Post("/auth/tokens", s.createToken)
	api.Delete("/auth/tokens/:id", s.revokeToken)
	api.Get("/auth/totp", s.totpStatus)
	api.Post("/auth/totp/setup", s.totpSetup)
	api.Post("/auth/totp/enable", s.totpEnable)
	api.Post("/auth/totp/disable", s.totpDisable)
	api.Post("/auth/password", s.changePassword)

	api.Get("/openapi.json", s.openAPI)
	api.Get("/entities", s.listMyEntities)
	api.Get("/entities/:entity", s.getMyEntity)
	api.Post("/expressions/check", s.checkExpression)
	api.Get("/search", s.search)
	api.Get("/activities/:kind/:id", s.getActivity)
	api.Patch("/activities/:kind/:id", s.changeActivity)
	api.Delete("/activities/:kind/:id", s.removeActivity)
	api.Get("/tasks/mine", s.myTasks)
	api.Get("/people", s.people)
	api.Get("/recent", s.recent)
	api.Post("/recent", s.noteRecent)

	// Not api.Group("", requireAdmin): a Fiber group's handlers become
	// middleware on its whole prefix, which would make every /api/v1 route
	// admin-only.
	admin := adminOnly{api}
	api.Get("/audit", s.listAudit)
	s.accessRoutes(api, admin)
	admin.Delete("/users/:id/totp", s.resetTOTP)
	admin.Post("/users/:id/password", s.resetPassword)

	meta := adminOnly{api.Group("/meta")}
	// The form builder adds fields as it builds: its designers may too.
	api.Get("/meta/field-types", s.requireDesigner, s.fieldTypes)
	meta.Get("/entities", s.listEntities)
	meta.Post("/entities", s.createEntity)
	meta.Get("/entities/:entity", s.getEntity)
	meta.Put("/entities/:entity", s.replaceEntity)
	meta.Delete("/entities/:entity", s.deleteEntity)
	meta.Get("/entities/:entity/history", s.entityHistory)
	api.Post("/meta/entities/:entity/fields", s.requireDesigner, s.addField)
	meta.Get("/entities/:entity/fields/:field", s.getField)
	meta.Put("/entities/:entity/fields/:field", s.updateField)
	meta.Patch("/entities/:entity/fields/:field", s.patchField)
	meta.Delete("/entities/:entity/fields/:field", s.deleteField)
	meta.Post("/entities/:entity/fields/:field/purge", s.purgeField)
	// The schema is the public contract of an entity: any signed-in user
	// (and integration) may read it.
	api.Get("/meta/entities/:entity/schema", s.entitySchema)

	rec := api.Group("/records/:entity")
	rec.Get("", s.listRecords)
	rec.Get("/aggregate", s.aggregateRecords)
	rec.Post("/query", s.queryRecords)
	rec.Get("/board", s.board)
	rec.Post("/bulk", s.bulk)
	rec.Get("/:id/timeline", s.timeline)
	rec.Post("/:id/activities/:kind", s.addActivity)
	rec.Post("", s.createRecord)
	rec.Get("/:id", s.getRecord)
	rec.Patch("/:id", s.patchRecord)
	rec.Put("/:id", s.putRecord)
	rec.Delete("/:id", s.deleteRecord)

	for _, m := range s.Modules {
		m.Routes(a, api)
	}
	s.appRoutes()

	a.Use(func(c *fiber.Ctx) error {
		return problem.NotFound("no route for %s %s", c.Method(), c.Path())
	})
}

func (s *Server) ready(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "error": "store not reachable"})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

func (s *Server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	status := c.Response().StatusCode()
	if err != nil {
		var pe *problem.Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &pe):
			status = pe.Status
		case errors.As(err, &fe):
			status = fe.Code
		default:
			status = 500
		}
	}
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	} else if status >= 400 {
		level = slog.LevelInfo
	}
	s.Log.Log(c.UserContext(), level, "http", "method", c.Method(), "path", c.Path(), "status", status,
		"dur_ms", float64(time.Since(start).Microseconds())/1000, "ip", c.IP(), "request_id", reqID(c))
	return err
}

// errorHandler writes every error as application/problem+json. Errors that
// are not problem.Errors are logged and answered with a bare 500, so no
// internal detail leaks.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var pe *problem.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &fe):
		pe = problem.New(fe.Code, "%s", fe.Message)
		if fe.Code == http.StatusRequestEntityTooLarge {
			pe.Detail = "request body is larger than " + strconv.Itoa(BodyLimit) + " bytes"
			markDrain(c.Context().Conn())
		}
		if fe.Code == http.StatusRequestHeaderFieldsTooLarge {
			pe.Detail = "the URL and headers are larger than " + strconv.Itoa(HeaderLimit) +
				" bytes; send a long filter in the body of POST /api/v1/records/{entity}/query"
			// The rest of the request is unread, as after a 413.
			markDrain(c.Context().Conn())
		}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		pe = problem.New(http.StatusServiceUnavailable, "the request was cancelled or timed out")
	default:
		s.Log.Error("internal error", "request_id", reqID(c), "method", c.Method(), "path", c.Path(), "err", err)
		pe = problem.New(http.StatusInternalServerError, "internal error")
	}
	b, _ := json.Marshal(pe)
	if pe.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(pe.RetryAfter))
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(pe.Status).Send(b)
}

// --- authentication ---

func principal(c *fiber.Ctx) *identity.Principal {
	p, _ := c.Locals("principal").(*identity.Principal)
	return p
}

// authenticate establishes the principal: from Authorization: Bearer, or
// without that header from the browser session cookie, when cookie
// requests with unsafe methods must also pass the CSRF checks (session.go).
// Then the token's restrictions apply: read-only tokens only read,
// sessions restricted to setting up a second factor reach only that.
func (s *Server) authenticate(c *fiber.Ctx) error {
	var (
		p   *identity.Principal
		err error
	)
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="jimu"`)
			return problem.New(http.StatusUnauthorized, "sign in: send Authorization: Bearer <token>")
		}
		p, err = s.Auth.Authenticate(c.UserContext(), strings.TrimSpace(token), c.IP())
		if err != nil {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="jimu", error="invalid_token"`)
			if errors.Is(err, auth.ErrUnauthenticated) {
				s.auditRefusal(c.UserContext(), "", c.IP(), "auth.token_rejected", map[string]any{"path": c.Path()})
				return problem.New(http.StatusUnauthorized, "the token is unknown, expired or revoked")
			}
			return err
		}
	} else if session := c.Cookies(SessionCookie); session != "" {
		p, err = s.Auth.Authenticate(c.UserContext(), session, c.IP())
		if err != nil {
			if errors.Is(err, auth.ErrUnauthenticated) {
				s.auditRefusal(c.UserContext(), "", c.IP(), "auth.session_rejected", map[string]any{"path": c.Path()})
				s.clearSessionCookies(c)
				return problem.New(http.StatusUnauthorized, "the session has ended (signed out, idle too long or expired): sign in again")
			}
			return err
		}
		if err := s.checkCSRF(c, p, session); err != nil {
			return err
		}
		c.Locals(localCookie, true)
	} else {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="jimu"`)
		return problem.New(http.StatusUnauthorized, "sign in: send Authorization: Bearer <token>")
	}
	if err := guard(c, p); err != nil {
		return err
	}
	c.Locals("principal", p)
	c.SetUserContext(identity.With(c.UserContext(), p))
	return c.Next()
}

// adminOnly registers routes that need the admin role.
type adminOnly struct{ r fiber.Router }

func (a adminOnly) Get(path string, h fiber.Handler)    { a.r.Get(path, requireAdmin, h) }
func (a adminOnly) Post(path string, h fiber.Handler)   { a.r.Post(path, requireAdmin, h) }
func (a adminOnly) Put(path string, h fiber.Handler)    { a.r.Put(path, requireAdmin, h) }
func (a adminOnly) Patch(path string, h fiber.Handler)  { a.r.Patch(path, requireAdmin, h) }
func (a adminOnly) Delete(path string, h fiber.Handler) { a.r.Delete(path, requireAdmin, h) }

func requireAdmin(c *fiber.Ctx) error {
	if !principal(c).IsAdmin() {
		return problem.New(http.StatusForbidden, "this needs the admin role")
	}
	return c.Next()
}

// requireDesigner lets through admins and the holders of a role with the
// design_forms permission, for an entity they may use: the form builder
// creates new fields from inside the builder through the entity
// designer's API. Changing or deleting fields stays the admins'.
func (s *Server) requireDesigner(c *fiber.Ctx) error {
	p := principal(c)
	if p.IsAdmin() {
		return c.Next()
	}
	if s.Access == nil || !s.Access.Roles.Grants(c.UserContext(), p.Roles, access.DesignForms) {
		return problem.New(http.StatusForbidden, "this needs the admin role or the %s permission", access.DesignForms)
	}
	if name := c.Params("entity"); name != "" {
		e, err := s.Catalog.Get(name)
		if err != nil {
			return err
		}
		if !s.Records.Permits(c.UserContext(), p, e, records.OpRead) && !s.Records.Permits(c.UserContext(), p, e, records.OpCreate) {
			return problem.New(http.StatusForbidden, "you may not use %s records", e.Name)
		}
	}
	return c.Next()
}

// --- decoding ---

// decodeObject reads a JSON object strictly: one value, no trailing data,
// numbers kept exact (json.Number) until a field type decides.
func decodeObject(c *fiber.Ctx) (map[string]any, error) {
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, problem.BadRequest("body", "empty", "the request body must be a JSON object")
	}
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.Contains(ct, "json") {
		return nil, &problem.Error{Status: http.StatusUnsupportedMediaType, Type: "about:blank", Title: "Unsupported media type",
			Detail: "send Content-Type: application/json"}
	}
	return DecodeObject(body)
}

// DecodeObject is the strict decoder behind every JSON body.
func DecodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, problem.BadRequest("body", "malformed_json", "the body is not valid JSON: %s", jsonErr(err))
	}
	if m == nil {
		return nil, problem.BadRequest("body", "not_object", "the request body must be a JSON object")
	}
	if dec.More() {
		return nil, problem.BadRequest("body", "trailing_data", "the body holds data after the JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, problem.BadRequest("body", "trailing_data", "the body holds data after the JSON object")
	}
	return m, nil
}

// decodeStrict decodes into a struct, refusing unknown keys by name.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem.BadRequest("body", "malformed_json", "%s", jsonErr(err))
	}
	if dec.More() {
		return problem.BadRequest("body", "trailing_data", "the body holds data after the JSON object")
	}
	return nil
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "value"
		}
		return field + ": expected " + te.Type.String() + ", got JSON " + te.Value
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// ifMatch reads the expected version from If-Match ("3", "\"3\"", W/"3").
func ifMatch(c *fiber.Ctx) (int64, error) {
	h := strings.TrimSpace(c.Get(fiber.HeaderIfMatch))
	if h == "" || h == "*" {
		return 0, nil
	}
	h = strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.ParseInt(h, 10, 64)
	if err != nil || n < 1 {
		return 0, problem.BadRequest("If-Match", "invalid", "If-Match must be a record version such as \"3\"")
	}
	return n, nil
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }
