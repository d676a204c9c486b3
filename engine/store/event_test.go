package store_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

// legacy is an event body as stores wrote it before bodies were compacted.
func legacy(t *testing.T, e *store.Event) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"origin": e.Origin, "changes": e.Changes, "record": e.Record, "payload": e.Payload})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// columnsOf is the event as a store reads it back before its body: the
// columns only.
func columnsOf(e *store.Event) *store.Event {
	return &store.Event{ID: e.ID, Type: e.Type, Entity: e.Entity, RecordID: e.RecordID, Version: e.Version,
		Actor: e.Actor, At: e.At.UTC().Truncate(time.Millisecond)}
}

// TestEventBodyRoundTrip: a compacted body reads back as exactly what the
// full body would (and bodies written before compaction still read), for
// creates, updates and deletes and for events whose record and changes
// disagree; a create's body shrinks to under half.
func TestEventBodyRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 31, 16, 30, 0, 123456789, time.UTC)
	ts := "2026-03-31T16:30:00.123Z"
	actor, rid := "0190a000-0000-7000-8000-000000000001", "01a2316a-3e80-7bea-8621-90e4f22f759b"
	record := func() map[string]any {
		return map[string]any{"id": rid, "version": int64(1), "created_at": ts, "updated_at": ts, "created_by": actor, "updated_by": actor,
			"owner": actor, "name": "Deal 0", "amount": 13594.42, "score": int64(81), "tags": []any{"a", "b"},
			"extra": map[string]any{"k": []any{int64(1), "x"}}, "close_date": "2024-05-06"}
	}
	created := func() *store.Event {
		r := record()
		ch := map[string]store.Change{}
		for _, k := range []string{"name", "amount", "score", "tags", "extra", "close_date", "owner"} {
			ch[k] = store.Change{New: r[k]}
		}
		return &store.Event{ID: "e1", Type: "record.created", Entity: "deal", RecordID: rid, Version: 1, Actor: actor, At: at,
			Origin: store.Origin{User: actor, Token: "tok"}, Changes: ch, Record: r}
	}
	deleted := created()
	deleted.Type, deleted.Version = "record.deleted", 3
	deleted.Record["version"] = int64(3)
	for k, c := range deleted.Changes {
		deleted.Changes[k] = store.Change{Old: c.New}
	}
	other := created()
	other.Actor = "someone-else" // created_by no longer the actor; origin user neither
	other.Changes["name"] = store.Change{New: "not what the record says"}
	other.Changes["gone"] = store.Change{Old: "x"}
	other.Changes["amount"] = store.Change{Old: 1.5, New: 13594.42} // an update
	noRecord := &store.Event{ID: "e4", Type: "record.updated", Entity: "deal", RecordID: rid, Version: 2, Actor: actor, At: at,
		Origin: store.Origin{Run: "run-1", Depth: 2}, Changes: map[string]store.Change{"stage": {Old: "lead", New: "won"}}}
	meta := &store.Event{ID: "e5", Type: "meta.entity.updated", Entity: "deal", At: at, Payload: map[string]any{"name": "deal", "n": int64(2)}}
	zeroAt := created()
	zeroAt.Record["created_at"] = "2020-01-01T00:00:00.000Z" // the record's time is not the event's
	// As the pipeline makes them: a create's changes name no owner, a
	// delete's neither; their bodies then name no field twice.
	pipeline := created()
	delete(pipeline.Changes, "owner")
	pipelineDel := created()
	pipelineDel.Type, pipelineDel.Version, pipelineDel.Origin = "record.deleted", 2, store.Origin{}
	pipelineDel.Record["version"] = int64(2)
	delete(pipelineDel.Changes, "owner")
	for k, c := range pipelineDel.Changes {
		pipelineDel.Changes[k] = store.Change{Old: c.New}
	}

	for name, e := range map[string]*store.Event{"created": created(), "deleted": deleted, "disagreeing": other,
		"no record": noRecord, "meta": meta, "other time": zeroAt, "pipeline create": pipeline, "pipeline delete": pipelineDel} {
		t.Run(name, func(t *testing.T) {
			b, err := store.MarshalEventBody(e)
			if err != nil {
				t.Fatal(err)
			}
			want := columnsOf(e)
			if err := store.UnmarshalEventBody(legacy(t, e), want); err != nil {
				t.Fatal(err)
			}
			got := columnsOf(e)
			if err := store.UnmarshalEventBody(b, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("read back:\n got %#v\nwant %#v\nbody %s", got, want, b)
			}
			// With the flags in a column of their own: the same event, and
			// a body without them.
			fb, flags, err := store.MarshalEventBodyFlags(e)
			if err != nil {
				t.Fatal(err)
			}
			split := columnsOf(e)
			if err := store.UnmarshalEventBodyFlags(fb, flags, split); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(split, want) {
				t.Fatalf("read back with flags %b:\n got %#v\nwant %#v\nbody %s", flags, split, want, fb)
			}
			if bytes.Contains(fb, []byte("_all")) || bytes.Contains(fb, []byte("actor_origin")) {
				t.Fatalf("the flags stayed in the body: %s", fb)
			}
			if name == "pipeline create" && (flags != store.FlagSetAll|store.FlagSameAll|store.FlagActorOrigin || len(fb) > len(b)-45) {
				t.Fatalf("a create's flags: %b, body %d bytes of %d", flags, len(fb), len(b))
			}
			switch name {
			case "pipeline create", "pipeline delete":
				var keys map[string]json.RawMessage
				if err := json.Unmarshal(b, &keys); err != nil {
					t.Fatal(err)
				}
				if _, ok := keys["set"]; ok {
					t.Errorf("a %s body names its fields again: %s", name, b)
				}
				if _, ok := keys["cleared"]; ok {
					t.Errorf("a %s body names its fields again: %s", name, b)
				}
				if _, ok := keys["origin"]; ok && name == "pipeline delete" {
					t.Errorf("an empty origin was written: %s", b)
				}
			}
			if name == "created" || name == "deleted" {
				if full := len(legacy(t, e)); len(b)*2 > full {
					t.Errorf("a %s body is %d bytes of %d: not compacted (%s)", name, len(b), full, b)
				}
				// A rebuilt change is a copy of the record's value.
				got.Record["tags"].([]any)[0] = "edited"
				c := got.Changes["tags"]
				if c.New != nil && c.New.([]any)[0] == "edited" || c.Old != nil && c.Old.([]any)[0] == "edited" {
					t.Error("editing the record edited its change")
				}
			}
		})
	}
}

// FuzzEventBody: no stored body, however damaged, panics the reader.
func FuzzEventBody(f *testing.F) {
	f.Add([]byte(`{"origin":{},"set":["a"],"cleared":["b"],"same":["id","version"],"actor_origin":true}`), uint8(0))
	f.Add([]byte(`{"origin":{"user":"u"},"record":{"a":1},"set":["a","a"],"changes":{"b":{"old":1e400,"new":null}}}`), uint8(0))
	f.Add([]byte(`{"record":{"a":1,"owner":"u"}}`), uint8(store.FlagSetAll|store.FlagClearedAll|store.FlagSameAll|store.FlagActorOrigin))
	f.Add([]byte(``), uint8(0xff))
	f.Fuzz(func(t *testing.T, b []byte, flags uint8) {
		e := &store.Event{RecordID: "r", Version: 2, Actor: "a"}
		_ = store.UnmarshalEventBodyFlags(b, store.BodyFlags(flags), e) // the flags column as SQLite stores it
	})
}
