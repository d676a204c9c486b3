package expression

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// ProgramFunctions are the functions formulas, defaults and rules may call
// besides expr's built-ins (len, now, date, …).
var ProgramFunctions = []string{"today", "days_ago", "days_ahead"}

// CheckNames refuses the first name src uses that known does not know —
// a field misspelt in a formula or a rule would otherwise just read as
// empty — with its position. Function names, member names (user.region)
// and variables the expression declares itself (let x = …) are not checked.
func CheckNames(src string, known func(name string) bool) error {
	tree, err := parser.Parse(src)
	if err != nil {
		return syntaxError("does not compile: ", err)
	}
	v := &nameVisitor{callees: map[ast.Node]bool{}}
	ast.Walk(&tree.Node, v) // children before parents: decide afterwards
	for _, id := range v.idents {
		if v.callees[id] || slices.Contains(v.declared, id.Value) || known(id.Value) {
			continue
		}
		e := atNode(id, &Error{Part: id.Value, Field: id.Value, Message: fmt.Sprintf("unknown field %q", id.Value)})
		locate(e, src)
		return e
	}
	return nil
}

type nameVisitor struct {
	idents   []*ast.IdentifierNode
	declared []string
	callees  map[ast.Node]bool
}

func (v *nameVisitor) Visit(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.CallNode:
		v.callees[x.Callee] = true
	case *ast.VariableDeclaratorNode:
		v.declared = append(v.declared, x.Name)
	case *ast.IdentifierNode:
		v.idents = append(v.idents, x)
	}
}
