package sqlite_test

import (
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

func benchSides(r *store.Record, now time.Time) store.Sides {
	changes := map[string]any{}
	for k, v := range r.Data {
		changes[k] = map[string]any{"to": v}
	}
	return store.Sides{
		Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: "u1", IP: "127.0.0.1", Action: "record.create", Entity: "deal", RecordID: r.ID, Changes: changes},
		Event: &store.Event{ID: store.NewID(), Type: "record.created", Entity: "deal", RecordID: r.ID, Actor: "u1", At: now, Payload: map[string]any{"changes": changes}},
	}
}
