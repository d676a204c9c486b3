package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/problem"
)

type checkBody struct {
	Entity     string `json:"entity"`
	Expression string `json:"expression"`
	Mode       string `json:"mode"` // filter, formula, default, rule, row_rule
}

// checkExpression: POST /api/v1/expressions/check — whether an expression
// compiles for its place, and if not where it goes wrong, so an editor can
// underline it as the person types. Nothing runs. Filters are checked
// against the caller's visible fields (any signed-in user); the
// definitions of formulas, defaults, validation rules and row rules are
// the admins'.
func (s *Server) checkExpression(c *fiber.Ctx) error {
	var b checkBody
	if err := decodeStrict(c.Body(), &b); err != nil {
		return err
	}
	p := principal(c)
	e, err := s.Catalog.Get(b.Entity)
	if err != nil {
		return problem.Invalid(problem.FieldError{Field: "entity", Code: "unknown_entity", Message: err.Error()})
	}
	if b.Mode != "filter" && !p.IsAdmin() {
		return problem.New(http.StatusForbidden, "checking a %s needs the admin role", strings.ReplaceAll(b.Mode, "_", " "))
	}
	if strings.TrimSpace(b.Expression) == "" {
		return c.JSON(fiber.Map{"ok": true})
	}
	switch b.Mode {
	case "filter":
		err = s.Records.CheckFilter(c.UserContext(), p, e.Name, b.Expression)
		var pe *problem.Error
		if errors.As(err, &pe) {
			return err // not allowed to read the entity
		}
	case "formula", "default", "rule":
		if _, err = expression.Compile(b.Expression); err == nil {
			err = expression.CheckNames(b.Expression, catalog.ExpressionNames(e.Entity))
		}
	case "row_rule":
		err = access.CheckRule(e.Entity, b.Expression)
	default:
		return problem.Invalid(problem.FieldError{Field: "mode", Code: "enum", Message: "mode is filter, formula, default, rule or row_rule"})
	}
	if err == nil {
		return c.JSON(fiber.Map{"ok": true})
	}
	out := fiber.Map{"message": err.Error()}
	var xe *expression.Error
	if errors.As(err, &xe) {
		if xe.Field != "" {
			out["field"] = xe.Field
		}
		if xe.Pos != nil {
			out["offset"], out["line"], out["column"] = xe.Pos.Offset, xe.Pos.Line, xe.Pos.Column
		}
	}
	return c.JSON(fiber.Map{"ok": false, "error": out})
}
