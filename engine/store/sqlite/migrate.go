package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/metadata"
)

// maxFinite is the largest finite float64: a JSON number beyond it (1e400,
// which an older version let through) parses as infinity.
const maxFinite = "1.7976931348623157e308"

// jsonTypesOf are the JSON types (as json_each reports them) a family's
// column takes from main's data JSON; null fits every one.
var jsonTypesOf = map[family]string{
	famText: `'text'`,
	famReal: `'integer', 'real'`,
	// A number beyond the integers (12345678901234567890, which main
	// stored) stays: reads report it as unreadable and jimu doctor repairs
	// it, as every other value no client can read.
	famInteger: `'integer', 'real'`,
	famBool:    `'true', 'false'`,
}

// migrateEntity rebuilds an entity's two tables written by main (system
// columns and a data JSON column) with a column per field, in the caller's
// transaction: a crash part-way leaves the old tables as they were, and the
// next start begins again. It first checks every value against its
// column and refuses, naming the table, the record and the field, rather
// than drop or rewrite a value that does not fit. Keys that no field names
// move to the extra JSON unchanged; numbers that are not finite are kept
// (SQLite reads 1e400 as infinity), with a warning: a read reports them as
// unreadable and jimu doctor lists and repairs them.
func migrateEntity(ctx context.Context, tx *sql.Tx, e *metadata.Entity, want []column) error {
	t0 := time.Now()
	for _, trash := range []bool{false, true} {
		table := "rec_" + e.Name
		if trash {
			table = "trash_" + e.Name
		}
		names, decls, err := tableColumns(ctx, tx, table)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return fmt.Errorf("sqlite: migrate %s: the table is missing", table)
		}
		l, err := layoutFromColumns(table, e.Name, names, decls, trash)
		if err != nil {
			return err
		}
		if !l.legacy || len(l.cols) > 0 {
			return fmt.Errorf("sqlite: migrate %s: the table has neither main's layout nor this version's; refusing to change it", table)
		}
		if err := checkLegacy(ctx, tx, table, want); err != nil {
			return err
		}
		n, err := rebuild(ctx, tx, table, want, trash)
		if err != nil {
			return err
		}
		slog.Info("sqlite: migrated a table to columns", "table", table, "records", n, "took", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// checkLegacy finds the first value of main's data JSON that its column
// could not hold, in one pass over the table.
func checkLegacy(ctx context.Context, tx *sql.Tx, table string, want []column) error {
	var bad []string
	for _, c := range want {
		types, ok := jsonTypesOf[c.fam]
		if !ok {
			continue // a JSON column takes any value
		}
		cond := "(j.key = '" + c.field + "' AND j.type NOT IN ('null', " + types + ")"
		if c.fam == famInteger {
			cond += " AND NOT (j.type = 'real' AND abs(j.atom) > " + maxFinite + ")"
		}
		bad = append(bad, cond+")")
	}
	q := `SELECT t.id, '', '' FROM "` + table + `" t WHERE json_valid(t.data) = 0 OR json_type(t.data) <> 'object' LIMIT 1`
	var id, key, typ string
	err := tx.QueryRowContext(ctx, q).Scan(&id, &key, &typ)
	if err == nil {
		return fmt.Errorf("sqlite: migrate %s: record %s: its data is not a JSON object; refusing to start (nothing was changed)", table, id)
	}
	if err != sql.ErrNoRows {
		return fmt.Errorf("sqlite: migrate %s: %w", table, err)
	}
	if len(bad) == 0 {
		return nil
	}
	q = `SELECT t.id, j.key, j.type FROM "` + table + `" t, json_each(t.data) j WHERE ` + strings.Join(bad, " OR ") + ` LIMIT 1`
	err = tx.QueryRowContext(ctx, q).Scan(&id, &key, &typ)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", table, err)
	}
	fam := famNone
	for _, c := range want {
		if c.field == key {
			fam = c.fam
		}
	}
	return fmt.Errorf("sqlite: migrate %s: record %s: field %s holds a JSON %s, which does not fit its %s column; refusing to start (nothing was changed): fix the value, or change the field's type with the version that wrote it",
		table, id, key, typ, fam)
}

// rebuild copies main's table into a new one with a column per field,
// then puts the new one in its place. It reports how many rows it copied.
func rebuild(ctx context.Context, tx *sql.Tx, table string, want []column, trash bool) (int64, error) {
	tmp := `"mig_` + table + `"`
	if _, err := tx.ExecContext(ctx, createTable(tmp, want, trash)); err != nil {
		return 0, fmt.Errorf("sqlite: migrate %s: %w", table, err)
	}
	var dst, src strings.Builder
	dst.WriteString(sysCols)
	src.WriteString(sysColsCompacted)
	var paths []string
	for _, c := range want {
		path := `'$.` + c.field + `'`
		paths = append(paths, path)
		dst.WriteString(", " + colName(c.field))
		switch c.fam {
		case famJSON:
			// -> keeps the JSON text of the value; a JSON null is no value.
			src.WriteString(", nullif(data -> " + path + ", 'null')")
		default:
			src.WriteString(", data ->> " + path)
		}
	}
	// What no field names stays, unchanged, in the extra JSON.
	extra := "data"
	for len(paths) > 0 {
		n := min(len(paths), 100) // SQLite's limit on a function's arguments
		extra = "json_remove(" + extra + ", " + strings.Join(paths[:n], ", ") + ")"
		paths = paths[n:]
	}
	dst.WriteString(", " + extraCol)
	src.WriteString(", nullif(" + extra + ", '{}')")
	if trash {
		dst.WriteString(", deleted_at, deleted_by")
		src.WriteString(", deleted_at, deleted_by")
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO `+tmp+` (`+dst.String()+`) SELECT `+src.String()+` FROM "`+table+`"`)
	if err != nil {
		return 0, fmt.Errorf("sqlite: migrate %s: %w", table, err)
	}
	n, _ := res.RowsAffected()
	if err := warnNotFinite(ctx, tx, table, want); err != nil {
		return 0, err
	}
	for _, q := range []string{`DROP TABLE "` + table + `"`, `ALTER TABLE ` + tmp + ` RENAME TO "` + table + `"`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return 0, fmt.Errorf("sqlite: migrate %s: %w", table, err)
		}
	}
	return n, nil
}

// warnNotFinite logs the numbers no client can read that the migration
// carried over.
func warnNotFinite(ctx context.Context, tx *sql.Tx, table string, want []column) error {
	var conds []string
	for _, c := range want {
		if c.fam == famReal || c.fam == famInteger {
			conds = append(conds, "j.key = '"+c.field+"'")
		}
	}
	if len(conds) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT j.key, count(*) FROM "`+table+`" t, json_each(t.data) j
		WHERE j.type = 'real' AND abs(j.atom) > `+maxFinite+` AND (`+strings.Join(conds, " OR ")+`) GROUP BY j.key`)
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var n int64
		if err := rows.Scan(&key, &n); err != nil {
			return err
		}
		slog.Warn("sqlite: migrated numbers that are not finite; they read as no value until `jimu doctor --repair`", "table", table, "field", key, "records", n)
	}
	return rows.Err()
}

func marshalExtra(m map[string]any) (string, error) {
	b, err := json.Marshal(m)
	return string(b), err
}

// convert turns a value into one of another family, as the catalog's type
// change does: text from anything, numbers and booleans from text, a list
// from a single value. ok is false when the value has no such form.
func convert(v any, to family, kind metadata.Kind) (any, bool) {
	switch to {
	case famText:
		switch x := v.(type) {
		case string:
			return x, true
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), true
		case int64:
			return strconv.FormatInt(x, 10), true
		case bool:
			return strconv.FormatBool(x), true
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			return strings.Join(parts, ", "), true
		case map[string]any:
			b, err := json.Marshal(x)
			return string(b), err == nil
		}
	case famReal, famInteger:
		var n any = v
		switch x := v.(type) {
		case string:
			n = json.Number(strings.TrimSpace(x))
		case bool:
			n = int64(0)
			if x {
				n = int64(1)
			}
		}
		return encode(to, n)
	case famBool:
		switch x := v.(type) {
		case bool:
			return encode(to, x)
		case int64:
			return encode(to, x != 0)
		case float64:
			if x == 0 || x == 1 {
				return encode(to, x == 1)
			}
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "yes", "1", "y", "是":
				return encode(to, true)
			case "false", "no", "0", "n", "否", "":
				return encode(to, false)
			}
		}
	case famJSON:
		if _, isList := v.([]any); kind == metadata.KindList && !isList {
			v = []any{v}
		}
		return encode(to, v)
	}
	return nil, false
}
