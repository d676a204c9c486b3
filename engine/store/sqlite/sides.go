package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jimu-crm/jimu/engine/store"
)

func (s *Store) AppendAudit(ctx context.Context, a *store.AuditEntry) error {
	es, err := encodeSides(store.Sides{Audit: a})
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error { return writeSides(ctx, tx, es) })
}

// encodedSides are a write's audit entry and event as statement arguments,
// encoded before the write reaches the single writer goroutine. When the
// audit entry is what the event says (store.AuditOf), there is one row:
// the event's, with the entry's action and address (auditlog.go).
type encodedSides struct {
	audit, event []any
	// auditID is the entry's id, to be checked unique in the table that
	// does not hold it (its own table's key checks the other).
	auditID string
}

func encodeSides(sd store.Sides) (encodedSides, error) {
	var es encodedSides
	if e := sd.Event; e != nil {
		body, flags, err := store.MarshalEventBodyFlags(e)
		if err != nil {
			return es, fmt.Errorf("event: %w", err)
		}
		var action, ip any
		if a := sd.Audit; store.AuditOf(a, e) {
			action, ip, es.auditID = a.Action, a.IP, a.ID
			sd.Audit = nil
		}
		es.event = []any{idArg(e.ID), e.Type, e.Entity, idArg(e.RecordID), e.Version, idArg(e.Actor), msArg(e.At), int64(flags), string(body), action, ip}
	}
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
		es.auditID = a.ID
	}
	return es, nil
}

func writeSides(ctx context.Context, tx *wtx, es encodedSides) error {
	if es.auditID != "" {
		// The audit log's ids are unique across its two tables: each
		// table's key (audit's, events_audit_id) checks its own, this the
		// other's.
		q, arg := `SELECT count(*) FROM events WHERE id = ? AND audit IS NOT NULL`, idArg(es.auditID)
		if es.audit == nil {
			q, arg = `SELECT count(*) FROM audit WHERE id = ?`, es.auditID
		}
		var n int
		if err := tx.QueryRowContext(ctx, q, arg).Scan(&n); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("audit: entry %s exists", es.auditID)
		}
	}
	if es.audit != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit (id, at, actor, ip, action, entity, record_id, changes) VALUES (?,?,?,?,?,?,?,?)`, es.audit...); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if es.event != nil {
		// seq is left to SQLite: one more than the largest, and the writer
		// commits one transaction at a time, so seq order is commit order.
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, type, entity, record_id, version, actor, at, flags, body, audit, ip) VALUES (?,?,?,?,?,?,?,?,?,?,?)`, es.event...); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}
