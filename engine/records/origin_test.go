package records_test

import (
	"context"
	"testing"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// TestRunOrigin: the writes a workflow run makes (identity.WithRun) say so
// in their events, with the chain depth, so the runner can stop a loop;
// an API token's id is there too, a session's is not.
func TestRunOrigin(t *testing.T) {
	ctx := context.Background()
	svc, st := deals(t)
	api := *actor
	api.TokenKind, api.TokenID = "api", "tok-1"
	session := *actor
	session.TokenKind, session.TokenID = "session", "sess-1"
	run := identity.WithRun(ctx, identity.Run{ID: "run-7", Depth: 2})

	r, err := svc.Create(run, &api, "deal", map[string]any{"name": "A", "stage": "won"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Update(ctx, &session, "deal", r.ID, map[string]any{"name": "B"}, 1, false); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(run, &session, "deal", r.ID, 2); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var mine []*store.Event
	for _, e := range evs {
		if e.RecordID == r.ID {
			mine = append(mine, e)
		}
	}
	want := []store.Origin{
		{User: actor.UserID, Token: "tok-1", Run: "run-7", Depth: 2},
		{User: actor.UserID},
		{User: actor.UserID, Run: "run-7", Depth: 2},
	}
	if len(mine) != len(want) {
		t.Fatalf("events: %+v", mine)
	}
	for i, e := range mine {
		if e.Origin != want[i] {
			t.Errorf("%s: origin %+v, want %+v", e.Type, e.Origin, want[i])
		}
	}
}
