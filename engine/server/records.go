package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
)

func (s *Server) listRecords(c *fiber.Ctx) error {
	lp := records.ListParams{Filter: c.Query("filter"), Sort: c.Query("sort"), Fields: c.Query("fields"), Cursor: c.Query("cursor")}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return problem.BadRequest("limit", "type", "limit must be a whole number")
		}
		if n == 0 {
			return problem.BadRequest("limit", "range", "limit must be between 1 and %d", records.MaxLimit)
		}
		lp.Limit = n
	}
	if v := c.Query("count"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return problem.BadRequest("count", "type", "count must be true or false")
		}
		lp.Count = b
	}
	return s.list(c, lp)
}

// queryBody is a list request sent as JSON (POST …/query): the same
// parameters as the query string, for filters too long for a URL. sort and
// fields may be "a,b" or ["a","b"].
type queryBody struct {
	Filter string   `json:"filter"`
	Sort   nameList `json:"sort"`
	Fields nameList `json:"fields"`
	Limit  *int     `json:"limit"`
	Cursor string   `json:"cursor"`
	Count  bool     `json:"count"`
}

// nameList is a comma-separated list given as a string or an array.
type nameList string

func (n *nameList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*n = nameList(s)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("expected a comma-separated string or an array of names")
	}
	for _, x := range list {
		if strings.Contains(x, ",") {
			return fmt.Errorf("%q: one name per array item", x)
		}
	}
	*n = nameList(strings.Join(list, ","))
	return nil
}

// queryRecords: POST /api/v1/records/{entity}/query {"filter":…,"sort":…}.
func (s *Server) queryRecords(c *fiber.Ctx) error {
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.Contains(ct, "json") {
		return &problem.Error{Status: http.StatusUnsupportedMediaType, Type: "about:blank", Title: "Unsupported media type",
			Detail: "send Content-Type: application/json"}
	}
	var q queryBody
	if err := decodeStrict(c.Body(), &q); err != nil {
		return err
	}
	lp := records.ListParams{Filter: q.Filter, Sort: string(q.Sort), Fields: string(q.Fields), Cursor: q.Cursor, Count: q.Count}
	if q.Limit != nil {
		if *q.Limit < 1 {
			return problem.BadRequest("limit", "range", "limit must be between 1 and %d", records.MaxLimit)
		}
		lp.Limit = *q.Limit
	}
	return s.list(c, lp)
}

func (s *Server) list(c *fiber.Ctx, lp records.ListParams) error {
	p := principal(c)
	res, e, err := s.Records.List(c.UserContext(), p, c.Params("entity"), lp)
	if err != nil {
		return err
	}
	view := s.Records.View(p, e, res.Fields)
	items := make([]map[string]any, len(res.Items))
	for i, r := range res.Items {
		items[i] = view.Render(r)
	}
	out := fiber.Map{"items": items, "next_cursor": nil}
	if res.NextCursor != "" {
		out["next_cursor"] = res.NextCursor
	}
	if res.Count != nil {
		out["count"] = *res.Count
		if res.CountCapped {
			out["count_capped"] = true
		}
	}
	return c.JSON(out)
}

func (s *Server) createRecord(c *fiber.Ctx) error {
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	p := principal(c)
	hook, err := s.formHook(c, p)
	if err != nil {
		return err
	}
	r, err := s.Records.CreateWith(c.UserContext(), p, c.Params("entity"), body, hook)
	if err != nil {
		return err
	}
	e, err := s.Catalog.Get(c.Params("entity"))
	if err != nil {
		return err
	}
	c.Location("/api/v1/records/" + e.Name + "/" + r.ID)
	c.Set(fiber.HeaderETag, etag(r.Version))
	return c.Status(http.StatusCreated).JSON(s.Records.Render(p, e, r, nil))
}

func (s *Server) getRecord(c *fiber.Ctx) error {
	p := principal(c)
	r, e, err := s.Records.Get(c.UserContext(), p, c.Params("entity"), c.Params("id"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(r.Version))
	return c.JSON(s.Records.Render(p, e, r, nil))
}

func (s *Server) patchRecord(c *fiber.Ctx) error { return s.updateRecord(c, false) }
func (s *Server) putRecord(c *fiber.Ctx) error   { return s.updateRecord(c, true) }

func (s *Server) updateRecord(c *fiber.Ctx, replace bool) error {
	body, err := decodeObject(c)
	if err != nil {
		return err
	}
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	p := principal(c)
	hook, err := s.formHook(c, p)
	if err != nil {
		return err
	}
	r, err := s.Records.UpdateWith(c.UserContext(), p, c.Params("entity"), c.Params("id"), body, expected, replace, hook)
	if err != nil {
		return err
	}
	e, err := s.Catalog.Get(c.Params("entity"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(r.Version))
	return c.JSON(s.Records.Render(p, e, r, nil))
}

// formHook is the check of ?form={id}: the write goes through that form's
// rules (the forms module's), or the request is refused.
func (s *Server) formHook(c *fiber.Ctx, p *identity.Principal) (records.Hook, error) {
	id := c.Query("form")
	if id == "" {
		return nil, nil
	}
	if s.Forms == nil {
		return nil, problem.BadRequest("form", "unsupported", "this server does not serve forms")
	}
	return s.Forms.WriteHook(c.UserContext(), p, c.Params("entity"), id)
}

func (s *Server) deleteRecord(c *fiber.Ctx) error {
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	if err := s.Records.Delete(c.UserContext(), principal(c), c.Params("entity"), c.Params("id"), expected); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// aggregateRecords: GET /api/v1/records/{entity}/aggregate?group_by=stage&
// measures=count,sum:amount&filter=… — grouped measures under the caller's
// access rules, computed by the store.
func (s *Server) aggregateRecords(c *fiber.Ctx) error {
	ap := records.AggregateParams{Filter: c.Query("filter"), GroupBy: c.Query("group_by"), Measures: c.Query("measures"), TimeZone: c.Query("timezone")}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return problem.BadRequest("limit", "range", "limit must be between 1 and 1000")
		}
		ap.Limit = n
	}
	res, _, err := s.Records.Aggregate(c.UserContext(), principal(c), c.Params("entity"), ap)
	if err != nil {
		return err
	}
	rows := make([]fiber.Map, len(res.Rows))
	for i, r := range res.Rows {
		keys := fiber.Map{}
		for j, k := range res.GroupBy {
			keys[k] = r.Keys[j]
		}
		vals := fiber.Map{}
		for j, m := range res.Measures {
			vals[m] = r.Values[j]
		}
		rows[i] = fiber.Map{"keys": keys, "values": vals}
	}
	return c.JSON(fiber.Map{"group_by": res.GroupBy, "measures": res.Measures, "rows": rows})
}
