package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// family is how a column stores its values. Kinds that store alike share
// one (string, date and datetime are all TEXT), so a type change between
// them rewrites values but not the column.
type family int

const (
	famNone family = iota
	famText
	famReal
	famInteger
	famBool
	famJSON
)

// The declared type of each family's columns: the table itself says what
// each column holds, so the store reads its layout from the schema and
// needs no catalog of its own. BOOLEAN has NUMERIC affinity (0 and 1 stay
// integers); JSONTEXT has TEXT affinity, so a JSON scalar such as 5 stays
// the text "5" rather than becoming a number.
var declType = map[family]string{famText: "TEXT", famReal: "REAL", famInteger: "INTEGER", famBool: "BOOLEAN", famJSON: "JSONTEXT"}

func familyOfDecl(decl string) family {
	for f, d := range declType {
		if strings.EqualFold(d, decl) {
			return f
		}
	}
	return famNone
}

func familyOf(k metadata.Kind) family {
	switch k {
	case metadata.KindString, metadata.KindDate, metadata.KindDateTime:
		return famText
	case metadata.KindNumber:
		return famReal
	case metadata.KindInteger:
		return famInteger
	case metadata.KindBoolean:
		return famBool
	case metadata.KindList, metadata.KindJSON:
		return famJSON
	}
	return famNone
}

func (f family) String() string {
	switch f {
	case famText:
		return "text"
	case famReal:
		return "number"
	case famInteger:
		return "integer"
	case famBool:
		return "boolean"
	case famJSON:
		return "JSON"
	}
	return "unknown"
}

// extraCol holds, as a JSON object, the data of a record that has no
// column: keys that no field of the metadata names (a database written by
// an older version, a field purged while a write was in flight). It is
// NULL for nearly every row; keeping it means a write never loses a key.
const extraCol = "extra"

// colName is the column of a data field. The prefix keeps field names
// apart from the system columns; names are checked by metadata.ValidName.
func colName(field string) string { return `"f_` + field + `"` }

// column is one data field's column.
type column struct {
	field string
	fam   family
}

// layout is an entity's table as it is on disk: its data columns in table
// order.
type layout struct {
	entity  string
	cols    []column
	byField map[string]int // field → index in cols
	legacy  bool           // the table still has main's JSON data column: not migrated yet
	textIDs bool           // its ids are text, as before decision 30: not compacted yet
	sel     string         // the SELECT list of a whole record
	insert  string         // the writes of a whole record
	update  string
}

func newLayout(entity string, cols []column, legacy bool) *layout {
	l := &layout{entity: entity, cols: cols, byField: make(map[string]int, len(cols)), legacy: legacy}
	var sb strings.Builder
	sb.WriteString(sysCols)
	for i, c := range cols {
		l.byField[c.field] = i
		sb.WriteString(", " + colName(c.field))
	}
	sb.WriteString(", " + extraCol)
	l.sel = sb.String()
	l.insert, l.update = insertSQL(l), updateSQL(l)
	return l
}

func (l *layout) col(field string) (column, bool) {
	i, ok := l.byField[field]
	if !ok {
		return column{}, false
	}
	return l.cols[i], true
}

// sysCols are the system columns every record table starts with. Its
// ids — id, created_by, updated_by, owner — are kept as idArg keeps them
// (decision 30): in a record table a blob is always an id, as no field's
// column holds one.
const sysCols = `id, version, created_at, updated_at, created_by, updated_by, owner`

// sysColsCompacted are sysCols read from a table whose ids are text, as
// a compact table stores them.
var sysColsCompacted = uuidSQL("id") + `, version, created_at, updated_at, ` + uuidSQL("created_by") + `, ` +
	uuidSQL("updated_by") + `, ` + uuidSQL("owner")

// idSysColumn are the system columns that hold ids.
var idSysColumn = map[string]bool{"id": true, "created_by": true, "updated_by": true, "owner": true}

var sysColumn = map[string]bool{"id": true, "version": true, "created_at": true, "updated_at": true,
	"created_by": true, "updated_by": true, "owner": true}

// queryer is what reading a table's columns needs: the readers' pool, or
// a write transaction that may have changed them.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// tableColumns returns a table's column names and declared types, in table
// order; none when the table does not exist.
func tableColumns(ctx context.Context, q queryer, table string) (names, decls []string, err error) {
	rows, err := q.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return nil, nil, err
		}
		names, decls = append(names, n), append(decls, d)
	}
	return names, decls, rows.Err()
}

// readLayout reads an entity's record table; nil when it does not exist.
func readLayout(ctx context.Context, q queryer, entity string) (*layout, error) {
	names, decls, err := tableColumns(ctx, q, "rec_"+entity)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	return layoutFromColumns("rec_"+entity, entity, names, decls, false)
}

// layoutOf returns the entity's layout, read from the schema the first time
// and kept until EnsureEntity or UnsetField changes the table. An entity
// without a table answers ErrNotFound, as a missing table always has.
func (s *Store) layoutOf(ctx context.Context, entity string) (*layout, error) {
	if l, ok := s.layouts.Load(entity); ok {
		return l.(*layout), nil
	}
	if !metadata.ValidName(entity) {
		return nil, fmt.Errorf("entity %q: %w", entity, store.ErrNotFound)
	}
	l, err := readLayout(ctx, s.r, entity)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, fmt.Errorf("entity %s: %w", entity, store.ErrNotFound)
	}
	if l.legacy {
		return nil, fmt.Errorf("sqlite: table rec_%s has not been migrated to columns yet (EnsureEntity migrates it)", entity)
	}
	if l.textIDs {
		return nil, fmt.Errorf("sqlite: table rec_%s still keeps its ids as text (EnsureEntity compacts it)", entity)
	}
	// A schema change may have stored a newer layout meanwhile: keep it.
	got, _ := s.layouts.LoadOrStore(entity, l)
	return got.(*layout), nil
}

// layoutFromColumns builds a layout from a table's (name, declared type)
// pairs, in table order. found is false when the table does not exist.
func layoutFromColumns(table, entity string, names, decls []string, trash bool) (*layout, error) {
	var cols []column
	legacy, textIDs := false, false
	for i, n := range names {
		switch {
		case n == "id":
			textIDs = !strings.EqualFold(decls[i], "BLOB")
		case sysColumn[n] || n == extraCol:
		case trash && (n == "deleted_at" || n == "deleted_by"):
		case n == "data":
			legacy = true
		case strings.HasPrefix(n, "f_") && metadata.ValidName(n[2:]) && familyOfDecl(decls[i]) != famNone:
			cols = append(cols, column{field: n[2:], fam: familyOfDecl(decls[i])})
		default:
			return nil, fmt.Errorf("sqlite: table %s has a column %q (%s) that Jimu did not make; refusing to use it", table, n, decls[i])
		}
	}
	l := newLayout(entity, cols, legacy)
	l.textIDs = textIDs
	return l, nil
}

// encode turns a value of Record.Data into what its column stores. ok is
// false when the value does not fit the family (a string for a number
// column): the caller refuses the write or keeps the value elsewhere.
func encode(f family, v any) (any, bool) {
	if v == nil {
		return nil, true
	}
	switch f {
	case famText:
		s, ok := v.(string)
		return s, ok
	case famReal:
		switch x := v.(type) {
		case float64:
			return x, !math.IsInf(x, 0) && !math.IsNaN(x)
		case int64:
			return float64(x), true
		case int:
			return float64(x), true
		case json.Number:
			n, err := x.Float64()
			return n, err == nil && !math.IsInf(n, 0)
		}
	case famInteger:
		switch x := v.(type) {
		case int64:
			return x, true
		case int:
			return int64(x), true
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), true
			}
		case json.Number:
			n, err := x.Int64()
			return n, err == nil
		}
	case famBool:
		if b, ok := v.(bool); ok {
			if b {
				return int64(1), true
			}
			return int64(0), true
		}
	case famJSON:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, false
		}
		return string(b), true
	}
	return nil, false
}

// decode turns what a column holds back into the Go value the engine
// expects (float64, int64, bool, string, []any, map[string]any). A value
// no JSON client can read — a number that is not finite, or an integer
// column holding a number beyond the integers (what versions before issue
// 13 let through) — reads as no value, and bad records where it was and
// what was stored, so the record can still be read, changed and deleted,
// and `jimu doctor` can report it.
func decode(entity, id string, c column, v any, bad *store.Unreadable) (any, error) {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	if v == nil {
		return nil, nil
	}
	switch c.fam {
	case famText:
		switch x := v.(type) {
		case string:
			return x, nil
		}
	case famReal:
		switch x := v.(type) {
		case float64:
			if !store.Finite(x) {
				bad.Add(c.field, strconv.FormatFloat(x, 'g', -1, 64))
				return nil, nil
			}
			return x, nil
		case int64:
			return float64(x), nil
		}
	case famInteger:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int64(x), nil
			}
			bad.Add(c.field, strconv.FormatFloat(x, 'g', -1, 64))
			return nil, nil
		}
	case famBool:
		if x, ok := v.(int64); ok {
			return x != 0, nil
		}
	case famJSON:
		if s, ok := v.(string); ok {
			return decodeJSON(c.field, s, bad)
		}
	}
	return nil, fmt.Errorf("sqlite: %s %s: field %s holds %T %v, which is not a %s value", entity, id, c.field, v, v, c.fam)
}

// decodeJSON reads a JSON value stored in a column: field's value, or,
// with field "", the extra object whose keys are fields.
func decodeJSON(field, s string, bad *store.Unreadable) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if m, ok := v.(map[string]any); ok && field == "" {
		return store.PlainNumbers(m, bad), nil
	}
	return store.PlainNumbers(map[string]any{field: v}, bad)[field], nil
}
