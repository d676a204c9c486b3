package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

// changeSides are a record change's audit entry and event as the records
// service writes them: one id, and the entry's changes are the event's.
func changeSides(action, typ string, r *store.Record, at time.Time, changes map[string]store.Change) store.Sides {
	id := store.NewID()
	return store.Sides{
		Audit: &store.AuditEntry{ID: id, At: at, Actor: "u1", IP: "10.0.0.7", Action: action, Entity: "deal",
			RecordID: r.ID, Changes: store.AuditChanges(changes)},
		Event: &store.Event{ID: id, Type: typ, Entity: "deal", RecordID: r.ID, Version: r.Version, Actor: "u1", At: at,
			Origin: store.Origin{User: "u1"}, Changes: changes, Record: map[string]any{"name": r.Data["name"]}},
	}
}

// testAuditOfChanges: a record change's audit entry reads back whole
// beside other entries, filtered and paged, however the store keeps it;
// pruning the outbox leaves it; and its id is as unique as any entry's.
func testAuditOfChanges(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	t0 := time.Now().UTC().Truncate(time.Millisecond).Add(-48 * time.Hour)
	r := rec(map[string]any{"name": "A"})
	if err := s.Insert(ctx(), "deal", r, changeSides("record.create", "record.created", r, t0,
		map[string]store.Change{"name": {New: "A"}})); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx(), &store.AuditEntry{ID: store.NewID(), At: t0.Add(time.Second), Actor: "u9", Action: "auth.login"}); err != nil {
		t.Fatal(err)
	}
	r.Version, r.Data["name"] = 2, "B"
	upd := changeSides("record.update", "record.updated", r, t0.Add(2*time.Second),
		map[string]store.Change{"name": {Old: "A", New: "B"}, "qty": {Old: 3.5, New: nil}})
	if err := s.Update(ctx(), "deal", r, upd); err != nil {
		t.Fatal(err)
	}
	other := rec(map[string]any{"name": "C"})
	if err := s.Insert(ctx(), "deal", other, changeSides("record.create", "record.created", other, t0.Add(3*time.Second),
		map[string]store.Change{"name": {New: "C"}})); err != nil {
		t.Fatal(err)
	}

	check := func(q store.AuditQuery, want ...string) []*store.AuditEntry {
		t.Helper()
		got, err := s.ListAudit(ctx(), q)
		if err != nil {
			t.Fatalf("ListAudit(%+v): %v", q, err)
		}
		var have []string
		for _, a := range got {
			have = append(have, a.Action+" "+a.RecordID)
		}
		if fmt.Sprint(have) != fmt.Sprint(want) {
			t.Fatalf("ListAudit(%+v) = %v, want %v", q, have, want)
		}
		return got
	}
	all := check(store.AuditQuery{}, "record.create "+other.ID, "record.update "+r.ID, "auth.login ", "record.create "+r.ID)
	u := all[1]
	if u.ID != upd.Audit.ID || !u.At.Equal(upd.Audit.At) || u.Actor != "u1" || u.IP != "10.0.0.7" || u.Entity != "deal" {
		t.Fatalf("update's entry: %+v", u)
	}
	name, _ := u.Changes["name"].(map[string]any)
	qty, _ := u.Changes["qty"].(map[string]any)
	if len(u.Changes) != 2 || name["from"] != "A" || name["to"] != "B" || qty["from"] != 3.5 || len(qty) != 1 {
		t.Fatalf("update's changes: %#v", u.Changes)
	}
	check(store.AuditQuery{Entity: "deal", RecordID: r.ID}, "record.update "+r.ID, "record.create "+r.ID)
	check(store.AuditQuery{Action: "record.create"}, "record.create "+other.ID, "record.create "+r.ID)
	check(store.AuditQuery{Actor: "u9"}, "auth.login ")
	check(store.AuditQuery{Limit: 2}, "record.create "+other.ID, "record.update "+r.ID)
	check(store.AuditQuery{Before: u.ID, Limit: 1}, "auth.login ")
	check(store.AuditQuery{Before: all[2].ID}, "record.create "+r.ID)

	// An audit id already taken, by either kind of entry, fails the write.
	for _, taken := range []string{all[2].ID, u.ID} {
		dup := rec(map[string]any{"name": "D"})
		sd := changeSides("record.create", "record.created", dup, t0.Add(4*time.Second), map[string]store.Change{"name": {New: "D"}})
		sd.Audit.ID, sd.Event.ID = taken, taken
		if err := s.Insert(ctx(), "deal", dup, sd); err == nil {
			t.Fatalf("a change whose audit id %s is taken was written", taken)
		}
	}

	// Pruning the outbox takes the events, not the audit log.
	for {
		n, err := s.PruneEvents(ctx(), time.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if evs, _ := s.Events(ctx(), "", 100); len(evs) != 1 || evs[0].RecordID != other.ID {
		t.Fatalf("after pruning, the outbox has %d events, want the newest only", len(evs))
	}
	after := check(store.AuditQuery{}, "record.create "+other.ID, "record.update "+r.ID, "auth.login ", "record.create "+r.ID)
	if name, _ := after[1].Changes["name"].(map[string]any); name["to"] != "B" || after[1].IP != "10.0.0.7" {
		t.Fatalf("pruning changed the update's entry: %+v", after[1])
	}
}
