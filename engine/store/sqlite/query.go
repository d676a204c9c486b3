package sqlite

import (
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// systemColumns are the record columns that are not inside the JSON data.
var systemColumns = map[string]bool{
	"id": true, "version": true, "created_at": true, "updated_at": true,
	"created_by": true, "updated_by": true, "owner": true,
}

// column returns the SQL expression of a field. Names are checked against
// metadata.ValidName, so they can be spliced into SQL; values never are.
func column(field string) (string, error) {
	if !metadata.ValidName(field) {
		return "", fmt.Errorf("invalid field name %q", field)
	}
	if systemColumns[field] {
		return field, nil
	}
	return dataCol(field), nil
}

// asciiLower lower-cases ASCII letters only, as SQLite's lower() does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// sqlBuilder translates the query IR into a WHERE clause and its arguments.
type sqlBuilder struct {
	args []any
}

// Translate is cond exposed for the fuzz test and for EXPLAIN in tests.
func Translate(c *store.Cond) (string, []any, error) {
	var b sqlBuilder
	s, err := b.cond(c)
	return s, b.args, err
}

func (b *sqlBuilder) arg(v any) string {
	// SQLite's JSON functions return booleans as 0 and 1.
	if x, ok := v.(bool); ok {
		if x {
			v = 1
		} else {
			v = 0
		}
	}
	b.args = append(b.args, v)
	return "?"
}

func (b *sqlBuilder) cond(c *store.Cond) (string, error) {
	if c == nil {
		return "1", nil
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	return b.node(c)
}

func (b *sqlBuilder) node(c *store.Cond) (string, error) {
	switch c.Op {
	case store.OpTrue:
		return "1", nil
	case store.OpFalse:
		return "0", nil
	case store.OpAnd, store.OpOr:
		parts := make([]string, len(c.Args))
		for i, a := range c.Args {
			s, err := b.node(a)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		sep := " AND "
		if c.Op == store.OpOr {
			sep = " OR "
		}
		return "(" + strings.Join(parts, sep) + ")", nil
	case store.OpNot:
		s, err := b.node(c.Args[0])
		if err != nil {
			return "", err
		}
		// NOT over a comparison with NULL is NULL in SQL; coalesce keeps the
		// two-valued logic the expression language (and MongoDB) has.
		return "NOT coalesce(" + s + ", 0)", nil
	}
	col, err := column(c.Field)
	if err != nil {
		return "", err
	}
	switch c.Op {
	case store.OpEq:
		return col + " = " + b.arg(c.Value), nil
	case store.OpNe:
		return "(" + col + " IS NULL OR " + col + " <> " + b.arg(c.Value) + ")", nil
	case store.OpLt:
		return col + " < " + b.arg(c.Value), nil
	case store.OpLe:
		return col + " <= " + b.arg(c.Value), nil
	case store.OpGt:
		return col + " > " + b.arg(c.Value), nil
	case store.OpGe:
		return col + " >= " + b.arg(c.Value), nil
	case store.OpIn, store.OpNotIn:
		if len(c.Values) == 0 {
			if c.Op == store.OpIn {
				return "0", nil
			}
			return "1", nil
		}
		ph := make([]string, len(c.Values))
		for i, v := range c.Values {
			ph[i] = b.arg(v)
		}
		if c.Op == store.OpIn {
			return col + " IN (" + strings.Join(ph, ", ") + ")", nil
		}
		return "(" + col + " IS NULL OR " + col + " NOT IN (" + strings.Join(ph, ", ") + "))", nil
	case store.OpIsNull:
		return col + " IS NULL", nil
	case store.OpNotNull:
		return col + " IS NOT NULL", nil
	case store.OpContains, store.OpStartsWith, store.OpEndsWith:
		s, ok := c.Value.(string)
		if !ok {
			return "", fmt.Errorf("%s: %s needs a string", c.Field, c.Op)
		}
		if s == "" {
			return col + " IS NOT NULL", nil
		}
		switch c.Op {
		case store.OpContains:
			return "instr(" + col + ", " + b.arg(s) + ") > 0", nil
		case store.OpStartsWith:
			return fmt.Sprintf("substr(%s, 1, %d) = %s", col, len([]rune(s)), b.arg(s)), nil
		default:
			return fmt.Sprintf("substr(%s, -%d) = %s", col, len([]rune(s)), b.arg(s)), nil
		}
	case store.OpContainsFold:
		s, ok := c.Value.(string)
		if !ok {
			return "", fmt.Errorf("%s: %s needs a string", c.Field, c.Op)
		}
		if s == "" {
			return col + " IS NOT NULL", nil
		}
		// SQLite's lower() folds ASCII only; so does the needle here, so
		// both sides agree on every other letter as written.
		return "instr(lower(" + col + "), " + b.arg(asciiLower(s)) + ") > 0", nil
	case store.OpHas:
		return "EXISTS (SELECT 1 FROM json_each(data, '$." + c.Field + "') WHERE value = " + b.arg(c.Value) + ")", nil
	case store.OpHasAny:
		if len(c.Values) == 0 {
			return "0", nil
		}
		ph := make([]string, len(c.Values))
		for i, v := range c.Values {
			ph[i] = b.arg(v)
		}
		return "EXISTS (SELECT 1 FROM json_each(data, '$." + c.Field + "') WHERE value IN (" + strings.Join(ph, ", ") + "))", nil
	}
	return "", fmt.Errorf("unknown operator %q", c.Op)
}
