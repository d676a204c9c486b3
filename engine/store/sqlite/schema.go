package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// wantColumns are the data columns an entity's metadata asks for: one per
// field whose type is known, deleted (hidden) fields included, since their
// data stays until purged.
func wantColumns(e *metadata.Entity) ([]column, error) {
	var out []column
	for _, f := range e.Fields {
		if !metadata.ValidName(f.Name) {
			return nil, fmt.Errorf("sqlite: %s: invalid field name %q", e.Name, f.Name)
		}
		t, ok := metadata.LookupType(f.Type)
		if !ok || sysColumn[f.Name] {
			continue // no column: its data, if any, stays in the extra JSON
		}
		out = append(out, column{field: f.Name, fam: familyOf(t.Kind())})
	}
	return out, nil
}

func kindOf(e *metadata.Entity, field string) metadata.Kind {
	if f := e.AnyField(field); f != nil {
		if t, ok := metadata.LookupType(f.Type); ok {
			return t.Kind()
		}
	}
	return 0
}

// schemaTx runs fn in a transaction on the writer's connection with the
// writer held between batches, then drops the writer's prepared statements
// and the cached layout of entity: writes queued meanwhile see the new
// columns when they run.
func (s *Store) schemaTx(ctx context.Context, entity string, fn func(*sql.Tx) error) error {
	s.ckPause.Lock()
	defer s.ckPause.Unlock()
	s.writes.Add(1) // before the commit (see writer)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	l, err := readLayout(ctx, tx, entity)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.aggs.wrote(entity)
	// The writer is held (ckPause), so its statement cache is ours to
	// clear; statements name columns, and a purged field's name may come
	// back with another type.
	for q, st := range s.prepared {
		st.Close()
		delete(s.prepared, q)
	}
	if l != nil {
		s.layouts.Store(entity, l)
	} else {
		s.layouts.Delete(entity)
	}
	return nil
}

func createTable(table string, cols []column, trash bool) string {
	var sb strings.Builder
	sb.WriteString(`CREATE TABLE ` + table + ` (id BLOB PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL, created_by BLOB, updated_by BLOB, owner BLOB`)
	for _, c := range cols {
		sb.WriteString(", " + colName(c.field) + " " + declType[c.fam])
	}
	sb.WriteString(", " + extraCol + " JSONTEXT")
	if trash {
		sb.WriteString(", deleted_at TEXT NOT NULL, deleted_by TEXT")
	}
	sb.WriteString(`) WITHOUT ROWID`)
	return sb.String()
}

// EnsureEntity creates the entity's tables, migrates them from main's JSON
// layout, adds a column for each new field, changes the column of a field
// whose type changed family, and brings the indexes in line with the
// metadata — all in one transaction.
func (s *Store) EnsureEntity(ctx context.Context, e *metadata.Entity) error {
	if !metadata.ValidName(e.Name) {
		return fmt.Errorf("sqlite: invalid entity name %q", e.Name)
	}
	want, err := wantColumns(e)
	if err != nil {
		return err
	}
	rec, trash := recTable(e.Name), trashTable(e.Name)
	err = s.schemaTx(ctx, e.Name, func(tx *sql.Tx) error {
		l, err := readLayout(ctx, tx, e.Name)
		if err != nil {
			return err
		}
		switch {
		case l == nil:
			for _, q := range []string{createTable(rec, want, false), createTable(trash, want, true)} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("sqlite: create %s: %w", e.Name, err)
				}
			}
		case l.legacy:
			if err := migrateEntity(ctx, tx, e, want); err != nil {
				return err
			}
		default:
			if l.textIDs {
				if err := compactRecords(ctx, tx, e.Name); err != nil {
					return err
				}
			}
			if err := evolve(ctx, tx, e, l, want); err != nil {
				return err
			}
		}
		stmts := []string{
			`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_created_at" ON ` + rec + `(created_at)`,
			`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_updated_at" ON ` + rec + `(updated_at)`,
			`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_owner" ON ` + rec + `(owner)`,
			// Rows with data outside the columns are rare; this index finds
			// them without a scan and costs nothing for the others.
			`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_extra" ON ` + rec + `(id) WHERE ` + extraCol + ` IS NOT NULL`,
			`CREATE INDEX IF NOT EXISTS "tx_` + e.Name + `_extra" ON ` + trash + `(id) WHERE ` + extraCol + ` IS NOT NULL`,
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("sqlite: ensure %s: %w", e.Name, err)
			}
		}
		return ensureIndexes(ctx, tx, e)
	})
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `ANALYZE `+rec); err != nil {
		return err
	}
	return nil
}

// evolve brings an existing table's columns in line with the metadata:
// new fields get a column (taking over any values the extra JSON held for
// them), and a field whose type changed family gets a column of the new
// family with every value converted. Columns are never dropped here: a
// field leaves only through UnsetField (purge).
func evolve(ctx context.Context, tx *sql.Tx, e *metadata.Entity, l *layout, want []column) error {
	rec, trash := recTable(e.Name), trashTable(e.Name)
	if names, _, err := tableColumns(ctx, tx, "trash_"+e.Name); err != nil {
		return err
	} else if len(names) == 0 {
		if _, err := tx.ExecContext(ctx, createTable(trash, l.cols, true)); err != nil {
			return fmt.Errorf("sqlite: create the trash of %s: %w", e.Name, err)
		}
	}
	tl, err := trashLayout(ctx, tx, e.Name)
	if err != nil {
		return err
	}
	for _, c := range want {
		if tc, ok := tl.col(c.field); !ok {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+trash+` ADD COLUMN `+colName(c.field)+` `+declType[c.fam]); err != nil {
				return fmt.Errorf("sqlite: add %s.%s to the trash: %w", e.Name, c.field, err)
			}
			if err := adoptExtra(ctx, tx, e.Name, trash, c, true); err != nil {
				return err
			}
		} else if tc.fam != c.fam {
			if err := refamily(ctx, tx, e, trash, tc, c.fam, true); err != nil {
				return err
			}
		}
		have, ok := l.col(c.field)
		switch {
		case !ok:
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+rec+` ADD COLUMN `+colName(c.field)+` `+declType[c.fam]); err != nil {
				return fmt.Errorf("sqlite: add %s.%s: %w", e.Name, c.field, err)
			}
			if err := adoptExtra(ctx, tx, e.Name, rec, c, false); err != nil {
				return err
			}
		case have.fam != c.fam:
			if err := refamily(ctx, tx, e, rec, have, c.fam, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func trashLayout(ctx context.Context, q queryer, entity string) (*layout, error) {
	names, decls, err := tableColumns(ctx, q, "trash_"+entity)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("sqlite: table rec_%s has no trash table trash_%s", entity, entity)
	}
	return layoutFromColumns("trash_"+entity, entity, names, decls, true)
}

// adoptExtra moves a new column's values out of the extra JSON of the rows
// that hold one there. In the records a value that does not fit the column
// refuses the change; in the trash it stays where it is.
func adoptExtra(ctx context.Context, tx *sql.Tx, entity, table string, c column, trash bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, `+extraCol+` FROM `+table+` WHERE `+extraCol+` IS NOT NULL AND json_type(`+extraCol+`, '$.`+c.field+`') IS NOT NULL`)
	if err != nil {
		return err
	}
	type move struct {
		id    string
		v     any
		extra any
	}
	var moves []move
	for rows.Next() {
		var rid idCol
		var x string
		if err := rows.Scan(&rid, &x); err != nil {
			rows.Close()
			return err
		}
		id := rid.s
		v, err := decodeJSON("", x, nil)
		m, _ := v.(map[string]any)
		if err != nil || m == nil {
			rows.Close()
			return fmt.Errorf("sqlite: table %s: record %s: the extra data is not a JSON object", table, id)
		}
		ev, ok := encode(c.fam, m[c.field])
		if !ok {
			if trash {
				continue
			}
			rows.Close()
			return fmt.Errorf("sqlite: table %s: record %s holds %v in %s, which does not fit a %s column; nothing was changed",
				table, id, m[c.field], c.field, c.fam)
		}
		delete(m, c.field)
		mv := move{id: id, v: ev}
		if len(m) > 0 {
			x, err := marshalExtra(m)
			if err != nil {
				rows.Close()
				return err
			}
			mv.extra = x
		}
		moves = append(moves, mv)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, mv := range moves {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+colName(c.field)+` = ?, `+extraCol+` = ? WHERE id = ?`, mv.v, mv.extra, idArg(mv.id)); err != nil {
			return err
		}
	}
	return nil
}

// dropColumnIndexes drops the indexes that read a column: SQLite refuses
// to drop or rename an indexed column. EnsureEntity makes the wanted ones
// again afterwards.
func dropColumnIndexes(ctx context.Context, tx *sql.Tx, table, col string) error {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND instr(sql, ?) > 0`,
		strings.Trim(table, `"`), col)
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	for _, n := range names {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+n+`"`); err != nil {
			return err
		}
	}
	return rows.Err()
}

// refamily gives a field whose type changed family a column of the new
// family: every value is converted (text from anything, numbers and
// booleans from text, a list from a single value) in this transaction,
// or, in the records, the change is refused naming the first record that
// would not convert. The catalog has already checked and will rewrite
// each record with its exact new value; this keeps the table consistent
// whoever asks. A value in the trash that does not convert moves to that
// row's extra JSON, so nothing is lost.
func refamily(ctx context.Context, tx *sql.Tx, e *metadata.Entity, table string, old column, to family, trash bool) error {
	kind := kindOf(e, old.field)
	q := `SELECT id, ` + colName(old.field) + ` FROM ` + table + ` WHERE ` + colName(old.field) + ` IS NOT NULL`
	if trash {
		q = `SELECT id, ` + colName(old.field) + `, ` + extraCol + ` FROM ` + table + ` WHERE ` + colName(old.field) + ` IS NOT NULL`
	}
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	type change struct {
		id       string
		v, extra any
		keep     bool // the trash's extra changes too
	}
	var changes []change
	for rows.Next() {
		var rid idCol
		var raw, extra any
		dest := []any{&rid, &raw}
		if trash {
			dest = append(dest, &extra)
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return err
		}
		id := rid.s
		v, err := decode(e.Name, id, old, raw, nil)
		if err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: table %s: %w", table, err)
		}
		nv, ok := convert(v, to, kind)
		if ok {
			changes = append(changes, change{id: id, v: nv})
			continue
		}
		if !trash {
			rows.Close()
			return fmt.Errorf("sqlite: table %s: record %s: %v in %s cannot become a %s value; nothing was changed", table, id, v, old.field, to)
		}
		m := map[string]any{}
		if s, ok := extra.(string); ok {
			if x, err := decodeJSON("", s, nil); err == nil {
				if xm, ok := x.(map[string]any); ok {
					m = xm
				}
			}
		}
		m[old.field] = v
		x, err := marshalExtra(m)
		if err != nil {
			rows.Close()
			return err
		}
		changes = append(changes, change{id: id, extra: x, keep: true})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	tmp := `"t_` + old.field + `"`
	if _, err := tx.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+tmp+` `+declType[to]); err != nil {
		return err
	}
	for _, c := range changes {
		if c.keep {
			if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+extraCol+` = ? WHERE id = ?`, c.extra, idArg(c.id)); err != nil {
				return err
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+tmp+` = ? WHERE id = ?`, c.v, idArg(c.id)); err != nil {
			return err
		}
	}
	if err := dropColumnIndexes(ctx, tx, table, colName(old.field)); err != nil {
		return err
	}
	for _, q := range []string{`ALTER TABLE ` + table + ` DROP COLUMN ` + colName(old.field),
		`ALTER TABLE ` + table + ` RENAME COLUMN ` + tmp + ` TO ` + colName(old.field)} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: change the column of %s.%s: %w", e.Name, old.field, err)
		}
	}
	return nil
}

// ensureIndexes creates the indexes the metadata asks for and drops those
// it no longer does.
func ensureIndexes(ctx context.Context, tx *sql.Tx, e *metadata.Entity) error {
	rec := recTable(e.Name)
	want := map[string]string{} // index name → create statement
	for _, f := range e.LiveFields() {
		if _, ok := metadata.LookupType(f.Type); !ok {
			continue
		}
		if f.Unique {
			name := "ux_" + e.Name + "_" + f.Name
			want[name] = `CREATE UNIQUE INDEX "` + name + `" ON ` + rec + `(` + colName(f.Name) + `)`
		} else if f.Indexed {
			name := "ix_" + e.Name + "_" + f.Name
			want[name] = `CREATE INDEX "` + name + `" ON ` + rec + `(` + colName(f.Name) + `)`
		}
	}
	for _, ix := range e.Indexes {
		cols := make([]string, 0, len(ix.Fields))
		for _, f := range ix.Fields {
			if _, ok := e.KindOf(f); !ok || !metadata.ValidName(f) {
				cols = nil // a field deleted since: the index goes
				break
			}
			if sysColumn[f] {
				cols = append(cols, f)
			} else {
				cols = append(cols, colName(f))
			}
		}
		if len(cols) < 2 {
			continue
		}
		name := "cx_" + e.Name + "_" + ix.Name()
		want[name] = `CREATE INDEX "` + name + `" ON ` + rec + `(` + strings.Join(cols, ", ") + `)`
	}
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`, "rec_"+e.Name)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	rows.Close()
	for n := range have {
		if (strings.HasPrefix(n, "ix_") || strings.HasPrefix(n, "ux_") || strings.HasPrefix(n, "cx_")) && want[n] == "" {
			if _, err := tx.ExecContext(ctx, `DROP INDEX "`+n+`"`); err != nil {
				return err
			}
		}
	}
	for n, q := range want {
		if have[n] {
			continue
		}
		if _, err := tx.ExecContext(ctx, q); err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				f := strings.TrimPrefix(n, "ux_"+e.Name+"_")
				return fmt.Errorf("sqlite: existing records hold duplicate values of %s: %w", f, &store.UniqueError{Field: f})
			}
			return fmt.Errorf("sqlite: create index %s: %w", n, err)
		}
	}
	return nil
}

// UnsetField removes a field's data from every record and from the trash
// (purge of a deleted field), with its sides: its column is dropped, along
// with any index that still reads it, in one unit of work.
func (s *Store) UnsetField(ctx context.Context, entity, field string, sd store.Sides) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.UnsetField(ctx, entity, field, sd) })
}

// dropField drops field's column from the records and the trash of
// entity, in tx, and takes it out of any extra data that holds it.
func dropField(ctx context.Context, tx *sql.Tx, entity, field string) error {
	if !metadata.ValidName(field) {
		return fmt.Errorf("invalid field name %q", field)
	}
	if !metadata.ValidName(entity) {
		return fmt.Errorf("entity %q: %w", entity, store.ErrNotFound)
	}
	l, err := readLayout(ctx, tx, entity)
	if err != nil {
		return err
	}
	if l == nil {
		return fmt.Errorf("entity %s: %w", entity, store.ErrNotFound)
	}
	if l.legacy {
		return fmt.Errorf("sqlite: table rec_%s has not been migrated to columns yet", entity)
	}
	tl, err := trashLayout(ctx, tx, entity)
	if err != nil {
		return err
	}
	for _, t := range []struct {
		table string
		l     *layout
	}{{recTable(entity), l}, {trashTable(entity), tl}} {
		if _, ok := t.l.col(field); ok {
			if err := dropColumnIndexes(ctx, tx, t.table, colName(field)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+t.table+` DROP COLUMN `+colName(field)); err != nil {
				return mapErr(entity, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+t.table+` SET `+extraCol+` = nullif(json_remove(`+extraCol+`, '$.`+field+`'), '{}')
			WHERE `+extraCol+` IS NOT NULL`); err != nil {
			return mapErr(entity, err)
		}
	}
	return nil
}
