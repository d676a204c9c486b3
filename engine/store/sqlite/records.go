package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

const recCols = `id, version, created_at, updated_at, created_by, updated_by, owner, data`

func (s *Store) Insert(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	data, err := json.Marshal(r.Data)
	if err != nil {
		return err
	}
	es, err := encodeSides(sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO `+recTable(entity)+` (`+recCols+`) VALUES (?,?,?,?,?,?,?,?)`,
			r.ID, r.Version, ts(r.CreatedAt), ts(r.UpdatedAt), r.CreatedBy, r.UpdatedBy, r.Owner, string(data))
		if err != nil {
			return mapErr(entity, err)
		}
		return writeSides(ctx, tx, es)
	})
}

func (s *Store) Get(ctx context.Context, entity, id string) (*store.Record, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+recCols+` FROM `+recTable(entity)+` WHERE id = ?`, id)
	r, err := scanRecord(row)
	if err != nil {
		return nil, mapErr(entity, err)
	}
	return r, nil
}

func (s *Store) Update(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	data, err := json.Marshal(r.Data)
	if err != nil {
		return err
	}
	es, err := encodeSides(sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE `+recTable(entity)+` SET version = ?, updated_at = ?, updated_by = ?, owner = ?, data = ?
			WHERE id = ? AND version = ?`, r.Version, ts(r.UpdatedAt), r.UpdatedBy, r.Owner, string(data), r.ID, r.Version-1)
		if err != nil {
			return mapErr(entity, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.missingOrConflict(ctx, tx, entity, r.ID)
		}
		return writeSides(ctx, tx, es)
	})
}

func (s *Store) missingOrConflict(ctx context.Context, tx *wtx, entity, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+recTable(entity)+` WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %s: %w", entity, id, store.ErrNotFound)
	}
	if err != nil {
		return mapErr(entity, err)
	}
	return fmt.Errorf("%s %s: %w", entity, id, store.ErrConflict)
}

func (s *Store) Delete(ctx context.Context, entity, id string, version int64, sd store.Sides) error {
	es, err := encodeSides(sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error {
		actor := ""
		if sd.Audit != nil {
			actor = sd.Audit.Actor
		}
		cond := `id = ?`
		args := []any{ts(time.Now()), actor, id}
		if version > 0 {
			cond += ` AND version = ?`
			args = append(args, version)
		}
		res, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO `+trashTable(entity)+` (`+recCols+`, deleted_at, deleted_by)
			SELECT `+recCols+`, ?, ? FROM `+recTable(entity)+` WHERE `+cond, args...)
		if err != nil {
			return mapErr(entity, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.missingOrConflict(ctx, tx, entity, id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+recTable(entity)+` WHERE id = ?`, id); err != nil {
			return mapErr(entity, err)
		}
		return writeSides(ctx, tx, es)
	})
}

func (s *Store) Find(ctx context.Context, entity string, q store.Query) ([]*store.Record, error) {
	var b sqlBuilder
	where, err := b.cond(q.Filter)
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	sb.WriteString(`SELECT ` + recCols + ` FROM ` + recTable(entity) + ` WHERE ` + where)
	if len(q.Sort) > 0 {
		sb.WriteString(` ORDER BY `)
		for i, k := range q.Sort {
			if i > 0 {
				sb.WriteString(", ")
			}
			col, err := column(k.Field)
			if err != nil {
				return nil, err
			}
			sb.WriteString(col)
			if k.Desc {
				sb.WriteString(" DESC")
			}
		}
	}
	if q.Limit > 0 {
		fmt.Fprintf(&sb, " LIMIT %d", q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, sb.String(), b.args...)
	if err != nil {
		return nil, mapErr(entity, err)
	}
	defer rows.Close()
	var out []*store.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		if q.Fields != nil {
			keep := make(map[string]any, len(q.Fields))
			for _, f := range q.Fields {
				if v, ok := r.Data[f]; ok {
					keep[f] = v
				}
			}
			r.Data = keep
		}
		out = append(out, r)
	}
	return out, mapErr(entity, rows.Err())
}

func (s *Store) Count(ctx context.Context, entity string, filter *store.Cond, limit int64) (int64, bool, error) {
	var b sqlBuilder
	where, err := b.cond(filter)
	if err != nil {
		return 0, false, err
	}
	// Never an unbounded COUNT: the inner LIMIT stops the scan at the cap.
	q := `SELECT count(*) FROM (SELECT 1 FROM ` + recTable(entity) + ` WHERE ` + where + fmt.Sprintf(` LIMIT %d)`, limit+1)
	var n int64
	if err := s.r.QueryRowContext(ctx, q, b.args...).Scan(&n); err != nil {
		return 0, false, mapErr(entity, err)
	}
	if n > limit {
		return limit, true, nil
	}
	return n, false, nil
}

func (s *Store) UnsetField(ctx context.Context, entity, field string) error {
	if !metadata.ValidName(field) {
		return fmt.Errorf("invalid field name %q", field)
	}
	return s.tx(ctx, func(tx *wtx) error {
		for _, t := range []string{recTable(entity), trashTable(entity)} {
			if _, err := tx.ExecContext(ctx, `UPDATE `+t+` SET data = json_remove(data, '$.`+field+`') WHERE `+dataCol(field)+` IS NOT NULL`); err != nil {
				return mapErr(entity, err)
			}
		}
		return nil
	})
}

func (s *Store) NextSequence(ctx context.Context, name string) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO sequences (name, value) VALUES (?, 1)
			ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`, name).Scan(&n)
	})
	return n, err
}

func scanRecord(sc scanner) (*store.Record, error) {
	var r store.Record
	var created, updated, data string
	var createdBy, updatedBy, owner sql.NullString
	if err := sc.Scan(&r.ID, &r.Version, &created, &updated, &createdBy, &updatedBy, &owner, &data); err != nil {
		return nil, err
	}
	r.CreatedAt, _ = time.Parse(metadata.DateTimeLayout, created)
	r.UpdatedAt, _ = time.Parse(metadata.DateTimeLayout, updated)
	r.CreatedBy, r.UpdatedBy, r.Owner = createdBy.String, updatedBy.String, owner.String
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&r.Data); err != nil {
		return nil, fmt.Errorf("record %s: corrupt data: %w", r.ID, err)
	}
	r.Data = store.PlainNumbers(r.Data, &r.Unreadable)
	return &r, nil
}
