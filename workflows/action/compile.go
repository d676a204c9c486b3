package action

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/metadata"
)

// MaxExpressionLen caps every expression of a rule (its condition and
// each value of its actions): a rule is run for every event of its
// entity, so its programs stay small.
const MaxExpressionLen = 2000

// Variables every expression of a rule may name besides the entity's
// fields: the record (also reachable field by field), its values before
// the change (old; empty unless the trigger is an update), the user who
// triggered the run, the time of evaluation, and for an inbound webhook
// its JSON body.
var Variables = []string{"record", "old", "user", "now", "payload"}

// Compiler checks the configuration of a rule's actions when the rule is
// saved and compiles their expressions, collecting every problem with its
// path ("actions.1.values.title").
type Compiler struct {
	// Entity is the rule's entity; Catalog finds the others an action
	// names (create a record of another entity).
	Entity  *catalog.Entity
	Catalog *catalog.Catalog
	// Rule is the rule's id; Path is the prefix of the action's problems
	// ("actions.0").
	Rule, Path string
	// Payload is true when the rule's trigger is an inbound webhook, the
	// only one whose expressions may read payload.
	Payload bool
	// Svc are the services the rule will run with: an action checks
	// what it needs is there (an SMTP server for e-mail).
	Svc  *Services
	Errs []problem.FieldError
}

// Fail records a problem with the action's field (a dotted path below the
// action).
func (c *Compiler) Fail(field, code, format string, args ...any) {
	path := c.Path
	if field != "" {
		path += "." + field
	}
	c.Errs = append(c.Errs, problem.FieldError{Field: path, Code: code, Message: fmt.Sprintf(format, args...)})
}

// Expr compiles one expression of the action, checks every name it uses
// against the rule's entity, and returns it (nil, with the problem
// recorded, when it does not compile).
func (c *Compiler) Expr(field, src string) *expression.Program {
	p, fe := Compile(c.Entity, src, c.Payload)
	if fe != nil {
		fe.Field = strings.TrimSuffix(c.Path+"."+field, ".")
		c.Errs = append(c.Errs, *fe)
	}
	return p
}

// Target returns another entity an action writes to, recording a problem
// when there is none of that name.
func (c *Compiler) Target(field, name string) *catalog.Entity {
	if name == "" {
		c.Fail(field, "required", "name the entity")
		return nil
	}
	e, err := c.Catalog.Get(name)
	if err != nil {
		c.Fail(field, "unknown_entity", "there is no entity %q", name)
		return nil
	}
	return e
}

// Values compiles the expressions of a set of field values for entity e,
// refusing names that are not fields one may write (system and read-only
// fields, formulas, auto-numbers). owner is accepted on an entity with
// owners.
func (c *Compiler) Values(field string, e *catalog.Entity, values map[string]string) map[string]*expression.Program {
	out := make(map[string]*expression.Program, len(values))
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, name := range keys {
		path := field + "." + name
		if e != nil {
			f := e.Field(name)
			switch {
			case name == "owner" && e.Ownership:
			case f == nil:
				c.Fail(path, "unknown_field", "%s has no field %q", e.Name, name)
				continue
			case metadata.IsReadOnly(f):
				c.Fail(path, "read_only", "%s.%s is computed by the system and cannot be set", e.Name, name)
				continue
			}
		}
		if p := c.Expr(path, values[name]); p != nil {
			out[name] = p
		}
	}
	return out
}

// Compile compiles a rule's expression over entity e (nil: no record) and
// checks the names it uses, with the position of a problem. payload says
// whether the expression may read an inbound webhook's body.
func Compile(e *catalog.Entity, src string, payload bool) (*expression.Program, *problem.FieldError) {
	src = strings.TrimSpace(src)
	if src == "" {
		return nil, &problem.FieldError{Code: "required", Message: "the expression is empty"}
	}
	if len(src) > MaxExpressionLen {
		return nil, &problem.FieldError{Code: "too_long", Message: fmt.Sprintf("the expression is longer than %d characters", MaxExpressionLen)}
	}
	if err := checkNames(e, src, payload); err != nil {
		return nil, exprError(err)
	}
	p, err := expression.Compile(src)
	if err != nil {
		return nil, exprError(err)
	}
	return p, nil
}

func exprError(err error) *problem.FieldError {
	fe := &problem.FieldError{Code: "invalid_expression", Message: err.Error()}
	var xe *expression.Error
	if errors.As(err, &xe) {
		fe.Message = xe.Message
		if xe.Field != "" {
			fe.Code = "unknown_field"
		}
		if xe.Pos != nil {
			fe.Position = &problem.Position{Offset: xe.Pos.Offset, Line: xe.Pos.Line, Column: xe.Pos.Column}
			fe.Message = fmt.Sprintf("%s (line %d, column %d)", fe.Message, xe.Pos.Line, xe.Pos.Column+1)
		}
	}
	return fe
}

// checkNames refuses a name the expression uses that is neither a field of
// e, a system field nor one of Variables, and a member of record or old
// that is not a field: a misspelt field would otherwise read as empty and
// the rule would quietly never match.
func checkNames(e *catalog.Entity, src string, payload bool) error {
	known := func(name string) bool {
		switch name {
		case "record", "old", "user", "now":
			return true
		case "payload":
			return payload
		}
		if e == nil {
			return false
		}
		_, ok := e.KindOf(name)
		return ok
	}
	if err := expression.CheckNames(src, known); err != nil {
		return err
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return err // CheckNames reported it already; kept for safety
	}
	v := &memberVisitor{e: e}
	ast.Walk(&tree.Node, v)
	if v.bad != nil {
		e := &expression.Error{Part: v.bad.String(), Field: v.name, Message: v.msg,
			Pos: &expression.Position{Offset: v.bad.Location().From}}
		locateIn(e, src)
		return e
	}
	return nil
}

type memberVisitor struct {
	e    *catalog.Entity
	bad  ast.Node
	name string
	msg  string
}

func (v *memberVisitor) Visit(n *ast.Node) {
	if v.bad != nil {
		return
	}
	m, ok := (*n).(*ast.MemberNode)
	if !ok {
		return
	}
	base, ok := m.Node.(*ast.IdentifierNode)
	if !ok || (base.Value != "record" && base.Value != "old") {
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok {
		return // record[some_expression]: checked when it runs
	}
	if v.e == nil {
		v.bad, v.name, v.msg = m, prop.Value, "this rule has no record"
		return
	}
	if _, ok := v.e.KindOf(prop.Value); !ok {
		v.bad, v.name, v.msg = m, prop.Value, fmt.Sprintf("unknown field %q of %s", prop.Value, v.e.Name)
	}
}

// locateIn fills in line and column from the offset (expression's own
// helper is unexported).
func locateIn(e *expression.Error, src string) {
	line, col, i := 1, 0, 0
	for _, r := range src {
		if i == e.Pos.Offset {
			break
		}
		if r == '\n' {
			line, col = line+1, 0
		} else {
			col++
		}
		i++
	}
	e.Pos.Line, e.Pos.Column = line, col
}
