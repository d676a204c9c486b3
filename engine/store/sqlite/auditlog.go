package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// The audit log is two tables. A record change's audit entry is its
// outbox event (store.AuditOf), so the change is written once: the events
// row carries the entry's action and address, and the entry's changes are
// read from the event's. Every other entry — a sign-in, a metadata change,
// a conversion that kept unreadable values — is a row of audit. Both
// tables are append-only as far as the audit log goes: pruning the outbox
// leaves its audit entries (PruneEvents). Writing a change once cost
// less than two-thirds of writing it twice: the peer benchmark's 25,000
// changes took 22.7 MiB as audit and outbox rows with their indexes, and
// 13.8 MiB as one row each (decision 30).

func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	// Each table gives its newest limit entries under the filters; the
	// newest limit of both are the answer.
	kept, err := s.auditRows(ctx, q, limit)
	if err != nil {
		return nil, err
	}
	changed, err := s.auditEvents(ctx, q, limit)
	if err != nil {
		return nil, err
	}
	out := append(kept, changed...)
	slices.SortFunc(out, func(a, b *store.AuditEntry) int { return cmp.Compare(b.ID, a.ID) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// auditSQL is sel (the table's columns, FROM it) under q's filters,
// newest first; over the events table when events.
func auditSQL(sel string, q store.AuditQuery, events bool, limit int) (string, []any) {
	var where []string
	var args []any
	if events {
		where = append(where, "audit IS NOT NULL")
	}
	add := func(col, op, v string, id bool) {
		if v == "" {
			return
		}
		where = append(where, col+" "+op+" ?")
		if id && events {
			args = append(args, idArg(v))
		} else {
			args = append(args, v)
		}
	}
	action := "action"
	if events {
		action = "audit"
	}
	entity := "entity"
	if events {
		// Not by events_entity, which holds every event of the entity and
		// would leave them all to sort: the audit id index, newest first,
		// stops after limit.
		entity = "+entity"
	}
	add(entity, "=", q.Entity, false)
	add("record_id", "=", q.RecordID, true)
	add("actor", "=", q.Actor, true)
	add(action, "=", q.Action, false)
	add("id", "<", q.Before, true)
	if len(where) > 0 {
		sel += ` WHERE ` + strings.Join(where, " AND ")
	}
	return sel + fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit), args
}

func (s *Store) auditRows(ctx context.Context, q store.AuditQuery, limit int) ([]*store.AuditEntry, error) {
	query, args := auditSQL(`SELECT id, at, actor, ip, action, entity, record_id, changes FROM audit`, q, false, limit)
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

func (s *Store) auditEvents(ctx context.Context, q store.AuditQuery, limit int) ([]*store.AuditEntry, error) {
	query, args := auditSQL(`SELECT seq, id, type, entity, record_id, version, actor, at, flags, body, audit, ip FROM events`, q, true, limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.AuditEntry
	for rows.Next() {
		e, extra, err := scanEvent(rows, true, 2)
		if err != nil {
			return nil, err
		}
		a := &store.AuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: extra[0].String, IP: extra[1].String,
			Entity: e.Entity, RecordID: e.RecordID}
		// Through JSON, so the changes read as an audit row's do.
		b, err := json.Marshal(store.AuditChanges(e.Changes))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &a.Changes); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
