package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

func (s *Store) AppendAudit(ctx context.Context, a *store.AuditEntry) error {
	es, err := encodeSides(store.Sides{Audit: a})
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error { return writeSides(ctx, tx, es) })
}

func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEntry, error) {
	var where []string
	var args []any
	add := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	add("entity", q.Entity)
	add("record_id", q.RecordID)
	add("actor", q.Actor)
	add("action", q.Action)
	if q.Before != "" {
		where = append(where, "id < ?")
		args = append(args, q.Before)
	}
	query := `SELECT id, at, actor, ip, action, entity, record_id, changes FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.AuditEntry
	for rows.Next() {
		var a store.AuditEntry
		var at string
		var actor, ip, entity, recID, changes sql.NullString
		if err := rows.Scan(&a.ID, &at, &actor, &ip, &a.Action, &entity, &recID, &changes); err != nil {
			return nil, err
		}
		a.At, _ = time.Parse(metadata.DateTimeLayout, at)
		a.Actor, a.IP, a.Entity, a.RecordID = actor.String, ip.String, entity.String, recID.String
		if changes.Valid && changes.String != "" {
			_ = json.Unmarshal([]byte(changes.String), &a.Changes)
		}
		out = append(out, &a)
	}
	return out, rows.Err()
}

// encodedSides are a write's audit entry and event as statement arguments,
// encoded before the write reaches the single writer goroutine.
type encodedSides struct {
	audit, event []any
}

func encodeSides(sd store.Sides) (encodedSides, error) {
	var es encodedSides
	if a := sd.Audit; a != nil {
		var changes any
		if a.Changes != nil {
			b, err := json.Marshal(a.Changes)
			if err != nil {
				return es, err
			}
			changes = string(b)
		}
		es.audit = []any{a.ID, ts(a.At), a.Actor, a.IP, a.Action, a.Entity, a.RecordID, changes}
	}
	if e := sd.Event; e != nil {
		body, err := store.MarshalEventBody(e)
		if err != nil {
			return es, fmt.Errorf("event: %w", err)
		}
		es.event = []any{e.ID, e.Type, e.Entity, e.RecordID, e.Version, e.Actor, ts(e.At), string(body)}
	}
	return es, nil
}

func writeSides(ctx context.Context, tx *wtx, es encodedSides) error {
	if es.audit != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit (id, at, actor, ip, action, entity, record_id, changes) VALUES (?,?,?,?,?,?,?,?)`, es.audit...); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if es.event != nil {
		// seq is left to SQLite: one more than the largest, and the writer
		// commits one transaction at a time, so seq order is commit order.
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, entity, record_id, version, actor, at, body) VALUES (?,?,?,?,?,?,?,?)`, es.event...); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}
