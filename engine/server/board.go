package server

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
)

type boardColumn struct {
	Value       any              `json:"value"` // the option's value; null: records without one
	Filter      string           `json:"filter"`
	Count       int64            `json:"count"`
	CountCapped bool             `json:"count_capped,omitempty"`
	Items       []map[string]any `json:"items"`
	NextCursor  any              `json:"next_cursor"`
}

// board: GET /api/v1/records/{entity}/board?field=stage&filter=…&limit=20
// &fields=…&sort=… — a kanban board: for each option of a select field, in
// the options' order, then for records without one, the first cards and
// the column's count, each an ordinary list run in the store (never the
// whole entity). A column's filter is what the list takes for its next
// cards, with the column's next_cursor.
func (s *Server) board(c *fiber.Ctx) error {
	p := principal(c)
	e, err := s.Catalog.Get(c.Params("entity"))
	if err != nil {
		return err
	}
	name := c.Query("field")
	f := e.Field(name)
	if hidden, _ := s.Records.FieldAccess(p, e, name); f == nil || hidden || f.Type != "select" {
		return problem.BadRequest("field", "type", "a board groups by a select field of %s", e.Name)
	}
	limit := c.QueryInt("limit", 20)
	if limit < 1 || limit > 100 {
		return problem.BadRequest("limit", "range", "limit must be between 1 and 100")
	}
	base := strings.TrimSpace(c.Query("filter"))
	values := make([]any, 0, len(f.Options)+1)
	for _, o := range f.Options {
		values = append(values, o.Value)
	}
	values = append(values, nil)
	cols := make([]boardColumn, 0, len(values))
	for _, v := range values {
		cond := name + " == nil"
		if v != nil {
			cond = name + " == " + strconv.Quote(v.(string))
		}
		filter := cond
		if base != "" {
			filter = "(" + base + ") and " + cond
		}
		res, _, err := s.Records.List(c.UserContext(), p, e.Name, records.ListParams{Filter: filter, Sort: c.Query("sort"),
			Fields: c.Query("fields"), Limit: limit, Count: true})
		if err != nil {
			return err
		}
		view := s.Records.View(p, e, res.Fields)
		col := boardColumn{Value: v, Filter: filter, Count: *res.Count, CountCapped: res.CountCapped,
			Items: make([]map[string]any, len(res.Items))}
		for i, r := range res.Items {
			col.Items[i] = view.Render(r)
		}
		if res.NextCursor != "" {
			col.NextCursor = res.NextCursor
		}
		cols = append(cols, col)
	}
	return c.JSON(fiber.Map{"field": name, "columns": cols})
}
