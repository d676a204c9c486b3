package store

import "reflect"

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

// AuditOf is whether a is the audit entry e stands for: same id, time,
// actor, entity and record, and the changes AuditChanges makes of e's.
// It is false for any other pair — a conversion's entry, one that keeps
// values that could not be read — and the store then keeps both.
// Compared as values, not as their JSON: a write encodes neither.
func AuditOf(a *AuditEntry, e *Event) bool {
	if a == nil || e == nil || a.ID != e.ID || !a.At.Equal(e.At) || a.Actor != e.Actor ||
		a.Entity != e.Entity || a.RecordID != e.RecordID || e.Entity == "" || e.RecordID == "" || len(e.Payload) > 0 {
		return false
	}
	return reflect.DeepEqual(a.Changes, AuditChanges(e.Changes))
}
