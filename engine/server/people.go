package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
)

type person struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"` // admins only
}

// people: GET /api/v1/people?q=ann&ids=a,b — the active users whose name
// (or e-mail) contains q, or the users ids names, by name: what a user
// field's picker and a record's "owner" show. Everyone signed in may ask;
// only admins see e-mail addresses.
func (s *Server) people(c *fiber.Ctx) error {
	p := principal(c)
	q := strings.ToLower(strings.TrimSpace(c.Query("q")))
	var ids []string
	if v := c.Query("ids"); v != "" {
		ids = strings.Split(v, ",")
		if len(ids) > 100 {
			return problem.BadRequest("ids", "range", "ask for at most 100 users")
		}
	}
	limit := c.QueryInt("limit", 20)
	if limit < 1 || limit > 100 {
		return problem.BadRequest("limit", "range", "limit must be between 1 and 100")
	}
	users, err := s.Auth.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	out := []person{}
	for _, u := range users {
		switch {
		case ids != nil:
			if !slices.Contains(ids, u.ID) {
				continue
			}
		case !u.Active:
			continue
		case q != "" && !strings.Contains(strings.ToLower(u.Name), q) &&
			!(p.IsAdmin() && strings.Contains(u.Email, q)):
			continue
		}
		pe := person{ID: u.ID, Name: u.Name}
		if p.IsAdmin() {
			pe.Email = u.Email
		}
		out = append(out, pe)
	}
	slices.SortFunc(out, func(a, b person) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	if len(out) > limit {
		out = out[:limit]
	}
	return c.JSON(fiber.Map{"items": out})
}

// kindRecent keeps a person's recently opened records, one document each.
const kindRecent = "recent"

const maxRecent = 20

type recentItem struct {
	Entity string    `json:"entity"`
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
}

// recent: GET /api/v1/recent — the records the caller opened lately,
// newest first, with their titles, leaving out those they may no longer
// read; POST /api/v1/recent {entity, id} notes one (the app does, as a
// record page opens), so the list follows the person to other devices.
func (s *Server) recent(c *fiber.Ctx) error {
	ctx, p := c.UserContext(), principal(c)
	items, _, err := s.recentOf(c, p.UserID)
	if err != nil {
		return err
	}
	type shown struct {
		recentItem
		Title string `json:"title"`
	}
	out := []shown{}
	for _, it := range items {
		r, e, err := s.Records.Get(ctx, p, it.Entity, it.ID)
		if err != nil {
			continue // gone, or no longer theirs to read
		}
		title := ""
		if f := e.TitleFieldOf(); f != "" {
			if hidden, _ := s.Records.FieldAccess(p, e, f); !hidden {
				title, _ = r.Data[f].(string)
			}
		}
		out = append(out, shown{recentItem: it, Title: title})
	}
	return c.JSON(fiber.Map{"items": out})
}

func (s *Server) noteRecent(c *fiber.Ctx) error {
	ctx, p := c.UserContext(), principal(c)
	var in struct {
		Entity string `json:"entity"`
		ID     string `json:"id"`
	}
	if err := decodeStrict(c.Body(), &in); err != nil {
		return err
	}
	// Only what the caller may read is noted (and so no probing of ids).
	if _, _, err := s.Records.Get(ctx, p, in.Entity, in.ID); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		items, version, err := s.recentOf(c, p.UserID)
		if err != nil {
			return err
		}
		items = slices.DeleteFunc(items, func(it recentItem) bool { return it.Entity == in.Entity && it.ID == in.ID })
		items = append([]recentItem{{Entity: in.Entity, ID: in.ID, At: time.Now().UTC()}}, items...)
		if len(items) > maxRecent {
			items = items[:maxRecent]
		}
		data, _ := json.Marshal(items)
		err = s.Store.PutDoc(ctx, &store.Doc{Kind: kindRecent, ID: p.UserID, Version: version + 1, Data: data}, store.Sides{})
		if (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists)) && attempt < 3 {
			continue // another tab noted one meanwhile
		}
		if err != nil {
			return err
		}
		return c.SendStatus(http.StatusNoContent)
	}
}

func (s *Server) recentOf(c *fiber.Ctx, user string) ([]recentItem, int64, error) {
	d, err := s.Store.GetDoc(c.UserContext(), kindRecent, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var items []recentItem
	if err := json.Unmarshal(d.Data, &items); err != nil {
		return nil, 0, err
	}
	return items, d.Version, nil
}
