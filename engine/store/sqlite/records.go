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
	w, err := prepareInsert(entity, r, sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error { return w(ctx, tx) })
}

// A write is encoded before it reaches the single writer (JSON encoding is
// the caller's time, not the writer's), then run in a write transaction:
// on its own (Insert) or inside a unit of work (Atomic).
type write func(ctx context.Context, tx *wtx) error

func prepareInsert(entity string, r *store.Record, sd store.Sides) (write, error) {
	data, err := json.Marshal(r.Data)
	if err != nil {
		return nil, err
	}
	es, err := encodeSides(sd)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO `+recTable(entity)+` (`+recCols+`) VALUES (?,?,?,?,?,?,?,?)`,
			r.ID, r.Version, ts(r.CreatedAt), ts(r.UpdatedAt), r.CreatedBy, r.UpdatedBy, r.Owner, string(data))
		if err != nil {
			return mapErr(entity, err)
		}
		return writeSides(ctx, tx, es)
	}, nil
}

func (s *Store) Get(ctx context.Context, entity, id string) (*store.Record, error) {
	return getRecord(ctx, readers{s}, entity, id)
}

// rowQuerier is the readers' pool or a write transaction.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func getRecord(ctx context.Context, db rowQuerier, entity, id string) (*store.Record, error) {
	row := db.QueryRowContext(ctx, `SELECT `+recCols+` FROM `+recTable(entity)+` WHERE id = ?`, id)
	r, err := scanRecord(row)
	if err != nil {
		return nil, mapErr(entity, err)
	}
	return r, nil
}

func (s *Store) Update(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	w, err := prepareUpdate(entity, r, sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error { return w(ctx, tx) })
}

func prepareUpdate(entity string, r *store.Record, sd store.Sides) (write, error) {
	data, err := json.Marshal(r.Data)
	if err != nil {
		return nil, err
	}
	es, err := encodeSides(sd)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE `+recTable(entity)+` SET version = ?, updated_at = ?, updated_by = ?, owner = ?, data = ?
			WHERE id = ? AND version = ?`, r.Version, ts(r.UpdatedAt), r.UpdatedBy, r.Owner, string(data), r.ID, r.Version-1)
		if err != nil {
			return mapErr(entity, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return missingOrConflict(ctx, tx, entity, r.ID)
		}
		return writeSides(ctx, tx, es)
	}, nil
}

func missingOrConflict(ctx context.Context, tx *wtx, entity, id string) error {
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
	w, err := prepareDelete(entity, id, version, sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error { return w(ctx, tx) })
}

func prepareDelete(entity, id string, version int64, sd store.Sides) (write, error) {
	es, err := encodeSides(sd)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *wtx) error {
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
			return missingOrConflict(ctx, tx, entity, id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+recTable(entity)+` WHERE id = ?`, id); err != nil {
			return mapErr(entity, err)
		}
		return writeSides(ctx, tx, es)
	}, nil
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

func (s *Store) UnsetField(ctx context.Context, entity, field string, sd store.Sides) error {
	w, err := prepareUnset(entity, field, sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error { return w(ctx, tx) })
}

func prepareUnset(entity, field string, sd store.Sides) (write, error) {
	if !metadata.ValidName(field) {
		return nil, fmt.Errorf("invalid field name %q", field)
	}
	es, err := encodeSides(sd)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *wtx) error {
		for _, t := range []string{recTable(entity), trashTable(entity)} {
			if _, err := tx.ExecContext(ctx, `UPDATE `+t+` SET data = json_remove(data, '$.`+field+`') WHERE `+dataCol(field)+` IS NOT NULL`); err != nil {
				return mapErr(entity, err)
			}
		}
		return writeSides(ctx, tx, es)
	}, nil
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
