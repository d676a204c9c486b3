package workflows

import (
	"encoding/json"
	"testing"
	"time"
)

// TestStoredBody: a run's row keeps its body as Body encodes it, with the
// input encoded once (record) — the same text, field for field, so rows
// written before and after read alike.
func TestStoredBody(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	r := &Run{ID: "r1", Body: Body{
		Input:     Input{Record: map[string]any{"name": "Acme", "amount": 12.5}, Old: map[string]any{"stage": "lead"}, User: "u1", At: at},
		Condition: &Condition{Expression: "stage == \"won\"", Result: true},
		Steps:     []*Step{{Index: 0, Type: "set_fields", Status: StepSucceeded, Input: json.RawMessage(`{"values":{"score":"1"}}`), Effects: []string{"set"}}},
		Error:     "e", Reason: "transient", FromStep: 1, Missed: MissedCatchUp,
	}}
	want, err := json.Marshal(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second with the input already encoded
		rec, err := r.record()
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Data["body"]; got != string(want) {
			t.Fatalf("row %d's body:\n%s\nwant\n%s", i, got, want)
		}
		r.Steps[0].Status = StepFailed // what changes between rows is written anew
		want, _ = json.Marshal(r.Body)
	}
}
