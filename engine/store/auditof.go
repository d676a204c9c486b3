package store

import (
	"bytes"
	"encoding/json"
)

// AuditChanges is an event's changes as the audit log shows them: field →
// {from, to}, a side left out when it is not set. The records service
// builds a change's audit entry from it, so a store that keeps one row for
// a change and its audit entry (SQLite) can give the entry back from the
// event alone.
func AuditChanges(changes map[string]Change) map[string]any {
	out := make(map[string]any, len(changes))
	for k, c := range changes {
		ch := map[string]any{}
		if c.Old != nil {
			ch["from"] = c.Old
		}
		if c.New != nil {
			ch["to"] = c.New
		}
		out[k] = ch
	}
	return out
}

// AuditOf is the audit entry e stands for when a's changes are what the
// audit log would make of e's: same id, time, actor, entity and record, and
// changes whose JSON is auditJSON (a's, already encoded by the caller).
// ok is false for any other pair — a conversion's entry, one that keeps
// values that could not be read — and the store then keeps both.
func AuditOf(a *AuditEntry, e *Event, auditJSON []byte) bool {
	if a == nil || e == nil || a.ID != e.ID || !a.At.Equal(e.At) || a.Actor != e.Actor ||
		a.Entity != e.Entity || a.RecordID != e.RecordID || e.Entity == "" || e.RecordID == "" || len(e.Payload) > 0 {
		return false
	}
	derived, err := json.Marshal(AuditChanges(e.Changes))
	return err == nil && bytes.Equal(derived, auditJSON)
}
