package server

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/problem"
)

// maxBulk bounds the records of one bulk request (a list page holds 500).
const maxBulk = 500

type bulkBody struct {
	Action string          `json:"action"` // update or delete
	IDs    []string        `json:"ids"`
	Values json.RawMessage `json:"values"`
}

type bulkResult struct {
	ID     string               `json:"id"`
	Status int                  `json:"status"`
	Errors []problem.FieldError `json:"errors,omitempty"`
	Detail string               `json:"detail,omitempty"`
}

// bulk: POST /api/v1/records/{entity}/bulk — the same change to, or the
// deletion of, up to 500 records, each through the write pipeline under
// the caller's rights and on its own: the answer reports every record's
// status and errors, and one record's refusal changes nothing of the
// others'.
func (s *Server) bulk(c *fiber.Ctx) error {
	var b bulkBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	switch {
	case b.Action != "update" && b.Action != "delete":
		return problem.Invalid(problem.FieldError{Field: "action", Code: "enum", Message: "action is update or delete"})
	case len(b.IDs) == 0 || len(b.IDs) > maxBulk:
		return problem.Invalid(problem.FieldError{Field: "ids", Code: "range", Message: "give 1 to 500 record ids"})
	}
	seen := make(map[string]bool, len(b.IDs))
	for _, id := range b.IDs {
		if seen[id] {
			return problem.Invalid(problem.FieldError{Field: "ids", Code: "duplicate", Message: "record " + id + " is listed twice"})
		}
		seen[id] = true
	}
	var values map[string]any
	if b.Action == "update" {
		if len(b.Values) == 0 {
			return problem.Invalid(problem.FieldError{Field: "values", Code: "required", Message: "an update needs values"})
		}
		var err error
		if values, err = DecodeObject(b.Values); err != nil {
			return err
		}
		if len(values) == 0 {
			return problem.Invalid(problem.FieldError{Field: "values", Code: "required", Message: "an update needs values"})
		}
	} else if len(b.Values) > 0 {
		return problem.Invalid(problem.FieldError{Field: "values", Code: "unsupported", Message: "a deletion takes no values"})
	}
	ctx, p, entity := c.UserContext(), principal(c), c.Params("entity")
	if _, err := s.Catalog.Get(entity); err != nil {
		return err
	}
	results := make([]bulkResult, len(b.IDs))
	// A few at a time: concurrent writes share the store's commits.
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				id := b.IDs[i]
				if b.Action == "update" {
					_, err := s.Records.Update(ctx, p, entity, id, maps.Clone(values), 0, false)
					results[i] = s.bulkResult(c, id, http.StatusOK, err)
				} else {
					err := s.Records.Delete(ctx, p, entity, id, 0)
					results[i] = s.bulkResult(c, id, http.StatusNoContent, err)
				}
			}
		}()
	}
	for i := range b.IDs {
		work <- i
	}
	close(work)
	wg.Wait()
	return c.JSON(fiber.Map{"results": results})
}

func (s *Server) bulkResult(c *fiber.Ctx, id string, status int, err error) bulkResult {
	if err == nil {
		return bulkResult{ID: id, Status: status}
	}
	var pe *problem.Error
	if errors.As(err, &pe) {
		return bulkResult{ID: id, Status: pe.Status, Errors: pe.Errors, Detail: pe.Detail}
	}
	s.Log.Error("bulk write", "request_id", reqID(c), "id", id, "err", err)
	return bulkResult{ID: id, Status: http.StatusInternalServerError, Detail: "internal error"}
}
