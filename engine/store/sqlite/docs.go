package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jimu-crm/jimu/engine/store"
)

func (s *Store) GetDoc(ctx context.Context, kind, id string) (*store.Doc, error) {
	return scanDoc(readers{s}.QueryRowContext(ctx, `SELECT kind, id, key, version, data FROM docs WHERE kind = ? AND id = ?`, kind, id))
}

func (s *Store) GetDocByKey(ctx context.Context, kind, key string) (*store.Doc, error) {
	return scanDoc(readers{s}.QueryRowContext(ctx, `SELECT kind, id, key, version, data FROM docs WHERE kind = ? AND key = ?`, kind, key))
}

func (s *Store) ListDocs(ctx context.Context, kind string) ([]*store.Doc, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT kind, id, key, version, data FROM docs WHERE kind = ? ORDER BY id`, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Doc
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Store) PutDoc(ctx context.Context, d *store.Doc, sd store.Sides) error {
	w, err := preparePutDoc(d, sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error { return w(ctx, tx) })
}

func preparePutDoc(d *store.Doc, sd store.Sides) (write, error) {
	var key any
	if d.Key != "" {
		key = d.Key
	}
	es, err := encodeSides(sd)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *wtx) error {
		if d.Version <= 1 {
			_, err := tx.ExecContext(ctx, `INSERT INTO docs (kind, id, key, version, data) VALUES (?,?,?,?,?)`,
				d.Kind, d.ID, key, 1, string(d.Data))
			if err != nil {
				if isConstraint(err) {
					return fmt.Errorf("%s %s: %w", d.Kind, d.ID, store.ErrExists)
				}
				return err
			}
			d.Version = 1
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE docs SET key = ?, version = ?, data = ? WHERE kind = ? AND id = ? AND version = ?`,
				key, d.Version, string(d.Data), d.Kind, d.ID, d.Version-1)
			if err != nil {
				if isConstraint(err) {
					return fmt.Errorf("%s %s key: %w", d.Kind, d.ID, store.ErrExists)
				}
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				var one int
				if err := tx.QueryRowContext(ctx, `SELECT 1 FROM docs WHERE kind = ? AND id = ?`, d.Kind, d.ID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("%s %s: %w", d.Kind, d.ID, store.ErrNotFound)
				}
				return fmt.Errorf("%s %s: %w", d.Kind, d.ID, store.ErrConflict)
			}
		}
		return writeSides(ctx, tx, es)
	}, nil
}

func (s *Store) DeleteDoc(ctx context.Context, kind, id string, sd store.Sides) error {
	w, err := prepareDeleteDoc(kind, id, sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error { return w(ctx, tx) })
}

func prepareDeleteDoc(kind, id string, sd store.Sides) (write, error) {
	es, err := encodeSides(sd)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM docs WHERE kind = ? AND id = ?`, kind, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s %s: %w", kind, id, store.ErrNotFound)
		}
		return writeSides(ctx, tx, es)
	}, nil
}

func scanDoc(sc scanner) (*store.Doc, error) {
	var d store.Doc
	var key sql.NullString
	var data string
	if err := sc.Scan(&d.Kind, &d.ID, &key, &d.Version, &data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	d.Key = key.String
	d.Data = []byte(data)
	return &d, nil
}
