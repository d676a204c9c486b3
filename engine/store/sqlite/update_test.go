package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// TestUpdateSetsWhatChanged: an update of a record read at the version
// before names in its SET only the columns whose stored value changes, so
// the indexes on the others are not rewritten: a change of one unindexed
// field of a deal (indexes on amount, stage, email, owner, created_at,
// updated_at) writes three pages to the WAL, where naming every column
// wrote seven. Each kind of change — an indexed field, the owner, a value
// set and one cleared, a record not read first, a stale version — then
// reads back through Get and through its index.
func TestUpdateSetsWhatChanged(t *testing.T) {
	s, path := walStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var ids []string
	for i := range 2000 {
		r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: "u1", Owner: fmt.Sprintf("u%d", i%7),
			Data: map[string]any{"name": fmt.Sprintf("Deal %d", i), "amount": float64(i * 37 % 1000), "qty": int64(i),
				"stage": []string{"lead", "won", "lost"}[i%3], "email": fmt.Sprintf("d%d@example.com", i), "tags": []any{"a"}}}
		if err := s.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	get := func(id string) *store.Record {
		t.Helper()
		r, err := s.Get(ctx, "deal", id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// update changes the record as read (r) and writes it, reporting the
	// pages it added to the WAL.
	update := func(r *store.Record, change func(r *store.Record)) int64 {
		t.Helper()
		before := walSize(t, path)
		r.Version++
		r.UpdatedAt = r.UpdatedAt.Add(time.Second)
		change(r)
		if err := s.Update(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
		return (walSize(t, path) - before) / (pageSize + 24)
	}
	id := ids[1000]
	if frames := update(get(id), func(r *store.Record) { r.Data["qty"] = int64(-1) }); frames > 3 {
		t.Errorf("changing qty wrote %d pages to the WAL: the unchanged indexed columns were rewritten", frames)
	}
	if got := get(id); got.Data["qty"] != int64(-1) {
		t.Fatalf("after changing qty: %v", got.Data)
	}
	update(get(id), func(r *store.Record) { r.Data["email"] = "moved@example.com"; delete(r.Data, "tags") })
	if got := get(id); got.Data["email"] != "moved@example.com" || got.Data["tags"] != nil {
		t.Fatalf("after moving the email and clearing the tags: %v", got.Data)
	}
	update(get(id), func(r *store.Record) {
		r.Owner = "someone"
		delete(r.Data, "stage")
		r.Data["close_date"] = "2030-01-02"
	})
	if got := get(id); got.Owner != "someone" || got.Data["stage"] != nil || got.Data["close_date"] != "2030-01-02" {
		t.Fatalf("after the owner, stage and close date: %s %v", got.Owner, got.Data)
	}
	// Written again without reading it first: Stored is the row before
	// the last write, and must not be trusted.
	// Its second write puts back the value the first changed: compared
	// with the row as read, amount would look unchanged and be left 5.5.
	r := get(id)
	was := r.Data["amount"]
	update(r, func(r *store.Record) { r.Data["amount"] = 5.5 })
	update(r, func(r *store.Record) { r.Data["amount"] = was; r.Data["stage"] = "won" })
	if got := get(id); got.Data["amount"] != was || got.Data["stage"] != "won" {
		t.Fatalf("after putting amount back: %v", got.Data)
	}
	// A record that was never read: every column is written.
	fresh := *get(id)
	fresh.Stored, fresh.Data = nil, map[string]any{"name": "Fresh", "amount": 7.5, "email": "fresh@example.com"}
	update(&fresh, func(*store.Record) {})

	got := get(id)
	want := map[string]any{"name": "Fresh", "amount": 7.5, "email": "fresh@example.com"}
	if got.Version != 7 || got.Owner != "someone" || len(got.Data) != len(want) {
		t.Fatalf("read back %+v %v", got, got.Data)
	}
	for k, v := range want {
		if got.Data[k] != v {
			t.Fatalf("%s read back %v, want %v", k, got.Data[k], v)
		}
	}
	find := func(field string, v any) []string {
		t.Helper()
		kind := metadata.KindString
		if _, ok := v.(float64); ok {
			kind = metadata.KindNumber
		}
		got, err := s.Find(ctx, "deal", store.Query{Filter: &store.Cond{Op: store.OpEq, Field: field, Kind: kind, Value: v}, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range got {
			out = append(out, g.ID)
		}
		return out
	}
	one := func(what string, got []string) {
		t.Helper()
		if len(got) != 1 || got[0] != id {
			t.Errorf("by %s: %v", what, got)
		}
	}
	one("the last email", find("email", "fresh@example.com"))
	one("the new owner", find("owner", "someone"))
	one("the last amount", find("amount", 7.5))
	for _, old := range [][2]any{{"email", "d1000@example.com"}, {"email", "moved@example.com"}, {"amount", 5.5}} {
		if got := find(old[0].(string), old[1]); len(got) != 0 {
			t.Errorf("%s %v still finds %v", old[0], old[1], got)
		}
	}
	for _, found := range find("stage", "won") {
		if found == id {
			t.Error("the cleared stage still finds the deal")
		}
	}
	// A stale version changes nothing.
	stale := *got
	stale.Data = map[string]any{"name": "stale"}
	if err := s.Update(ctx, "deal", &stale, store.Sides{}); err == nil {
		t.Fatal("an update at a version already written was applied")
	}
}
