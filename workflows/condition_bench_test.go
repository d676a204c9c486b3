package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/metadata"
	"github.com/jimu-crm/jimu/workflows/action"
)

// BenchmarkCondition: one evaluation of the update condition,
// old.stage != "won" and stage == "won", over a deal as an event carries
// it — the environment built from the event's record and old values, then
// the compiled program run within its memory budget.
// go test -run '^$' -bench Condition -benchmem ./workflows/
func BenchmarkCondition(b *testing.B) {
	e := &catalog.Entity{Entity: &metadata.Entity{Name: "deal", Ownership: true, Fields: []*metadata.Field{
		{Name: "name", Type: "text"}, {Name: "amount", Type: "currency"}, {Name: "stage", Type: "select"},
		{Name: "close_date", Type: "date"}}}}
	prog, fe := action.Compile(e, `old.stage != "won" and stage == "won"`, false)
	if fe != nil {
		b.Fatal(fe.Message)
	}
	c := &compiled{Rule: &Rule{Condition: `old.stage != "won" and stage == "won"`}, cond: prog}
	s := &Service{limits: DefaultLimits}
	record := map[string]any{"id": "01a2313a-2905-7ba4-a66b-42b2236de9ba", "version": int64(3), "name": "Acme", "amount": 1200.0,
		"stage": "won", "close_date": "2026-12-31", "owner": "u1", "created_at": "2026-12-01T10:50:24.901Z", "updated_at": "2026-12-01T10:50:24.901Z"}
	old := map[string]any{"stage": "qualified"}
	now := time.Now()
	b.Run("evaluate", func(b *testing.B) {
		env := action.Env(e, record, old, nil, now, nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if ok, err := s.condition(c, env); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("env+evaluate", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			env := action.Env(e, record, old, nil, now, nil)
			if ok, err := s.condition(c, env); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

// TestConditionTimeBudget: a condition that overruns its time budget on a
// second try too fails with the budget named; within it, it passes.
func TestConditionTimeBudget(t *testing.T) {
	e := &catalog.Entity{Entity: &metadata.Entity{Name: "deal", Fields: []*metadata.Field{{Name: "stage", Type: "select"}}}}
	prog, fe := action.Compile(e, `stage == "won"`, false)
	if fe != nil {
		t.Fatal(fe.Message)
	}
	c := &compiled{Rule: &Rule{Condition: `stage == "won"`}, cond: prog}
	env := action.Env(e, map[string]any{"stage": "won"}, nil, nil, time.Now(), nil)
	s := &Service{limits: DefaultLimits}
	if ok, err := s.condition(c, env); !ok || err != nil {
		t.Fatalf("within budget: %v %v", ok, err)
	}
	s.limits.ExprTime = time.Nanosecond // no evaluation is that quick
	if _, err := s.condition(c, env); err == nil || !strings.Contains(err.Error(), "more than its budget of 1ns") {
		t.Fatalf("over budget: %v", err)
	}
}
