package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// EnsureEntity creates the entity's tables and brings its indexes in line
// with the metadata.
func (s *Store) EnsureEntity(ctx context.Context, e *metadata.Entity) error {
	if !metadata.ValidName(e.Name) {
		return fmt.Errorf("sqlite: invalid entity name %q", e.Name)
	}
	cols := `id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
		created_by TEXT, updated_by TEXT, owner TEXT, data TEXT NOT NULL`
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + recTable(e.Name) + ` (` + cols + `) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS ` + trashTable(e.Name) + ` (` + cols + `, deleted_at TEXT NOT NULL, deleted_by TEXT) WITHOUT ROWID`,
		`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_created_at" ON ` + recTable(e.Name) + `(created_at)`,
		`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_updated_at" ON ` + recTable(e.Name) + `(updated_at)`,
		`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_owner" ON ` + recTable(e.Name) + `(owner)`,
	}
	for _, q := range stmts {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: ensure %s: %w", e.Name, err)
		}
	}
	want := map[string]string{} // index name → create statement
	for _, f := range e.LiveFields() {
		col := dataCol(f.Name)
		if f.Unique {
			name := "ux_" + e.Name + "_" + f.Name
			want[name] = `CREATE UNIQUE INDEX "` + name + `" ON ` + recTable(e.Name) + `(` + col + `)`
		} else if f.Indexed {
			name := "ix_" + e.Name + "_" + f.Name
			want[name] = `CREATE INDEX "` + name + `" ON ` + recTable(e.Name) + `(` + col + `)`
		}
	}
	for _, ix := range e.Indexes {
		cols := make([]string, 0, len(ix.Fields))
		for _, f := range ix.Fields {
			if _, ok := e.KindOf(f); !ok {
				cols = nil // a field deleted since: the index goes
				break
			}
			c, err := column(f)
			if err != nil {
				return err
			}
			cols = append(cols, c)
		}
		if len(cols) < 2 {
			continue
		}
		name := "cx_" + e.Name + "_" + ix.Name()
		want[name] = `CREATE INDEX "` + name + `" ON ` + recTable(e.Name) + `(` + strings.Join(cols, ", ") + `)`
	}
	rows, err := s.w.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`, "rec_"+e.Name)
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
			if _, err := s.w.ExecContext(ctx, `DROP INDEX "`+n+`"`); err != nil {
				return err
			}
		}
	}
	for n, q := range want {
		if have[n] {
			continue
		}
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				f := strings.TrimPrefix(n, "ux_"+e.Name+"_")
				return fmt.Errorf("sqlite: existing records hold duplicate values of %s: %w", f, &store.UniqueError{Field: f})
			}
			return fmt.Errorf("sqlite: create index %s: %w", n, err)
		}
	}
	if _, err := s.w.ExecContext(ctx, `ANALYZE `+recTable(e.Name)); err != nil {
		return err
	}
	return nil
}

func dataCol(field string) string { return `json_extract(data, '$.` + field + `')` }
