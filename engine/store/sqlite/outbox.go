package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

// The outbox is the events table. Its seq is the rowid SQLite gives each
// insert (one more than the largest), and the single writer commits one
// transaction at a time, so a reader sees events appear in seq order and
// never one below a seq it has already read. PruneEvents keeps the newest
// event, so a seq is never given twice.

// seqOf parses a cursor this store made; the zero cursor is 0.
func seqOf(c store.Cursor) (int64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(c), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("sqlite: invalid outbox cursor %q", c)
	}
	return n, nil
}

func cursorOf(seq int64) store.Cursor { return store.Cursor(strconv.FormatInt(seq, 10)) }

func (s *Store) Events(ctx context.Context, after store.Cursor, limit int) ([]*store.Event, error) {
	return s.EventsFor(ctx, after, limit, nil)
}

// EventsFor reads the columns first and then, in the same read
// transaction, the bodies of the events want accepts: the driver copies
// every text column it returns, so a body selected and left undecoded
// still cost its copy (a runner catching up on a million record events no
// rule wanted spent more on those copies than on the rest of each row).
func (s *Store) EventsFor(ctx context.Context, after store.Cursor, limit int, want func(typ, entity string) bool) ([]*store.Event, error) {
	seq, err := seqOf(after)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	if want == nil {
		return readEvents(ctx, s.r, `SELECT seq, id, type, entity, record_id, version, actor, at, flags, body FROM events
			WHERE seq > max(?, `+prunedMark+`) ORDER BY seq LIMIT ?`, []any{seq, limit}, true)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	out, err := readEvents(ctx, tx, `SELECT seq, id, type, entity, record_id, version, actor, at, flags FROM events
		WHERE seq > max(?, `+prunedMark+`) ORDER BY seq LIMIT ?`, []any{seq, limit}, false)
	if err != nil {
		return nil, err
	}
	wanted := map[int64]*store.Event{}
	var seqs []any
	for _, e := range out {
		if !want(e.Type, e.Entity) {
			e.Bare = true
			continue
		}
		n, _ := seqOf(e.Cursor)
		wanted[n] = e
		seqs = append(seqs, n)
	}
	if len(seqs) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, flags, body FROM events WHERE seq IN (`+
		strings.TrimSuffix(strings.Repeat("?,", len(seqs)), ",")+`)`, seqs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		var flags sql.NullInt64
		var body sql.RawBytes
		if err := rows.Scan(&n, &flags, &body); err != nil {
			return nil, err
		}
		if err := store.UnmarshalEventBodyFlags(body, store.BodyFlags(flags.Int64), wanted[n]); err != nil {
			return nil, fmt.Errorf("sqlite: event %d: %w", n, err)
		}
	}
	return out, rows.Err()
}

// readEvents reads events by q, whose columns are seq, id, type, entity,
// record_id, version, actor, at, flags and, with body, the body.
func readEvents(ctx context.Context, db rowsQuerier, q string, args []any, body bool) ([]*store.Event, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Event
	for rows.Next() {
		e, _, err := scanEvent(rows, body, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// scanEvent reads an event's columns as readEvents names them, then extra
// text columns.
func scanEvent(rows *sql.Rows, body bool, extra int) (*store.Event, []sql.NullString, error) {
	var e store.Event
	var n, at int64
	var id, recID, actor idCol
	var entity sql.NullString
	var raw sql.RawBytes // copied only by the decoding
	var version, flags sql.NullInt64
	dest := []any{&n, &id, &e.Type, &entity, &recID, &version, &actor, &at, &flags}
	if body {
		dest = append(dest, &raw)
	}
	more := make([]sql.NullString, extra)
	for i := range more {
		dest = append(dest, &more[i])
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, nil, err
	}
	e.Cursor = cursorOf(n)
	e.ID, e.At = id.s, msTime(at)
	e.Entity, e.RecordID, e.Actor, e.Version = entity.String, recID.s, actor.s, version.Int64
	if !body {
		return &e, more, nil // the flags come again with the body
	}
	if err := store.UnmarshalEventBodyFlags(raw, store.BodyFlags(flags.Int64), &e); err != nil {
		return nil, nil, fmt.Errorf("sqlite: event %d: %w", n, err)
	}
	return &e, more, nil
}

func (s *Store) SaveCheckpoint(ctx context.Context, consumer string, c store.Cursor) error {
	seq, err := seqOf(c)
	if err != nil {
		return err
	}
	if consumer == "" {
		return errors.New("sqlite: checkpoint without a consumer name")
	}
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (consumer, seq, at) VALUES (?,?,?)
			ON CONFLICT(consumer) DO UPDATE SET seq = excluded.seq, at = excluded.at`, consumer, seq, ts(time.Now()))
		return err
	})
}

func (s *Store) Checkpoint(ctx context.Context, consumer string) (store.Cursor, error) {
	var seq int64
	err := s.r.QueryRowContext(ctx, `SELECT seq FROM checkpoints WHERE consumer = ?`, consumer).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return cursorOf(seq), nil
}

func (s *Store) DeleteCheckpoint(ctx context.Context, consumer string) error {
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM checkpoints WHERE consumer = ?`, consumer)
		return err
	})
}

// prunedMark is the seq at and below which events have left the outbox.
const prunedMark = `coalesce((SELECT seq FROM outbox_state WHERE name = 'pruned'), 0)`

// pruneStatements take a batch, the events at or below ?1, out of the
// outbox.
var pruneStatements = []string{
	// Above the mark: the batch reads its own rows, not the audit
	// entries earlier batches kept.
	`DELETE FROM events WHERE seq <= ?1 AND seq > ` + prunedMark + ` AND audit IS NULL`,
	// An update's record goes unless a change is rebuilt from it
	// (a field set or cleared: eventBody's Set and Cleared).
	`UPDATE events SET body = json_remove(body, '$.record', '$.same', '$.same_all'), flags = flags & ~` + strconv.Itoa(int(store.FlagSameAll)) + `
			WHERE seq <= ?1 AND seq > ` + prunedMark + ` AND audit IS NOT NULL AND type = 'record.updated'
				AND json_type(body, '$.set') IS NULL AND json_type(body, '$.cleared') IS NULL
				AND coalesce(flags, 0) & ` + strconv.Itoa(int(store.FlagSetAll|store.FlagClearedAll)) + ` = 0
				AND json_type(body, '$.set_all') IS NULL AND json_type(body, '$.cleared_all') IS NULL`,
	`INSERT INTO outbox_state (name, seq) VALUES ('pruned', ?1) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq`}

// PruneEvents takes one bounded batch out of the outbox, in one write of
// the single writer, so a large backlog never holds other writes for long:
// the caller loops while batches come back full. It takes from the front
// only, the events before the first that is too young, so it reads no more
// than limit rows whatever the outbox holds. An event that is an audit
// entry stays as that entry: the pruned mark moves past it, and an
// update's body drops the record it carried for followers (the audit log
// keeps the change); every other event is deleted.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	cut := msArg(before)
	var n int
	err := s.tx(ctx, func(tx *wtx) error {
		// Above the mark, below every checkpoint (none: no bound) and
		// below the newest event.
		rows, err := tx.QueryContext(ctx, `SELECT seq, at FROM events
			WHERE seq > `+prunedMark+` AND seq < (SELECT max(seq) FROM events)
				AND seq <= coalesce((SELECT min(seq) FROM checkpoints), 9223372036854775807)
			ORDER BY seq LIMIT ?`, limit)
		if err != nil {
			return err
		}
		last := int64(-1)
		for rows.Next() {
			var seq, at int64
			if err := rows.Scan(&seq, &at); err != nil {
				rows.Close()
				return err
			}
			if at >= cut {
				break
			}
			last = seq
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil || last < 0 {
			return err
		}
		for _, q := range pruneStatements {
			if _, err := tx.ExecContext(ctx, q, last); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
