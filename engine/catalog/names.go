package catalog

import (
	"errors"
	"fmt"

	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/metadata"
)

// ExpressionNames is what a formula, a default or a validation rule of e
// may name: its live fields, the system fields and the user.
func ExpressionNames(e *metadata.Entity) func(string) bool {
	return func(name string) bool {
		if name == "user" {
			return true
		}
		_, ok := e.KindOf(name)
		return ok
	}
}

// checkNames refuses formulas, defaults and rules that name what e does
// not have (a misspelt or deleted field would silently read as empty),
// each error with the expression's path and the name's position. It runs
// when metadata changes, not when it is loaded, so a database written
// before the check still opens.
func checkNames(e *metadata.Entity) []problem.FieldError {
	known := ExpressionNames(e)
	var errs []problem.FieldError
	add := func(path, src string) {
		if src == "" {
			return
		}
		err := expression.CheckNames(src, known)
		var xe *expression.Error
		if err == nil || !errors.As(err, &xe) || xe.Field == "" {
			return // syntax errors are compile's to report
		}
		msg := xe.Message
		if xe.Pos != nil {
			msg = fmt.Sprintf("%s (line %d, column %d)", msg, xe.Pos.Line, xe.Pos.Column+1)
		}
		errs = append(errs, problem.FieldError{Field: path, Code: "unknown_field", Message: msg})
	}
	for _, f := range e.LiveFields() {
		if f.Type == "formula" {
			add("fields."+f.Name+".formula", f.Formula)
		}
		add("fields."+f.Name+".default_expr", f.DefaultEx)
	}
	for i, r := range e.Rules {
		add(fmt.Sprintf("rules.%d.expression", i), r.Expression)
	}
	return errs
}
