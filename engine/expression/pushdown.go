// Package expression is Jimu's one expression language (expr-lang/expr),
// run two ways: compiled and evaluated in memory (formulas, defaults,
// validation rules), and pushed down, translated into the store's query IR
// (list filters, access rules). A filter is never applied in memory after a
// page was read; what cannot be pushed down is refused with an error that
// names the part.
package expression

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// MaxSourceLen, MaxFilterLen and maxDepth bound what a caller can make the
// parser do. Filters may be longer than programs (formulas, rules): a
// filter sent in a query body may list up to maxListLen ids, and parsing is
// linear in its length.
const (
	MaxSourceLen = 4000
	MaxFilterLen = 64 << 10
	maxDepth     = 64
	maxListLen   = 1000
	// maxVarListLen bounds a variable's list (user.subtree_member_ids of a
	// large organisation's manager): below SQLite's 32,766 parameters per
	// statement.
	maxVarListLen = 20000
)

// Error is a filter that cannot be used; Part is the offending piece of the
// expression, quoted in the message, and Pos where it starts (nil when the
// whole expression is at fault, e.g. too long).
type Error struct {
	Part    string
	Field   string // the field concerned, when there is one
	Message string
	Pos     *Position
}

// Position is a place in an expression's source: Offset and Column count
// runes from 0, Line from 1 — what an editor needs to underline it.
type Position struct {
	Offset int `json:"offset"`
	Line   int `json:"line"`
	Column int `json:"column"`
}

// atNode places e at n in the source (Pushdown fills in line and column).
func atNode(n ast.Node, e *Error) *Error {
	e.Pos = &Position{Offset: n.Location().From}
	return e
}

// locate fills in e's line and column from its offset in src.
func locate(e *Error, src string) {
	if e.Pos == nil {
		return
	}
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

// syntaxError is a parse or compile error of expr with its position.
func syntaxError(prefix string, err error) *Error {
	out := &Error{Message: prefix + firstLine(err.Error())}
	var fe *file.Error
	if errors.As(err, &fe) {
		out.Message = prefix + fe.Message
		out.Pos = &Position{Offset: fe.From, Line: fe.Line, Column: fe.Column}
	}
	return out
}

func (e *Error) Error() string {
	if e.Part != "" {
		return fmt.Sprintf("%s (in %q)", e.Message, e.Part)
	}
	return e.Message
}

// Resolver tells the pushdown what a name means: a field (and its kind) the
// caller may filter on, or a variable such as user.
type Resolver interface {
	// Field returns the kind of a field, or an error saying why it cannot be
	// used (unknown, hidden to this user, not filterable).
	Field(name string) (metadata.Kind, error)
	// Var returns a variable's value (user → map of its attributes).
	Var(name string) (any, bool)
}

// Normalizer is implemented by resolvers that put the values a filter
// compares a field with into the field's stored form (an e-mail
// lower-cased, a phone number in E.164), so `email == "Buyer@Acme.example"`
// finds the record stored as buyer@acme.example. whole is false for part of
// a value (contains, startsWith, endsWith).
type Normalizer interface {
	Normalize(field string, v any, whole bool) (any, error)
}

// Pushdown translates a boolean expression into the query IR.
func Pushdown(src string, r Resolver, now time.Time) (*store.Cond, error) {
	src = strings.TrimSpace(src)
	if src == "" {
		return nil, nil
	}
	if len(src) > MaxFilterLen {
		return nil, &Error{Message: fmt.Sprintf("filter is longer than %d characters", MaxFilterLen)}
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, syntaxError("syntax error: ", err)
	}
	p := &pusher{r: r, now: now}
	c, err := p.bool(tree.Node, 0)
	var e *Error
	if errors.As(err, &e) {
		locate(e, src)
	}
	return c, err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

type pusher struct {
	r   Resolver
	now time.Time
}

func fail(n ast.Node, format string, args ...any) error {
	return atNode(n, &Error{Part: n.String(), Message: fmt.Sprintf(format, args...)})
}

// bool translates a node that must be a condition.
func (p *pusher) bool(n ast.Node, depth int) (*store.Cond, error) {
	if depth > maxDepth {
		return nil, fail(n, "expression is nested too deeply")
	}
	switch n := n.(type) {
	case *ast.BoolNode:
		if n.Value {
			return &store.Cond{Op: store.OpTrue}, nil
		}
		return &store.Cond{Op: store.OpFalse}, nil
	case *ast.UnaryNode:
		if n.Operator != "not" && n.Operator != "!" {
			return nil, fail(n, "operator %q is not a condition", n.Operator)
		}
		inner, err := p.bool(n.Node, depth+1)
		if err != nil {
			return nil, err
		}
		return negate(inner), nil
	case *ast.IdentifierNode, *ast.MemberNode:
		// A bare boolean field (or variable) used as a condition.
		o, err := p.operand(n)
		if err != nil {
			return nil, err
		}
		if o.field != "" {
			if o.kind != metadata.KindBoolean {
				return nil, fail(n, "field %q is a %s, not a condition", o.field, o.kind)
			}
			return &store.Cond{Op: store.OpEq, Field: o.field, Kind: o.kind, Value: true}, nil
		}
		if b, ok := o.value.(bool); ok {
			return constCond(b), nil
		}
		return nil, fail(n, "not a condition")
	case *ast.BinaryNode:
		switch n.Operator {
		case "and", "&&", "or", "||":
			l, err := p.bool(n.Left, depth+1)
			if err != nil {
				return nil, err
			}
			r, err := p.bool(n.Right, depth+1)
			if err != nil {
				return nil, err
			}
			if n.Operator == "and" || n.Operator == "&&" {
				if c := store.And(l, r); c != nil {
					return c, nil
				}
				return &store.Cond{Op: store.OpTrue}, nil
			}
			return store.Or(l, r), nil
		case "==", "!=", "<", "<=", ">", ">=":
			return p.compare(n)
		case "in":
			return p.in(n)
		case "contains", "startsWith", "endsWith":
			return p.text(n)
		case "matches":
			return nil, fail(n, "regular expressions (matches) cannot run inside the store; use contains, startsWith or endsWith")
		}
		return nil, fail(n, "operator %q is not allowed in a filter", n.Operator)
	case *ast.BuiltinNode, *ast.CallNode:
		return nil, fail(n, "a function call is not a condition")
	}
	return nil, fail(n, "not allowed in a filter")
}

func constCond(b bool) *store.Cond {
	if b {
		return &store.Cond{Op: store.OpTrue}
	}
	return &store.Cond{Op: store.OpFalse}
}

func negate(c *store.Cond) *store.Cond {
	switch c.Op {
	case store.OpTrue:
		return &store.Cond{Op: store.OpFalse}
	case store.OpFalse:
		return &store.Cond{Op: store.OpTrue}
	case store.OpNot:
		return c.Args[0]
	}
	return &store.Cond{Op: store.OpNot, Args: []*store.Cond{c}}
}

// operand is one side of a comparison: a field, or a constant value.
type operand struct {
	field string
	kind  metadata.Kind
	value any // constant: string, float64, int64, bool, nil, time.Time, []any
	node  ast.Node
}

func (p *pusher) operand(n ast.Node) (operand, error) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if v, ok := p.r.Var(n.Value); ok {
			return operand{value: v, node: n}, nil
		}
		k, err := p.r.Field(n.Value)
		if err != nil {
			return operand{}, atNode(n, &Error{Part: n.Value, Field: n.Value, Message: err.Error()})
		}
		return operand{field: n.Value, kind: k, node: n}, nil
	case *ast.MemberNode:
		base, err := p.operand(n.Node)
		if err != nil {
			return operand{}, err
		}
		prop, ok := n.Property.(*ast.StringNode)
		if base.field != "" || !ok {
			return operand{}, fail(n, "member access is only allowed on variables such as user")
		}
		m, ok := base.value.(map[string]any)
		if !ok {
			return operand{}, fail(n, "not an object")
		}
		v, ok := m[prop.Value]
		if !ok {
			return operand{}, fail(n, "unknown attribute %q", prop.Value)
		}
		return operand{value: v, node: n}, nil
	case *ast.StringNode:
		return operand{value: n.Value, node: n}, nil
	case *ast.IntegerNode:
		return operand{value: int64(n.Value), node: n}, nil
	case *ast.FloatNode:
		return operand{value: n.Value, node: n}, nil
	case *ast.BoolNode:
		return operand{value: n.Value, node: n}, nil
	case *ast.NilNode:
		return operand{value: nil, node: n}, nil
	case *ast.UnaryNode:
		if n.Operator == "-" {
			o, err := p.operand(n.Node)
			if err != nil {
				return operand{}, err
			}
			switch v := o.value.(type) {
			case int64:
				return operand{value: -v, node: n}, nil
			case float64:
				return operand{value: -v, node: n}, nil
			}
		}
		return operand{}, fail(n, "not a value")
	case *ast.ArrayNode:
		if len(n.Nodes) > maxListLen {
			return operand{}, fail(n, "list has more than %d items", maxListLen)
		}
		list := make([]any, 0, len(n.Nodes))
		for _, e := range n.Nodes {
			o, err := p.operand(e)
			if err != nil {
				return operand{}, err
			}
			if o.field != "" {
				return operand{}, fail(e, "a list in a filter holds values, not fields")
			}
			list = append(list, o.value)
		}
		return operand{value: list, node: n}, nil
	case *ast.BuiltinNode:
		v, err := p.call(n.Name, n.Arguments, n)
		return operand{value: v, node: n}, err
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		if !ok {
			return operand{}, fail(n, "not allowed in a filter")
		}
		v, err := p.call(id.Value, n.Arguments, n)
		return operand{value: v, node: n}, err
	}
	return operand{}, fail(n, "not allowed in a filter")
}

// Functions lists what a filter may call. Each is evaluated once, before the
// query runs, so its result is a constant in the IR.
var Functions = []string{"date", "datetime", "now", "today", "days_ago", "days_ahead"}

func (p *pusher) call(name string, args []ast.Node, n ast.Node) (any, error) {
	str := func() (string, error) {
		if len(args) != 1 {
			return "", fail(n, "%s takes one argument", name)
		}
		s, ok := args[0].(*ast.StringNode)
		if !ok {
			return "", fail(n, "%s takes a string literal", name)
		}
		return s.Value, nil
	}
	days := func() (int, error) {
		if len(args) != 1 {
			return 0, fail(n, "%s takes one argument", name)
		}
		i, ok := args[0].(*ast.IntegerNode)
		if !ok || i.Value < 0 || i.Value > 36500 {
			return 0, fail(n, "%s takes a number of days between 0 and 36500", name)
		}
		return i.Value, nil
	}
	switch name {
	case "date":
		s, err := str()
		if err != nil {
			return nil, err
		}
		t, err := time.Parse(metadata.DateLayout, s)
		if err != nil {
			return nil, fail(n, "%q is not a date (YYYY-MM-DD)", s)
		}
		return t, nil
	case "datetime":
		s, err := str()
		if err != nil {
			return nil, err
		}
		t, err := metadata.ParseDateTime(s)
		if err != nil {
			return nil, fail(n, "%q is not a date-time (RFC 3339)", s)
		}
		return t, nil
	case "now":
		if len(args) != 0 {
			return nil, fail(n, "now takes no arguments")
		}
		return p.now, nil
	case "today":
		if len(args) != 0 {
			return nil, fail(n, "today takes no arguments")
		}
		return p.now.UTC().Truncate(24 * time.Hour), nil
	case "days_ago", "days_ahead":
		d, err := days()
		if err != nil {
			return nil, err
		}
		if name == "days_ago" {
			d = -d
		}
		return p.now.UTC().Truncate(24*time.Hour).AddDate(0, 0, d), nil
	}
	return nil, fail(n, "function %q is not allowed (allowed: %s)", name, strings.Join(Functions, ", "))
}

var flip = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

var cmpOps = map[string]store.Op{"==": store.OpEq, "!=": store.OpNe, "<": store.OpLt, "<=": store.OpLe, ">": store.OpGt, ">=": store.OpGe}

// operands reads both sides of a binary operator.
func (p *pusher) operands(n *ast.BinaryNode) (operand, operand, error) {
	l, err := p.operand(n.Left)
	if err != nil {
		return operand{}, operand{}, err
	}
	r, err := p.operand(n.Right)
	return l, r, err
}

func (p *pusher) compare(n *ast.BinaryNode) (*store.Cond, error) {
	l, r, err := p.operands(n)
	if err != nil {
		return nil, err
	}
	op := n.Operator
	if l.field == "" && r.field != "" {
		l, r, op = r, l, flip[op]
	}
	if l.field == "" {
		return p.constCompare(n, l.value, r.value, op)
	}
	if r.field != "" {
		return nil, fail(n, "comparing two fields (%s, %s) cannot run inside the store", l.field, r.field)
	}
	if r.value == nil {
		switch op {
		case "==":
			return &store.Cond{Op: store.OpIsNull, Field: l.field, Kind: l.kind}, nil
		case "!=":
			return &store.Cond{Op: store.OpNotNull, Field: l.field, Kind: l.kind}, nil
		}
		return nil, fail(n, "nil can only be compared with == or !=")
	}
	if l.kind == metadata.KindList {
		return nil, fail(n, "%s is a list; use \"value\" in %s", l.field, l.field)
	}
	if l.kind == metadata.KindBoolean && op != "==" && op != "!=" {
		return nil, fail(n, "%s is a boolean; compare it with == or !=", l.field)
	}
	v, err := p.value(l, r.value, r.node)
	if err != nil {
		return nil, err
	}
	return &store.Cond{Op: cmpOps[op], Field: l.field, Kind: l.kind, Value: v}, nil
}

// constCompare folds a comparison of two constants (e.g. a rule such as
// user.role == "admin").
func (p *pusher) constCompare(n ast.Node, a, b any, op string) (*store.Cond, error) {
	switch op {
	case "==":
		return constCond(fmt.Sprint(a) == fmt.Sprint(b)), nil
	case "!=":
		return constCond(fmt.Sprint(a) != fmt.Sprint(b)), nil
	}
	return nil, fail(n, "compare a field with a value")
}

func (p *pusher) in(n *ast.BinaryNode) (*store.Cond, error) {
	l, r, err := p.operands(n)
	if err != nil {
		return nil, err
	}
	switch {
	case l.field != "" && r.field == "":
		// stage in ["won", "lost"], owner in user.team_member_ids
		list, ok := asList(r.value)
		if !ok {
			return nil, fail(n, "the right side of in must be a list")
		}
		// A list written in the filter is capped where it is parsed
		// (operand); a variable's list (a manager's team, from the
		// directory) may be longer, up to what a store takes in one query.
		if len(list) > maxVarListLen {
			return nil, fail(n, "list has more than %d items", maxVarListLen)
		}
		vals := make([]any, len(list))
		for i, v := range list {
			if l.kind == metadata.KindList {
				if _, ok := v.(string); !ok {
					return nil, fail(n, "%s holds text values", l.field)
				}
				vals[i] = v
				continue
			}
			cv, err := p.value(l, v, r.node)
			if err != nil {
				return nil, err
			}
			vals[i] = cv
		}
		if l.kind == metadata.KindList {
			// tags in ["a","b"]: the list field shares a value with the list.
			return &store.Cond{Op: store.OpHasAny, Field: l.field, Kind: l.kind, Values: vals}, nil
		}
		return &store.Cond{Op: store.OpIn, Field: l.field, Kind: l.kind, Values: vals}, nil
	case l.field == "" && r.field != "":
		// "vip" in tags
		if r.kind != metadata.KindList {
			return nil, fail(n, "%s is not a list; write %s == value", r.field, r.field)
		}
		s, ok := l.value.(string)
		if !ok {
			return nil, fail(n, "%s holds text values", r.field)
		}
		return &store.Cond{Op: store.OpHas, Field: r.field, Kind: r.kind, Value: s}, nil
	case l.field == "" && r.field == "":
		list, ok := asList(r.value)
		if !ok {
			return nil, fail(n, "the right side of in must be a list")
		}
		for _, v := range list {
			if fmt.Sprint(v) == fmt.Sprint(l.value) {
				return constCond(true), nil
			}
		}
		return constCond(false), nil
	}
	return nil, fail(n, "comparing two fields cannot run inside the store")
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

func (p *pusher) text(n *ast.BinaryNode) (*store.Cond, error) {
	l, r, err := p.operands(n)
	if err != nil {
		return nil, err
	}
	if l.field == "" || r.field != "" {
		return nil, fail(n, "%s needs a field on the left and a text value on the right", n.Operator)
	}
	if l.kind != metadata.KindString {
		return nil, fail(n, "%s is a %s; %s works on text", l.field, l.kind, n.Operator)
	}
	s, ok := r.value.(string)
	if !ok {
		return nil, fail(n, "%s needs a text value", n.Operator)
	}
	if nz, ok := p.r.(Normalizer); ok {
		v, err := nz.Normalize(l.field, s, false)
		if err != nil {
			return nil, atNode(n, &Error{Part: n.String(), Field: l.field, Message: err.Error()})
		}
		s, _ = v.(string)
	}
	op := map[string]store.Op{"contains": store.OpContains, "startsWith": store.OpStartsWith, "endsWith": store.OpEndsWith}[n.Operator]
	return &store.Cond{Op: op, Field: l.field, Kind: l.kind, Value: s}, nil
}

// value is a constant compared with field f, in the field's stored form:
// checked against its kind, then normalised as the field's type stores it.
func (p *pusher) value(f operand, v any, n ast.Node) (any, error) {
	cv, err := coerce(f.field, f.kind, v, n)
	if err != nil {
		return nil, err
	}
	nz, ok := p.r.(Normalizer)
	if !ok || f.kind != metadata.KindString {
		return cv, nil
	}
	out, err := nz.Normalize(f.field, cv, true)
	if err != nil {
		msg := err.Error()
		var fe *metadata.FieldError
		if errors.As(err, &fe) {
			msg = fe.Message
		}
		return nil, atNode(n, &Error{Part: n.String(), Field: f.field, Message: fmt.Sprintf("%s: %s", f.field, msg)})
	}
	if _, ok := out.(string); !ok {
		return cv, nil // a normaliser that gave no text: compare what was written
	}
	return out, nil
}

// coerce turns a constant into the stored form of a field's kind, refusing
// values of the wrong type with a message that names the field.
func coerce(field string, k metadata.Kind, v any, n ast.Node) (any, error) {
	bad := func(want string) error {
		return atNode(n, &Error{Part: n.String(), Field: field, Message: fmt.Sprintf("%s is a %s field; compare it with %s", field, k, want)})
	}
	switch k {
	case metadata.KindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, bad("text")
	case metadata.KindNumber:
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		}
		return nil, bad("a number")
	case metadata.KindInteger:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return x, nil
		}
		return nil, bad("a number")
	case metadata.KindBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, bad("true or false")
	case metadata.KindDate:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(metadata.DateLayout), nil
		case string:
			t, err := time.Parse(metadata.DateLayout, x)
			if err != nil {
				return nil, bad(`a date such as date("2026-01-31")`)
			}
			return t.Format(metadata.DateLayout), nil
		}
		return nil, bad(`a date such as date("2026-01-31")`)
	case metadata.KindDateTime:
		switch x := v.(type) {
		case time.Time:
			return metadata.FormatDateTime(x), nil
		case string:
			t, err := metadata.ParseDateTime(x)
			if err != nil {
				return nil, bad(`a date-time such as datetime("2026-01-31T09:00:00Z")`)
			}
			return metadata.FormatDateTime(t), nil
		}
		return nil, bad(`a date-time such as datetime("2026-01-31T09:00:00Z")`)
	}
	return nil, atNode(n, &Error{Part: n.String(), Field: field, Message: fmt.Sprintf("%s (%s) cannot be used in a filter", field, k)})
}
