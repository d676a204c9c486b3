package sqlite

import (
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// sqlBuilder translates the query IR into a WHERE clause and its
// arguments, over an entity's columns.
type sqlBuilder struct {
	l    *layout
	args []any
}

// column returns the SQL expression of a field: a system column, the
// field's own column, or (for a key with no column) its place in the extra
// JSON. Names are checked against metadata.ValidName, so they can be
// spliced into SQL; values never are.
func (b *sqlBuilder) column(field string) (string, error) {
	if !metadata.ValidName(field) {
		return "", fmt.Errorf("invalid field name %q", field)
	}
	if sysColumn[field] {
		return field, nil
	}
	if _, ok := b.l.col(field); ok {
		return colName(field), nil
	}
	return `json_extract(` + extraCol + `, '$.` + field + `')`, nil
}

// list returns the json_each source of a list field.
func (b *sqlBuilder) list(field string) string {
	if _, ok := b.l.col(field); ok {
		return "json_each(" + colName(field) + ")"
	}
	return "json_each(" + extraCol + ", '$." + field + "')"
}

// Translate is cond exposed for the fuzz test and for EXPLAIN in tests,
// over a layout in which each field the condition names has a column of
// its Kind (and a field without a Kind has none).
func Translate(c *store.Cond) (string, []any, error) {
	var cols []column
	seen := map[string]bool{}
	var walk func(*store.Cond)
	walk = func(c *store.Cond) {
		if c == nil {
			return
		}
		if f := familyOf(c.Kind); f != famNone && metadata.ValidName(c.Field) && !sysColumn[c.Field] && !seen[c.Field] {
			seen[c.Field] = true
			cols = append(cols, column{field: c.Field, fam: f})
		}
		for _, a := range c.Args {
			walk(a)
		}
	}
	walk(c)
	b := sqlBuilder{l: newLayout("t", cols, false)}
	s, err := b.cond(c)
	return s, b.args, err
}

func (b *sqlBuilder) arg(v any) string {
	// Boolean columns hold 0 and 1, as SQLite's JSON functions return them.
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
	col, err := b.column(c.Field)
	if err != nil {
		return "", err
	}
	arg := b.arg
	if idSysColumn[c.Field] {
		// Compared as stored (decision 30), so the index serves; a
		// substring is looked for in the text.
		arg = func(v any) string {
			if s, ok := v.(string); ok {
				return b.arg(idArg(s))
			}
			return b.arg(v)
		}
		switch c.Op {
		case store.OpContains, store.OpStartsWith, store.OpEndsWith, store.OpContainsFold:
			col, arg = idTextSQL(col), b.arg
		case store.OpLt, store.OpLe, store.OpGt, store.OpGe:
			// Blobs sort after all text: a bound that is not a UUID is
			// compared with the text, as the ids read.
			if s, ok := c.Value.(string); ok {
				if _, canon := uuidBytes(s); !canon {
					col, arg = idTextSQL(col), b.arg
				}
			}
		}
	}
	switch c.Op {
	case store.OpEq:
		return col + " = " + arg(c.Value), nil
	case store.OpNe:
		return "(" + col + " IS NULL OR " + col + " <> " + arg(c.Value) + ")", nil
	case store.OpLt:
		return col + " < " + arg(c.Value), nil
	case store.OpLe:
		return col + " <= " + arg(c.Value), nil
	case store.OpGt:
		return col + " > " + arg(c.Value), nil
	case store.OpGe:
		return col + " >= " + arg(c.Value), nil
	case store.OpIn, store.OpNotIn:
		if len(c.Values) == 0 {
			if c.Op == store.OpIn {
				return "0", nil
			}
			return "1", nil
		}
		ph := make([]string, len(c.Values))
		for i, v := range c.Values {
			ph[i] = arg(v)
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
			return "instr(" + col + ", " + arg(s) + ") > 0", nil
		case store.OpStartsWith:
			return fmt.Sprintf("substr(%s, 1, %d) = %s", col, len([]rune(s)), arg(s)), nil
		default:
			return fmt.Sprintf("substr(%s, -%d) = %s", col, len([]rune(s)), arg(s)), nil
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
		return "instr(lower(" + col + "), " + arg(asciiLower(s)) + ") > 0", nil
	case store.OpHas:
		return "EXISTS (SELECT 1 FROM " + b.list(c.Field) + " WHERE value = " + arg(c.Value) + ")", nil
	case store.OpHasAny:
		if len(c.Values) == 0 {
			return "0", nil
		}
		ph := make([]string, len(c.Values))
		for i, v := range c.Values {
			ph[i] = arg(v)
		}
		return "EXISTS (SELECT 1 FROM " + b.list(c.Field) + " WHERE value IN (" + strings.Join(ph, ", ") + "))", nil
	}
	return "", fmt.Errorf("unknown operator %q", c.Op)
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
