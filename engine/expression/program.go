package expression

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/jimu-crm/jimu/metadata"
)

// Date is a date field's value in memory: a day, not an instant. Compared
// with an instant (created_at, now()) it compares by day, so the rule
// close_date >= created_at holds for a deal closing on the day it was
// created.
type Date struct{ time.Time }

// NewDate reads a stored date ("2006-01-02").
func NewDate(s string) (Date, bool) {
	t, err := time.Parse(metadata.DateLayout, s)
	return Date{t}, err == nil
}

func (d Date) String() string { return d.Format(metadata.DateLayout) }

// Program is a compiled expression for in-memory evaluation (formulas,
// defaults, validation rules, workflow conditions).
type Program struct {
	src  string
	prog *vm.Program
}

var cache sync.Map // source → *Program; compile once, run many times

// cmpFuncs replace the comparison operators, so dates, instants and nils
// compare the way a CRM user means.
var cmpFuncs = map[string]string{"==": "__eq", "!=": "__ne", "<": "__lt", "<=": "__le", ">": "__gt", ">=": "__ge"}

type cmpPatcher struct{}

func (cmpPatcher) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok {
		return
	}
	if fn, ok := cmpFuncs[b.Operator]; ok {
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: []ast.Node{b.Left, b.Right}})
	}
}

// dayPair turns a comparison that involves a Date into two day strings.
func dayPair(a, b any) (string, string, bool) {
	da, aDate := a.(Date)
	db, bDate := b.(Date)
	if !aDate && !bDate {
		return "", "", false
	}
	day := func(v any, isDate bool, d Date) (string, bool) {
		if isDate {
			return d.String(), true
		}
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format(metadata.DateLayout), true
		}
		return "", false
	}
	sa, ok1 := day(a, aDate, da)
	sb, ok2 := day(b, bDate, db)
	return sa, sb, ok1 && ok2
}

func compare(op string) func(args ...any) (any, error) {
	return func(args ...any) (out any, err error) {
		a, b := args[0], args[1]
		if sa, sb, ok := dayPair(a, b); ok {
			a, b = sa, sb
		} else if da, ok := a.(Date); ok {
			a = da.Time
		} else if db, ok := b.(Date); ok {
			b = db.Time
		}
		if op != "==" && op != "!=" && (a == nil || b == nil) {
			return false, nil // an empty field is neither before nor after anything
		}
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("cannot compare %v (%T) with %v (%T)", a, a, b, b)
			}
		}()
		switch op {
		case "==":
			return runtime.Equal(a, b), nil
		case "!=":
			return !runtime.Equal(a, b), nil
		case "<":
			return runtime.Less(a, b), nil
		case "<=":
			return runtime.LessOrEqual(a, b), nil
		case ">":
			return runtime.More(a, b), nil
		}
		return runtime.MoreOrEqual(a, b), nil
	}
}

func options() []expr.Option {
	opts := []expr.Option{
		expr.Env(map[string]any{}),
		expr.AllowUndefinedVariables(),
		expr.Patch(cmpPatcher{}),
		expr.Function("today", func(...any) (any, error) {
			return Date{time.Now().UTC().Truncate(24 * time.Hour)}, nil
		}, new(func() Date)),
		expr.Function("days_ago", func(a ...any) (any, error) {
			return Date{time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -a[0].(int))}, nil
		}, new(func(int) Date)),
		expr.Function("days_ahead", func(a ...any) (any, error) {
			return Date{time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, a[0].(int))}, nil
		}, new(func(int) Date)),
	}
	for op, fn := range cmpFuncs {
		opts = append(opts, expr.Function(fn, compare(op), new(func(any, any) bool)))
	}
	return opts
}

// Compile compiles src, or returns the cached program. Names the
// expression uses are looked up in the env passed to Run; unknown names are
// nil, so a rule over an optional field reads naturally.
func Compile(src string) (*Program, error) {
	if p, ok := cache.Load(src); ok {
		return p.(*Program), nil
	}
	if len(src) > MaxSourceLen {
		return nil, &Error{Message: fmt.Sprintf("expression is longer than %d characters", MaxSourceLen)}
	}
	prog, err := expr.Compile(src, options()...)
	if err != nil {
		return nil, syntaxError("does not compile: ", err)
	}
	p := &Program{src: src, prog: prog}
	cache.Store(src, p)
	return p, nil
}

// Run evaluates the program over env.
func (p *Program) Run(env map[string]any) (any, error) {
	out, err := expr.Run(p.prog, env)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %s", p.src, firstLine(strings.TrimSpace(err.Error())))
	}
	if d, ok := out.(Date); ok {
		return d.Time, nil
	}
	return out, nil
}

// RunBudget evaluates the program over env within a memory budget (in
// expr's units: about one per value a list, a range, a loop or a string
// allocates), so an expression an admin saved cannot make one evaluation
// hold a node's memory or processor: every loop and allocation counts
// against it, and the evaluation stops with an error once it is spent.
func (p *Program) RunBudget(env map[string]any, budget uint) (any, error) {
	m := vm.VM{MemoryBudget: budget}
	out, err := m.Run(p.prog, env)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %s", p.src, firstLine(strings.TrimSpace(err.Error())))
	}
	if d, ok := out.(Date); ok {
		return d.Time, nil
	}
	return out, nil
}

// Bool evaluates a condition; a non-boolean result is an error.
func (p *Program) Bool(env map[string]any) (bool, error) {
	out, err := p.Run(env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("expression %q gives %T, not true or false", p.src, out)
	}
	return b, nil
}
