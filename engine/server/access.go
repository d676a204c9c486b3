package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
)

// accessRoutes are users, teams, roles and the access explainer (admin),
// and the audit log (admins all of it, others per readable record).
func (s *Server) accessRoutes(api fiber.Router, admin adminOnly) {
	admin.Get("/users", s.listUsers)
	admin.Post("/users", s.createUser)
	admin.Get("/users/:id", s.getUser)
	admin.Patch("/users/:id", s.patchUser)
	if s.Access == nil {
		return
	}
	admin.Get("/roles", s.listRoles)
	admin.Get("/roles/:name", s.getRole)
	admin.Put("/roles/:name", s.putRole)
	admin.Delete("/roles/:name", s.deleteRole)
	admin.Get("/teams", s.listTeams)
	admin.Post("/teams", s.createTeam)
	admin.Get("/teams/:id", s.getTeam)
	admin.Patch("/teams/:id", s.patchTeam)
	admin.Delete("/teams/:id", s.deleteTeam)
	admin.Get("/access/explain", s.explain)
}

type userBody struct {
	Email      string            `json:"email"`
	Name       string            `json:"name"`
	Password   string            `json:"password"`
	Roles      []string          `json:"roles"`
	Teams      []string          `json:"teams"`
	Attributes map[string]string `json:"attributes"`
}

// checkRolesTeams refuses roles and teams that do not exist.
func (s *Server) checkRolesTeams(c *fiber.Ctx, roles, teams []string) error {
	if s.Access == nil {
		return nil
	}
	if err := s.Access.Roles.Exist(c.UserContext(), roles); err != nil {
		return err
	}
	return s.Access.Dir.Exist(c.UserContext(), teams)
}

func (s *Server) createUser(c *fiber.Ctx) error {
	var b userBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	if err := s.checkRolesTeams(c, b.Roles, b.Teams); err != nil {
		return err
	}
	u, err := s.Auth.CreateUser(c.UserContext(), principal(c), auth.NewUser{Email: b.Email, Name: b.Name, Password: b.Password,
		Roles: b.Roles, Teams: b.Teams, Attributes: b.Attributes})
	if err != nil {
		return authErr(err)
	}
	if s.Access != nil {
		s.Access.Dir.Invalidate()
	}
	return c.Status(http.StatusCreated).JSON(u)
}

func (s *Server) getUser(c *fiber.Ctx) error {
	u, err := s.Auth.GetUser(c.UserContext(), c.Params("id"))
	if err != nil {
		return authErr(err)
	}
	return c.JSON(u)
}

type userPatch struct {
	Roles      []string          `json:"roles"`
	Teams      []string          `json:"teams"`
	Attributes map[string]string `json:"attributes"`
	Active     *bool             `json:"active"`
}

// patchUser changes roles, teams, attributes, or deactivates a user (their
// records and ownership stay).
func (s *Server) patchUser(c *fiber.Ctx) error {
	var b userPatch
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	if err := s.checkRolesTeams(c, b.Roles, b.Teams); err != nil {
		return err
	}
	ctx, p, id := c.UserContext(), principal(c), c.Params("id")
	if b.Active != nil {
		if err := s.Auth.SetActive(ctx, p, id, *b.Active); err != nil {
			return authErr(err)
		}
	}
	u, err := s.Auth.SetAccess(ctx, p, id, auth.Access{Roles: b.Roles, Teams: b.Teams, Attributes: b.Attributes})
	if err != nil {
		return authErr(err)
	}
	if s.Access != nil {
		s.Access.Dir.Invalidate()
	}
	return c.JSON(u)
}

func (s *Server) listRoles(c *fiber.Ctx) error {
	return c.JSON(s.Access.Roles.List(c.UserContext()))
}

func (s *Server) getRole(c *fiber.Ctx) error {
	r, ok := s.Access.Roles.Get(c.UserContext(), c.Params("name"))
	if !ok {
		return problem.NotFound("no role %q", c.Params("name"))
	}
	return c.JSON(r)
}

func (s *Server) putRole(c *fiber.Ctx) error {
	var r access.Role
	if err := decodeStrict(c.Body(), &r); err != nil {
		return err
	}
	p := principal(c)
	out, err := s.Access.Roles.Put(c.UserContext(), p, c.Params("name"), &r)
	if err != nil {
		var pe *problem.Error
		if errors.As(err, &pe) && pe.Status == http.StatusUnprocessableEntity {
			s.auditRefusal(c.UserContext(), p.UserID, p.IP, "role.rejected", map[string]any{"role": c.Params("name"), "errors": pe.Errors})
		}
		return err
	}
	return c.JSON(out)
}

func (s *Server) deleteRole(c *fiber.Ctx) error {
	if err := s.Access.Roles.Delete(c.UserContext(), principal(c), c.Params("name")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) listTeams(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"items": s.Access.Dir.List(c.UserContext())})
}

func (s *Server) getTeam(c *fiber.Ctx) error {
	t, err := s.Access.Dir.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (s *Server) createTeam(c *fiber.Ctx) error {
	var in access.TeamInput
	if err := decodeStrict(c.Body(), &in); err != nil {
		return err
	}
	t, err := s.Access.Dir.Save(c.UserContext(), principal(c), "", in)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(t)
}

func (s *Server) patchTeam(c *fiber.Ctx) error {
	var in access.TeamInput
	if err := decodeStrict(c.Body(), &in); err != nil {
		return err
	}
	t, err := s.Access.Dir.Save(c.UserContext(), principal(c), c.Params("id"), in)
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (s *Server) deleteTeam(c *fiber.Ctx) error {
	if err := s.Access.Dir.Delete(c.UserContext(), principal(c), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// explain answers why a user can or cannot act on a record.
func (s *Server) explain(c *fiber.Ctx) error {
	ctx := c.UserContext()
	e, err := s.Catalog.Get(c.Query("entity"))
	if err != nil {
		return problem.BadRequest("entity", "unknown_entity", "%s", err.Error())
	}
	uid := c.Query("user")
	if uid == "" {
		return problem.BadRequest("user", "required", "name the user to explain for (user=<id>)")
	}
	u, err := s.Auth.GetUser(ctx, uid)
	if err != nil {
		return problem.BadRequest("user", "unknown_user", "no user %q", uid)
	}
	pr := access.ForUser(ctx, s.Access.Dir, u.ID, u.Email, u.Name, u.Roles, u.Teams, u.Attributes)
	x, err := s.Access.Explain(ctx, pr, e, c.Query("id"))
	if err != nil {
		return err
	}
	return c.JSON(x)
}

// listAudit: admins read the whole log with filters; other users read the
// entries of one record they can read, with the fields hidden from them
// removed from every change.
func (s *Server) listAudit(c *fiber.Ctx) error {
	q := store.AuditQuery{Entity: c.Query("entity"), RecordID: c.Query("record_id"), Actor: c.Query("actor"),
		Action: c.Query("action"), Before: c.Query("before"), Limit: c.QueryInt("limit", 100)}
	if q.Limit < 1 || q.Limit > 1000 {
		return problem.BadRequest("limit", "range", "limit must be between 1 and 1000")
	}
	p := principal(c)
	var hidden func(string) bool
	if !p.IsAdmin() {
		if q.Entity == "" || q.RecordID == "" {
			return problem.New(http.StatusForbidden, "the full audit log needs the admin role; others read it per record (entity and record_id)")
		}
		_, e, err := s.Records.Get(c.UserContext(), p, q.Entity, q.RecordID)
		if err != nil {
			var pe *problem.Error
			if errors.As(err, &pe) && pe.Status == http.StatusForbidden {
				return problem.NotFound("%s %s not found", q.Entity, q.RecordID)
			}
			return err
		}
		hidden = func(f string) bool {
			if s.Access == nil {
				return false
			}
			h, _ := s.Access.Field(p, e, f)
			return h
		}
	}
	items, err := s.Store.ListAudit(c.UserContext(), q)
	if err != nil {
		return err
	}
	names := map[string]string{}
	out := make([]auditItem, len(items))
	for i, a := range items {
		if hidden != nil {
			redact(a, hidden)
			// Others may see who changed a record they can read, not
			// where from.
			if a.Actor != p.UserID {
				a.IP = ""
			}
		}
		out[i] = auditItem{AuditEntry: a, ActorName: s.userName(c.UserContext(), names, a.Actor)}
	}
	next := ""
	if len(items) == q.Limit {
		next = items[len(items)-1].ID
	}
	return c.JSON(fiber.Map{"items": out, "next_before": next})
}

// auditItem is an audit entry with the name of its actor, so people read
// who did something, not a user id.
type auditItem struct {
	*store.AuditEntry
	ActorName string `json:"actor_name,omitempty"`
}

// userName looks a user's name up once per answer (a page has few actors).
func (s *Server) userName(ctx context.Context, seen map[string]string, id string) string {
	if id == "" {
		return ""
	}
	if n, ok := seen[id]; ok {
		return n
	}
	n := ""
	if u, err := s.Auth.GetUser(ctx, id); err == nil {
		n = u.Name
		if n == "" {
			n = u.Email
		}
	}
	seen[id] = n
	return n
}

// redact removes hidden fields from an entry's changes (record entries
// hold field → {from, to}).
func redact(a *store.AuditEntry, hidden func(string) bool) {
	for f := range a.Changes {
		if hidden(f) {
			delete(a.Changes, f)
		}
	}
}
