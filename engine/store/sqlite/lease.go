package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

// Leases are rows of the leases table, changed by the single writer, so
// each claim is one atomic statement; two Stores on one file (two
// processes) are serialised by SQLite's write lock. until is Unix
// milliseconds. A released lease keeps its row, with no holder, so its
// token keeps growing.

func (s *Store) ClaimLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, bool, error) {
	if name == "" || holder == "" {
		return store.Lease{}, false, errors.New("sqlite: a lease needs a name and a holder")
	}
	l := store.Lease{Name: name}
	var got bool
	err := s.tx(ctx, func(tx *wtx) error {
		var until int64
		err := tx.QueryRowContext(ctx, `INSERT INTO leases (name, holder, until, token) VALUES (?1, ?2, ?3, 1)
			ON CONFLICT(name) DO UPDATE SET
				token = CASE WHEN leases.holder = excluded.holder AND leases.until > ?4 THEN leases.token ELSE leases.token + 1 END,
				holder = excluded.holder, until = excluded.until
			WHERE leases.holder = excluded.holder OR leases.holder = '' OR leases.until <= ?4
			RETURNING holder, until, token`, name, holder, now.Add(ttl).UnixMilli(), now.UnixMilli()).Scan(&l.Holder, &until, &l.Token)
		if errors.Is(err, sql.ErrNoRows) {
			// Held by someone else: say who.
			err = tx.QueryRowContext(ctx, `SELECT holder, until, token FROM leases WHERE name = ?`, name).Scan(&l.Holder, &until, &l.Token)
			l.Until = time.UnixMilli(until).UTC()
			return err
		}
		if err != nil {
			return err
		}
		got = true
		l.Until = time.UnixMilli(until).UTC()
		return nil
	})
	if err != nil {
		return store.Lease{}, false, err
	}
	return l, got, nil
}

func (s *Store) RenewLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	if holder == "" {
		return false, nil
	}
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE leases SET until = ? WHERE name = ? AND holder = ? AND until > ?`,
			now.Add(ttl).UnixMilli(), name, holder, now.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if holder == "" {
		return nil
	}
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE leases SET holder = '', until = 0 WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
}

func (s *Store) GetLease(ctx context.Context, name string) (store.Lease, error) {
	l := store.Lease{Name: name}
	var until int64
	err := s.r.QueryRowContext(ctx, `SELECT holder, until, token FROM leases WHERE name = ?`, name).Scan(&l.Holder, &until, &l.Token)
	if errors.Is(err, sql.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return store.Lease{}, err
	}
	if l.Holder != "" {
		l.Until = time.UnixMilli(until).UTC()
	}
	return l, nil
}
