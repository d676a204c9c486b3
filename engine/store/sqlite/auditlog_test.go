package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/storetest"
)

func rowCount(t *testing.T, s *Store, q string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuditKeptAsEvent: a change whose audit entry is what its event says
// is one row, the event's; an entry that says more (a value that could
// not be read) is a row of its own beside the event, and reads back whole.
func TestAuditKeptAsEvent(t *testing.T) {
	s, _ := walStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	write := func(changes map[string]any) *store.Record {
		t.Helper()
		r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, Data: map[string]any{"name": "A"}}
		id := store.NewID()
		ev := map[string]store.Change{"name": {New: "A"}}
		if changes == nil {
			changes = store.AuditChanges(ev)
		}
		err := s.Insert(ctx, "deal", r, store.Sides{
			Audit: &store.AuditEntry{ID: id, At: now, Actor: "u1", IP: "10.0.0.1", Action: "record.create", Entity: "deal", RecordID: r.ID, Changes: changes},
			Event: &store.Event{ID: id, Type: "record.created", Entity: "deal", RecordID: r.ID, Version: 1, Actor: "u1", At: now, Changes: ev}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	write(nil)
	if a, e := rowCount(t, s, `SELECT count(*) FROM audit`), rowCount(t, s, `SELECT count(*) FROM events WHERE audit = 'record.create' AND ip = '10.0.0.1'`); a != 0 || e != 1 {
		t.Fatalf("a change whose entry its event says: %d audit rows, %d events carrying it; want 0 and 1", a, e)
	}
	odd := write(map[string]any{"name": map[string]any{"to": "A"}, "score": map[string]any{"unreadable": map[string]any{"score": "x"}}})
	if a := rowCount(t, s, `SELECT count(*) FROM audit`); a != 1 {
		t.Fatalf("an entry that says more than its event: %d audit rows, want 1", a)
	}
	got, err := s.ListAudit(ctx, store.AuditQuery{RecordID: odd.ID})
	if err != nil || len(got) != 1 || got[0].Changes["score"] == nil {
		t.Fatalf("the entry of its own: %+v %v", got, err)
	}
}

// TestEventsGainAuditColumns: an outbox from before the audit columns and
// the compact ids and times opens, keeps its events as they read, and
// takes new changes as one row each.
func TestEventsGainAuditColumns(t *testing.T) {
	path := writeRaw(t, oldEvents,
		`INSERT INTO events (id, type, entity, record_id, version, actor, at, body)
			VALUES ('01a232dd-1ca2-782a-a5e3-760a71c80899', 'record.created', 'deal', 'r1', 1, 'u1', '2026-12-01T18:28:01.312Z', '{"actor_origin":true}')`)
	ctx := context.Background()
	s, err := OpenWith(ctx, path, Options{manualCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, "", 10)
	at := time.Date(2026, 12, 1, 18, 28, 1, 312e6, time.UTC)
	if err != nil || len(evs) != 1 || evs[0].ID != "01a232dd-1ca2-782a-a5e3-760a71c80899" || !evs[0].At.Equal(at) ||
		evs[0].RecordID != "r1" || evs[0].Origin.User != "u1" {
		t.Fatalf("the old event: %+v %v", evs, err)
	}
	if n := rowCount(t, s, `SELECT count(*) FROM events WHERE typeof(id) = 'blob' AND typeof(record_id) = 'text' AND typeof(at) = 'integer'`); n != 1 {
		t.Fatal("the old event was not rewritten compact: a 16-byte id, its text record id, an integer time")
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, Data: map[string]any{"name": "A"}}
	id := store.NewID()
	ev := map[string]store.Change{"name": {New: "A"}}
	if err := s.Insert(ctx, "deal", r, store.Sides{
		Audit: &store.AuditEntry{ID: id, At: now, Actor: "u1", Action: "record.create", Entity: "deal", RecordID: r.ID, Changes: store.AuditChanges(ev)},
		Event: &store.Event{ID: id, Type: "record.created", Entity: "deal", RecordID: r.ID, Version: 1, Actor: "u1", At: now, Changes: ev}}); err != nil {
		t.Fatal(err)
	}
	if a, e := rowCount(t, s, `SELECT count(*) FROM audit`), rowCount(t, s, `SELECT count(*) FROM events`); a != 0 || e != 2 {
		t.Fatalf("after the migration: %d audit rows and %d events, want 0 and 2", a, e)
	}
}

// TestEventsMigrationRefuses: an outbox time that is not one stops the
// start, names the table and the event, and leaves the table as it was.
func TestEventsMigrationRefuses(t *testing.T) {
	path := writeRaw(t, oldEvents,
		`INSERT INTO events (id, type, at) VALUES ('e1', 'record.created', '2026-12-01T18:28:01.312Z'), ('e2', 'record.created', 'yesterday')`)
	s, err := OpenWith(context.Background(), path, Options{manualCheckpoints: true})
	if err == nil {
		s.Close()
		t.Fatal("an outbox with a time that is not one opened")
	}
	if !strings.Contains(err.Error(), "events") || !strings.Contains(err.Error(), "event 2") {
		t.Fatalf("the refusal does not name the table and the event: %v", err)
	}
	db, _ := sql.Open("sqlite", "file:"+path)
	defer db.Close()
	var typ string
	if err := db.QueryRow(`SELECT type FROM pragma_table_info('events') WHERE name = 'at'`).Scan(&typ); err != nil || typ != "TEXT" {
		t.Fatalf("the refused table changed: at is %q (%v)", typ, err)
	}
}

// TestIDArgAgreesWithSQL: the Go and the SQL spelling of the compact id
// make the same choice for every kind of text, and a blob reads back as
// the text it came from.
func TestIDArgAgreesWithSQL(t *testing.T) {
	s, _ := walStore(t)
	for _, v := range []string{
		"01a232dd-1ca2-782a-a5e3-760a71c80899", "00000000-0000-7000-8000-000000000001",
		"01A232DD-1CA2-782A-A5E3-760A71C80899", "01a232dd-1ca2-782a-a5e3-760a71c8089", "01a232dd-1ca2-782a-a5e3-760a71c8089g",
		"01a232dd11ca2-782a-a5e3-760a71c80899", "01a232dd-1ca2-782a-a5e3--60a71c80899", "u1", "", "abcdefgh-ijkl-mnop-qrst-uvwxyz012345",
	} {
		var fromSQL any
		if err := s.r.QueryRow(`SELECT `+uuidSQL("?1"), v).Scan(&fromSQL); err != nil {
			t.Fatal(err)
		}
		goSide := idArg(v)
		if fmt.Sprintf("%T %x", fromSQL, fromSQL) != fmt.Sprintf("%T %x", goSide, goSide) {
			t.Errorf("%q: SQL stores %T %x, Go %T %x", v, fromSQL, fromSQL, goSide, goSide)
		}
		var back idCol
		if err := back.Scan(goSide); err != nil || back.s != v {
			t.Errorf("%q reads back as %q (%v)", v, back.s, err)
		}
	}
}

func FuzzIDArg(f *testing.F) {
	f.Add("01a232dd-1ca2-782a-a5e3-760a71c80899")
	f.Add("01A232DD-1CA2-782A-A5E3-760A71C80899")
	f.Add("u1")
	f.Fuzz(func(t *testing.T, v string) {
		var back idCol
		if err := back.Scan(idArg(v)); err != nil || back.s != v {
			t.Fatalf("%q reads back as %q (%v)", v, back.s, err)
		}
	})
}

// TestEventFlagsColumn: a create's body flags are kept as the flags
// column's bits, not as JSON, and the event reads back whole.
func TestEventFlagsColumn(t *testing.T) {
	s, _ := walStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, Data: map[string]any{"name": "A"}}
	rec := map[string]any{"id": r.ID, "version": int64(1), "created_at": ts(now), "updated_at": ts(now),
		"created_by": "u1", "updated_by": "u1", "name": "A", "qty": int64(2)}
	ev := &store.Event{ID: store.NewID(), Type: "record.created", Entity: "deal", RecordID: r.ID, Version: 1, Actor: "u1", At: now,
		Origin: store.Origin{User: "u1"}, Record: rec, Changes: map[string]store.Change{"name": {New: "A"}, "qty": {New: int64(2)}}}
	if err := s.Insert(ctx, "deal", r, store.Sides{Event: ev}); err != nil {
		t.Fatal(err)
	}
	var body string
	var flags int64
	if err := s.r.QueryRow(`SELECT body, flags FROM events`).Scan(&body, &flags); err != nil {
		t.Fatal(err)
	}
	want := store.FlagSetAll | store.FlagSameAll | store.FlagActorOrigin
	if store.BodyFlags(flags) != want || strings.Contains(body, "_all") || strings.Contains(body, "actor_origin") {
		t.Fatalf("flags %b, body %s; want flags %b and none in the body", flags, body, want)
	}
	evs, err := s.Events(ctx, "", 10)
	if err != nil || len(evs) != 1 || evs[0].Origin.User != "u1" || evs[0].Changes["qty"].New != int64(2) || evs[0].Record["created_by"] != "u1" {
		t.Fatalf("the event read back: %+v %v", evs, err)
	}
}

// oldEvents is the outbox as every Jimu before decision 30 made it.
const oldEvents = `CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL, entity TEXT,
	record_id TEXT, version INTEGER, actor TEXT, at TEXT NOT NULL, body TEXT)`

// writeRaw makes a database file of stmts, behind any store's back, as an
// older Jimu left it.
func writeRaw(t *testing.T, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jimu.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return path
}

// TestPruneReadsItsBatch: every statement of a prune batch reads the
// batch's own rows, a range of seq on both sides, not the audit entries
// that earlier batches kept below the mark.
func TestPruneReadsItsBatch(t *testing.T) {
	s, _ := walStore(t)
	for _, q := range pruneStatements {
		if !strings.HasPrefix(q, "DELETE FROM events") && !strings.HasPrefix(q, "UPDATE events") {
			continue // the mark's own row
		}
		plan := planOf(t, s, q, []any{10})
		if !strings.Contains(plan, "rowid>? AND rowid<?") {
			t.Errorf("%.60s… reads %v, not a range of its batch", q, plan)
		}
	}
}

// TestAuditPlans: an audit listing of the events reads at most limit rows
// of an index in id order, or a record's entries by record, and sorts no
// entity's whole outbox.
func TestAuditPlans(t *testing.T) {
	s, _ := walStore(t)
	for _, tc := range []struct {
		q    store.AuditQuery
		want string
	}{
		{store.AuditQuery{}, "events_audit_id"},
		{store.AuditQuery{Entity: "deal"}, "events_audit_id"},
		{store.AuditQuery{Entity: "deal", Action: "record.update", Before: store.NewID()}, "events_audit_id"},
		{store.AuditQuery{Actor: store.NewID()}, "events_audit_id"},
		{store.AuditQuery{Entity: "deal", RecordID: store.NewID()}, "events_audit_record"},
	} {
		query, args := auditSQL(`SELECT seq FROM events`, tc.q, true, 100)
		got := planOf(t, s, query, args)
		if !strings.Contains(got, tc.want) || (tc.want == "events_audit_id" && strings.Contains(got, "TEMP B-TREE")) {
			t.Errorf("%+v: %s; want %s", tc.q, got, tc.want)
		}
	}
}

// TestPruneShrinksKeptUpdates: pruning keeps an update's audit entry and
// drops the record its event carried for followers, unless a change is
// read from that record (a field set from empty: the body's "set").
func TestPruneShrinksKeptUpdates(t *testing.T) {
	s, _ := walStore(t)
	ctx := context.Background()
	old := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: old, UpdatedAt: old, Data: map[string]any{"name": "A"}}
	if err := s.Insert(ctx, "deal", r, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	for i, ch := range []map[string]store.Change{
		{"stage": {New: "won"}},        // set from empty: kept whole
		{"name": {Old: "A", New: "B"}}, // its record goes
		{"name": {Old: "B", New: "C"}}, // the newest: stays in the outbox
	} {
		r.Version = int64(i + 2)
		rec := map[string]any{"email": "a-long-address@example.com"}
		for k, c := range ch {
			rec[k] = c.New
		}
		id := store.NewID()
		if err := s.Update(ctx, "deal", r, store.Sides{
			Audit: &store.AuditEntry{ID: id, At: old, Actor: "u1", Action: "record.update", Entity: "deal", RecordID: r.ID, Changes: store.AuditChanges(ch)},
			Event: &store.Event{ID: id, Type: "record.updated", Entity: "deal", RecordID: r.ID, Version: r.Version, Actor: "u1", At: old,
				Changes: ch, Record: rec}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PruneEvents(ctx, time.Now(), 10); err != nil || n != 2 {
		t.Fatalf("PruneEvents: %d %v, want 2 (the newest stays)", n, err)
	}
	if n := rowCount(t, s, `SELECT count(*) FROM events WHERE body LIKE '%a-long-address%'`); n != 2 {
		t.Fatalf("%d events carry their record; want the set change's and the newest", n)
	}
	got, err := s.ListAudit(ctx, store.AuditQuery{RecordID: r.ID})
	if err != nil || len(got) != 3 {
		t.Fatalf("audit after pruning: %+v %v", got, err)
	}
	if ch, _ := got[2].Changes["stage"].(map[string]any); ch["to"] != "won" {
		t.Fatalf("the pruned set change's entry: %#v", got[2].Changes)
	}
	if ch, _ := got[1].Changes["name"].(map[string]any); ch["from"] != "A" || ch["to"] != "B" {
		t.Fatalf("the pruned update's entry: %#v", got[1].Changes)
	}
}

// planOf is SQLite's query plan for query, its nodes' details joined.
func planOf(t *testing.T, s *Store, query string, args []any) string {
	t.Helper()
	plan, err := s.explain(context.Background(), query, args)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
