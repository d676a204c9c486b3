package records_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// TestUnitPrepare: a unit's Prepare sees the record its Before will, before
// the unit is queued for the store's writer (outside it: a store write
// from Prepare would wait for a writer the unit is not holding yet); a
// Prepare that fails writes nothing.
func TestUnitPrepare(t *testing.T) {
	ctx := context.Background()
	svc, st := deals(t)
	r, err := svc.Create(ctx, actor, "deal", map[string]any{"name": "A", "stage": "lead"})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	var prepared *store.Record
	u := &records.Unit{
		Prepare: func(entity string, rec *store.Record) error {
			order = append(order, "prepare")
			prepared = rec
			// Outside the writer, a write of the store's own goes through.
			return st.PutDoc(ctx, &store.Doc{Kind: "note", ID: "n1", Version: 1, Data: []byte(`{}`)}, store.Sides{})
		},
		Before: func(ctx context.Context, tx store.Tx, entity string, rec *store.Record) error {
			order = append(order, "before")
			if rec != prepared || rec.Version != 2 || rec.Data["name"] != "B" {
				t.Errorf("Before's record %+v is not Prepare's %+v", rec, prepared)
			}
			return nil
		},
	}
	if _, err := svc.Update(records.WithUnit(ctx, u), actor, "deal", r.ID, map[string]any{"name": "B"}, 0, false); err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != "prepare" || order[1] != "before" || !u.Used {
		t.Fatalf("calls %v, used %v", order, u.Used)
	}

	failing := &records.Unit{
		Prepare: func(string, *store.Record) error { return store.ErrConflict },
		Before: func(context.Context, store.Tx, string, *store.Record) error {
			t.Error("Before after a failed Prepare")
			return nil
		},
	}
	_, err = svc.Update(records.WithUnit(ctx, failing), actor, "deal", r.ID, map[string]any{"name": "C"}, 0, false)
	var ue *records.UnitError
	if !errors.As(err, &ue) {
		t.Fatalf("a failed Prepare: %v, want a UnitError", err)
	}
	if got, _, _ := svc.Get(ctx, actor, "deal", r.ID); got.Data["name"] != "B" {
		t.Fatalf("a failed Prepare wrote: %+v", got.Data)
	}
}
