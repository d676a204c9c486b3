package server_test

import (
	"reflect"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
)

// TestEventContent: what the outbox says about each kind of change, as a
// workflow runner will read it, on both stores: the type, the record and
// its version, the changed fields with old and new values, the whole
// record on create and delete, the actor and the origin (user, API token).
func TestEventContent(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startWith(t, open(t))
			var me struct{ ID string }
			e.do("GET", "/api/v1/auth/me", nil, 200, &me)
			var tok struct {
				Token string
				Info  struct{ ID string }
			}
			e.do("POST", "/api/v1/auth/tokens", map[string]any{"name": "integration"}, 201, &tok)
			api := *e
			api.token = tok.Token
			e.do("POST", "/api/v1/meta/entities", dealEntity, 201, nil)

			var cursor store.Cursor
			// next returns the events since the last call.
			next := func() []*store.Event {
				t.Helper()
				evs, err := e.st.Events(t.Context(), cursor, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) > 0 {
					cursor = evs[len(evs)-1].Cursor
				}
				return evs
			}
			types := func(evs []*store.Event) []string {
				var out []string
				for _, ev := range evs {
					out = append(out, ev.Type)
				}
				return out
			}
			expect := func(evs []*store.Event, want ...string) {
				t.Helper()
				if got := types(evs); !reflect.DeepEqual(got, want) {
					t.Fatalf("events %v, want %v", got, want)
				}
			}
			sameNum := func(a, b any) bool {
				x, ok1 := num(a)
				y, ok2 := num(b)
				return ok1 && ok2 && x == y
			}
			session := store.Origin{User: me.ID}
			viaToken := store.Origin{User: me.ID, Token: tok.Info.ID}
			if tok.Info.ID == "" {
				t.Fatal("the token's id is not in its answer")
			}
			next()

			// Create: the whole new record, and each field it set.
			var rec map[string]any
			e.do("POST", "/api/v1/records/deal", map[string]any{"name": "Acme", "amount": 1200, "stage": "won"}, 201, &rec)
			id := rec["id"].(string)
			evs := next()
			expect(evs, "record.created")
			ev := evs[0]
			if ev.Entity != "deal" || ev.RecordID != id || ev.Version != 1 || ev.Actor != me.ID || ev.Origin != session {
				t.Fatalf("created: %+v", ev)
			}
			if ev.Record["id"] != id || ev.Record["name"] != "Acme" || !sameNum(ev.Record["amount"], 1200) || ev.Record["owner"] != me.ID {
				t.Fatalf("created record: %v", ev.Record)
			}
			if len(ev.Changes) != 3 || ev.Changes["name"] != (store.Change{New: "Acme"}) || ev.Changes["stage"] != (store.Change{New: "won"}) ||
				ev.Changes["amount"].Old != nil || !sameNum(ev.Changes["amount"].New, 1200) {
				t.Fatalf("created changes: %v", ev.Changes)
			}

			// Update through an API token: only what changed, old and new.
			api.do("PATCH", "/api/v1/records/deal/"+id, map[string]any{"amount": 1500, "stage": "won"}, 200, nil, "If-Match", "1")
			evs = next()
			expect(evs, "record.updated")
			ev = evs[0]
			if ev.RecordID != id || ev.Version != 2 || ev.Origin != viaToken {
				t.Fatalf("updated: %+v", ev)
			}
			// The record as the update left it, for a rule over the new
			// values (a later write cannot change what the rule sees).
			if ev.Record["id"] != id || ev.Record["version"] != int64(2) || !sameNum(ev.Record["amount"], 1500) || ev.Record["name"] != "Acme" {
				t.Fatalf("updated: %+v", ev)
			}
			if len(ev.Changes) != 1 || !sameNum(ev.Changes["amount"].Old, 1200) || !sameNum(ev.Changes["amount"].New, 1500) {
				t.Fatalf("updated changes: %v", ev.Changes)
			}
			// A write that changes nothing has no event.
			e.do("PATCH", "/api/v1/records/deal/"+id, map[string]any{"amount": 1500}, 200, nil)
			expect(next())

			// Delete: the record as it was, for a "deleted" trigger.
			e.do("DELETE", "/api/v1/records/deal/"+id, nil, 204, nil, "If-Match", "2")
			evs = next()
			expect(evs, "record.deleted")
			ev = evs[0]
			if ev.RecordID != id || ev.Version != 2 || ev.Origin != session || ev.Record["name"] != "Acme" || !sameNum(ev.Record["amount"], 1500) {
				t.Fatalf("deleted: %+v", ev)
			}
			if ch := ev.Changes["name"]; ch.Old != "Acme" || ch.New != nil {
				t.Fatalf("deleted changes: %v", ev.Changes)
			}

			// A type change rewrites each record holding the field: a new
			// version and a record.updated event each, in the unit that
			// saves the metadata.
			e.do("POST", "/api/v1/meta/entities/deal/fields", map[string]any{"name": "code", "type": "text"}, 201, nil)
			e.do("POST", "/api/v1/records/deal", map[string]any{"name": "B", "code": "42"}, 201, &rec)
			e.do("POST", "/api/v1/records/deal", map[string]any{"name": "C"}, 201, nil)
			b := rec["id"].(string)
			next()
			e.do("PATCH", "/api/v1/meta/entities/deal/fields/code", map[string]any{"type": "integer"}, 200, nil)
			evs = next()
			expect(evs, "record.updated", "meta.entity.updated")
			ev = evs[0]
			if ev.RecordID != b || ev.Version != 2 || ev.Actor != me.ID || ev.Origin != session || len(ev.Changes) != 1 ||
				ev.Changes["code"].Old != "42" || !sameNum(ev.Changes["code"].New, 42) {
				t.Fatalf("converted: %+v", ev)
			}
			if conv, _ := ev.Payload["conversion"].([]any); len(conv) != 1 || conv[0] != "code" {
				t.Fatalf("a conversion's event says so: %v", ev.Payload)
			}
			if evs[1].Entity != "deal" || evs[1].Origin != session {
				t.Fatalf("metadata event: %+v", evs[1])
			}
			var audit struct{ Items []store.AuditEntry }
			e.do("GET", "/api/v1/audit?entity=deal&record_id="+b, nil, 200, &audit)
			if len(audit.Items) != 2 || audit.Items[0].Action != "record.convert" {
				t.Fatalf("audit of the converted record: %+v", audit.Items)
			}

			// A purge: one event, without the values it removes.
			e.do("DELETE", "/api/v1/meta/entities/deal/fields/code", nil, 204, nil)
			next()
			e.do("POST", "/api/v1/meta/entities/deal/fields/code/purge", nil, 204, nil)
			evs = next()
			expect(evs, "meta.field.purged", "meta.entity.updated")
			ev = evs[0]
			if ev.Entity != "deal" || ev.Payload["field"] != "code" || ev.Changes != nil || ev.Record != nil || ev.Origin != session {
				t.Fatalf("purged: %+v", ev)
			}
			got, err := e.st.Get(t.Context(), "deal", b)
			if err != nil || got.Data["code"] != nil {
				t.Fatalf("purged record: %+v %v", got, err)
			}
		})
	}
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
