package server

import (
	"encoding/json"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/metadata"
)

// decodeMeta validates a metadata body against the metadata JSON Schema,
// then decodes it strictly into v. fieldOnly selects the schema of a single
// field.
func decodeMeta(c *fiber.Ctx, v any, fieldOnly bool) error {
	doc, err := decodeObject(c)
	if err != nil {
		return err
	}
	if errs := metadata.ValidateDocument(doc, fieldOnly); len(errs) > 0 {
		out := make([]problem.FieldError, len(errs))
		for i, e := range errs {
			out[i] = problem.FieldError{Field: e.Field, Code: e.Code, Message: e.Message}
		}
		return problem.Invalid(out...)
	}
	return decodeStrict(c.Body(), v)
}

// entityJSON is an entity document as it is stored, so what GET answers
// can be sent back with PUT.
func entityJSON(e *catalog.Entity) *metadata.Entity { return e.Entity }

func (s *Server) fieldTypes(c *fiber.Ctx) error {
	var out []fiber.Map
	for _, n := range metadata.TypeNames() {
		t, _ := metadata.LookupType(n)
		out = append(out, fiber.Map{"name": n, "kind": t.Kind().String(), "read_only": metadata.IsReadOnly(&metadata.Field{Type: n})})
	}
	return c.JSON(fiber.Map{"items": out})
}

func (s *Server) listEntities(c *fiber.Ctx) error {
	list := s.Catalog.List()
	out := make([]*metadata.Entity, len(list))
	for i, e := range list {
		out[i] = entityJSON(e)
	}
	return c.JSON(fiber.Map{"items": out})
}

func (s *Server) createEntity(c *fiber.Ctx) error {
	var e metadata.Entity
	if err := decodeMeta(c, &e, false); err != nil {
		return err
	}
	ce, err := s.Catalog.Create(c.UserContext(), principal(c), &e)
	if err != nil {
		return err
	}
	c.Location("/api/v1/meta/entities/" + ce.Name)
	c.Set(fiber.HeaderETag, etag(ce.Version))
	return c.Status(http.StatusCreated).JSON(entityJSON(ce))
}

func (s *Server) getEntity(c *fiber.Ctx) error {
	e, err := s.Catalog.Get(c.Params("entity"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(e.Version))
	return c.JSON(entityJSON(e))
}

func (s *Server) replaceEntity(c *fiber.Ctx) error {
	var e metadata.Entity
	if err := decodeMeta(c, &e, false); err != nil {
		return err
	}
	expected, err := ifMatch(c)
	if err != nil {
		return err
	}
	if expected == 0 {
		expected = e.Version
	}
	ce, err := s.Catalog.Update(c.UserContext(), principal(c), c.Params("entity"), &e, expected)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(ce.Version))
	return c.JSON(entityJSON(ce))
}

func (s *Server) deleteEntity(c *fiber.Ctx) error {
	if err := s.Catalog.Delete(c.UserContext(), principal(c), c.Params("entity")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) entityHistory(c *fiber.Ctx) error {
	h, err := s.Catalog.History(c.UserContext(), c.Params("entity"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": h})
}

func (s *Server) entitySchema(c *fiber.Ctx) error {
	e, err := s.Catalog.Get(c.Params("entity"))
	if err != nil {
		return err
	}
	schema, ok := s.contract(c.UserContext(), principal(c), e)
	if !ok {
		return problem.New(http.StatusForbidden, "you may not use %s records", e.Name)
	}
	c.Set(fiber.HeaderContentType, "application/schema+json")
	b, _ := json.Marshal(schema)
	return c.Send(b)
}

func (s *Server) addField(c *fiber.Ctx) error {
	var f metadata.Field
	if err := decodeMeta(c, &f, true); err != nil {
		return err
	}
	f.Deleted, f.DeletedAt = false, nil
	ce, err := s.Catalog.AddField(c.UserContext(), principal(c), c.Params("entity"), &f)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(ce.Version))
	return c.Status(http.StatusCreated).JSON(ce.Field(f.Name))
}

func (s *Server) getField(c *fiber.Ctx) error {
	e, err := s.Catalog.Get(c.Params("entity"))
	if err != nil {
		return err
	}
	f := e.AnyField(c.Params("field"))
	if f == nil {
		return problem.NotFound("entity %s has no field %q", e.Name, c.Params("field"))
	}
	return c.JSON(f)
}

func (s *Server) updateField(c *fiber.Ctx) error {
	var f metadata.Field
	if err := decodeMeta(c, &f, true); err != nil {
		return err
	}
	return s.saveField(c, &f)
}

// patchField merges the body into the field's current definition (JSON
// merge patch), then saves it like a PUT. {"deleted": false} restores a
// deleted field.
func (s *Server) patchField(c *fiber.Ctx) error {
	e, err := s.Catalog.Get(c.Params("entity"))
	if err != nil {
		return err
	}
	cur := e.AnyField(c.Params("field"))
	if cur == nil {
		return problem.NotFound("entity %s has no field %q", e.Name, c.Params("field"))
	}
	patch, err := decodeObject(c)
	if err != nil {
		return err
	}
	var base map[string]any
	b, _ := json.Marshal(cur)
	_ = json.Unmarshal(b, &base)
	for k, v := range patch {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	if errs := metadata.ValidateDocument(base, true); len(errs) > 0 {
		out := make([]problem.FieldError, len(errs))
		for i, fe := range errs {
			out[i] = problem.FieldError{Field: fe.Field, Code: fe.Code, Message: fe.Message}
		}
		return problem.Invalid(out...)
	}
	merged, _ := json.Marshal(base)
	var f metadata.Field
	if err := decodeStrict(merged, &f); err != nil {
		return err
	}
	if !f.Deleted {
		f.DeletedAt = nil
	}
	return s.saveField(c, &f)
}

func (s *Server) saveField(c *fiber.Ctx, f *metadata.Field) error {
	if dryRun(c) {
		plan, err := s.Catalog.UpdateFieldPlan(c.UserContext(), principal(c), c.Params("entity"), c.Params("field"), f)
		if err != nil {
			return err
		}
		return c.JSON(plan)
	}
	ce, err := s.Catalog.UpdateField(c.UserContext(), principal(c), c.Params("entity"), c.Params("field"), f)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(ce.Version))
	return c.JSON(ce.AnyField(f.Name))
}

// dryRun: ?dry_run=true asks what a change would do, changing nothing.
func dryRun(c *fiber.Ctx) bool { return c.QueryBool("dry_run", false) }

func (s *Server) deleteField(c *fiber.Ctx) error {
	if dryRun(c) {
		plan, err := s.Catalog.DeleteFieldPlan(c.UserContext(), principal(c), c.Params("entity"), c.Params("field"))
		if err != nil {
			return err
		}
		return c.JSON(plan)
	}
	if _, err := s.Catalog.DeleteField(c.UserContext(), principal(c), c.Params("entity"), c.Params("field")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) purgeField(c *fiber.Ctx) error {
	if _, err := s.Catalog.PurgeField(c.UserContext(), principal(c), c.Params("entity"), c.Params("field")); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
