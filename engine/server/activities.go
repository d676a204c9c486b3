package server

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// addActivity: POST /api/v1/records/{entity}/{id}/activities/{kind} — a
// note, task or logged call, meeting or e-mail on a record the caller may
// change.
func (s *Server) addActivity(c *fiber.Ctx) error {
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	p, kind := principal(c), c.Params("kind")
	r, err := s.Activities.Add(c.UserContext(), p, c.Params("entity"), c.Params("id"), kind, body)
	if err != nil {
		return err
	}
	c.Location("/api/v1/activities/" + kind + "/" + r.ID)
	c.Set(fiber.HeaderETag, etag(r.Version))
	return c.Status(http.StatusCreated).JSON(s.Activities.Render(p, kind, r))
}

func (s *Server) getActivity(c *fiber.Ctx) error {
	p, kind := principal(c), c.Params("kind")
	r, err := s.Activities.Get(c.UserContext(), p, kind, c.Params("id"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(r.Version))
	return c.JSON(s.Activities.Render(p, kind, r))
}

// changeActivity: PATCH /api/v1/activities/{kind}/{id} — by those who may
// change the record it hangs on, and a task by its assignee (done: true).
func (s *Server) changeActivity(c *fiber.Ctx) error {
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	p, kind := principal(c), c.Params("kind")
	r, err := s.Activities.Change(c.UserContext(), p, kind, c.Params("id"), body, expected)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(r.Version))
	return c.JSON(s.Activities.Render(p, kind, r))
}

func (s *Server) removeActivity(c *fiber.Ctx) error {
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	if err := s.Activities.Remove(c.UserContext(), principal(c), c.Params("kind"), c.Params("id"), expected); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// timeline: GET /api/v1/records/{entity}/{id}/timeline?before=&limit= —
// newest first, the record's activities and audited changes, each with
// the name of who made it.
func (s *Server) timeline(c *fiber.Ctx) error {
	p := principal(c)
	items, next, err := s.Activities.Timeline(c.UserContext(), p, c.Params("entity"), c.Params("id"), c.Query("before"), c.QueryInt("limit", 50))
	if err != nil {
		return err
	}
	names := map[string]string{}
	out := make([]fiber.Map, len(items))
	for i, it := range items {
		out[i] = fiber.Map{"kind": it.Kind, "id": it.ID, "at": it.At, "actor": it.Actor,
			"actor_name": s.userName(c.UserContext(), names, it.Actor)}
		if it.Record != nil {
			out[i]["record"] = it.Record
		} else {
			out[i]["action"], out[i]["changes"] = it.Action, it.Changes
		}
	}
	var nb any
	if next != "" {
		nb = next
	}
	return c.JSON(fiber.Map{"items": out, "next_before": nb})
}

// myTasks: GET /api/v1/tasks/mine?limit=&cursor= — the caller's open
// tasks, soonest due first.
func (s *Server) myTasks(c *fiber.Ctx) error {
	p := principal(c)
	res, err := s.Activities.MyTasks(c.UserContext(), p, c.QueryInt("limit", 20), c.Query("cursor"))
	if err != nil {
		return err
	}
	items := make([]map[string]any, len(res.Items))
	for i, r := range res.Items {
		items[i] = s.Activities.Render(p, "task", r)
	}
	var next any
	if res.NextCursor != "" {
		next = res.NextCursor
	}
	return c.JSON(fiber.Map{"items": items, "next_cursor": next})
}
