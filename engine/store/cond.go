package store

import (
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/metadata"
)

// Op is a condition operator of the query IR.
type Op string

// Every filter and access rule becomes a tree of these, and nothing else
// reaches a store: there is no way to pass a raw SQL fragment or a MongoDB
// operator through the IR.
const (
	OpTrue  Op = "true"
	OpFalse Op = "false"
	OpAnd   Op = "and"
	OpOr    Op = "or"
	OpNot   Op = "not"

	OpEq Op = "eq"
	OpNe Op = "ne" // true also when the field is null
	OpLt Op = "lt"
	OpLe Op = "le"
	OpGt Op = "gt"
	OpGe Op = "ge"

	OpIn    Op = "in" // field value is one of Values
	OpNotIn Op = "not_in"

	OpIsNull  Op = "is_null"
	OpNotNull Op = "not_null"

	OpContains Op = "contains" // substring, case-sensitive
	// OpContainsFold is a substring that ignores the case of ASCII letters
	// (what a search box does; other scripts have no case to ignore, or
	// are compared as written).
	OpContainsFold Op = "contains_fold"
	OpStartsWith   Op = "starts_with"
	OpEndsWith     Op = "ends_with"

	OpHas    Op = "has"     // a list field holds Value
	OpHasAny Op = "has_any" // a list field holds one of Values
)

// Cond is one node of the query IR. Field names a system or data field;
// Kind is its storage kind, which tells a store how to compare. Values are
// already in stored form (dates as strings, integers as int64).
type Cond struct {
	Op     Op
	Field  string
	Kind   metadata.Kind
	Value  any
	Values []any
	Args   []*Cond
}

// And joins conditions, dropping nils and trues.
func And(cs ...*Cond) *Cond {
	var args []*Cond
	for _, c := range cs {
		if c == nil || c.Op == OpTrue {
			continue
		}
		if c.Op == OpFalse {
			return &Cond{Op: OpFalse}
		}
		if c.Op == OpAnd {
			args = append(args, c.Args...)
			continue
		}
		args = append(args, c)
	}
	switch len(args) {
	case 0:
		return nil
	case 1:
		return args[0]
	}
	return &Cond{Op: OpAnd, Args: args}
}

// Or joins conditions.
func Or(cs ...*Cond) *Cond {
	var args []*Cond
	for _, c := range cs {
		if c == nil || c.Op == OpTrue {
			return &Cond{Op: OpTrue}
		}
		if c.Op == OpFalse {
			continue
		}
		if c.Op == OpOr {
			args = append(args, c.Args...)
			continue
		}
		args = append(args, c)
	}
	switch len(args) {
	case 0:
		return &Cond{Op: OpFalse}
	case 1:
		return args[0]
	}
	return &Cond{Op: OpOr, Args: args}
}

// String renders the condition for logs, errors and tests.
func (c *Cond) String() string {
	if c == nil {
		return "true"
	}
	switch c.Op {
	case OpTrue, OpFalse:
		return string(c.Op)
	case OpAnd, OpOr:
		parts := make([]string, len(c.Args))
		for i, a := range c.Args {
			parts[i] = a.String()
		}
		return "(" + strings.Join(parts, " "+string(c.Op)+" ") + ")"
	case OpNot:
		return "not " + c.Args[0].String()
	case OpIsNull, OpNotNull:
		return fmt.Sprintf("%s %s", c.Field, c.Op)
	case OpIn, OpNotIn, OpHasAny:
		return fmt.Sprintf("%s %s %v", c.Field, c.Op, c.Values)
	}
	return fmt.Sprintf("%s %s %#v", c.Field, c.Op, c.Value)
}

// Validate checks the tree's shape, so a malformed IR is refused before any
// backend translates it.
func (c *Cond) Validate() error {
	if c == nil {
		return nil
	}
	switch c.Op {
	case OpTrue, OpFalse:
		return nil
	case OpAnd, OpOr:
		if len(c.Args) == 0 {
			return fmt.Errorf("%s without operands", c.Op)
		}
		for _, a := range c.Args {
			if err := a.Validate(); err != nil {
				return err
			}
		}
		return nil
	case OpNot:
		if len(c.Args) != 1 {
			return fmt.Errorf("not takes one operand")
		}
		return c.Args[0].Validate()
	case OpEq, OpNe, OpLt, OpLe, OpGt, OpGe, OpIn, OpNotIn, OpIsNull, OpNotNull,
		OpContains, OpContainsFold, OpStartsWith, OpEndsWith, OpHas, OpHasAny:
		if !metadata.ValidName(c.Field) {
			return fmt.Errorf("invalid field name %q", c.Field)
		}
		return nil
	}
	return fmt.Errorf("unknown operator %q", c.Op)
}
