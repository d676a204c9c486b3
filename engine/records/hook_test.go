package records_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
)

// TestWriteHook: a hook runs inside the pipeline on the very record that
// is written — the old one and the new one, the body as sent — may fill
// fields, and its refusal is reported with the pipeline's own errors and
// writes nothing.
func TestWriteHook(t *testing.T) {
	ctx := context.Background()
	svc, st := deals(t)
	var seen []*records.Write
	hook := func(_ context.Context, w *records.Write) error {
		seen = append(seen, w)
		if w.Body["stage"] == "lost" {
			return problem.Invalid(problem.FieldError{Field: "stage", Code: "hook", Message: "not through this form"})
		}
		if w.Old == nil {
			w.New.Data["score"] = int64(7)
		}
		return nil
	}
	r, err := svc.CreateWith(ctx, actor, "deal", map[string]any{"name": "A", "stage": "won"}, hook)
	if err != nil {
		t.Fatal(err)
	}
	if r.Data["score"] != int64(7) || len(seen) != 1 || seen[0].Old != nil || seen[0].Entity.Name != "deal" || seen[0].Principal != actor {
		t.Fatalf("the create's hook: %+v %+v", r.Data, seen)
	}
	// Refused by the hook and by the schema at once: both reported.
	_, err = svc.CreateWith(ctx, actor, "deal", map[string]any{"stage": "lost"}, hook)
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != 422 || !hasField(pe, "stage") || !hasField(pe, "name") {
		t.Fatalf("a refused create: %v", err)
	}
	u, err := svc.UpdateWith(ctx, actor, "deal", r.ID, map[string]any{"name": "B"}, 1, false, hook)
	if err != nil {
		t.Fatal(err)
	}
	last := seen[len(seen)-1]
	if last.Old == nil || last.Old.Data["name"] != "A" || last.New.Data["name"] != "B" || last.Body["name"] != "B" || u.Version != 2 {
		t.Fatalf("the update's hook: %+v", last)
	}
	if _, err := svc.UpdateWith(ctx, actor, "deal", r.ID, map[string]any{"stage": "lost"}, 2, false, hook); !errors.As(err, &pe) || !hasField(pe, "stage") {
		t.Fatalf("a refused update: %v", err)
	}
	got, err := st.Get(ctx, "deal", r.ID)
	if err != nil || got.Version != 2 || got.Data["stage"] != "won" {
		t.Fatalf("after the refused update: %+v %v", got, err)
	}
	n, _, _ := st.Count(ctx, "deal", nil, 10)
	if n != 1 {
		t.Fatalf("%d deals", n)
	}
}

func hasField(pe *problem.Error, field string) bool {
	for _, fe := range pe.Errors {
		if fe.Field == field {
			return true
		}
	}
	return false
}
