package records

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

func tooMany(t *testing.T, err error) *problem.Error {
	t.Helper()
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusTooManyRequests || pe.RetryAfter < 1 {
		t.Fatalf("want a 429 with Retry-After, got %v", err)
	}
	return pe
}

// TestAdmission: a principal past their allowance is refused at once;
// others still get in; beyond the running slots a read waits for a turn,
// and gives up with 429 after MaxWait or when its request is cancelled.
// No clock races: a waiter is known to wait because every slot is held.
func TestAdmission(t *testing.T) {
	ctx := context.Background()
	a := NewAdmission(AdmissionLimits{Running: 1, Total: 1, PerUser: 2, MaxWait: time.Hour})
	first, err := a.Enter(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Alice's second read waits: the one slot is hers already.
	got := make(chan error, 1)
	var second func()
	go func() {
		var err error
		second, err = a.Enter(ctx, "alice")
		got <- err
	}()
	for a.held("alice") < 2 {
		runtime.Gosched() // until the waiter has counted itself in
	}
	select {
	case err := <-got:
		t.Fatalf("a read ran without a free slot (%v)", err)
	default:
	}
	// A third is over her allowance: refused at once.
	if _, err := a.Enter(ctx, "alice"); err == nil {
		t.Fatal("a third heavy read was admitted past the allowance of 2")
	} else {
		tooMany(t, err)
	}
	// Bob is not refused because of Alice; he waits his turn (cancelled here).
	cctx, cancel := context.WithCancel(ctx)
	bob := make(chan error, 1)
	go func() { _, err := a.Enter(cctx, "bob"); bob <- err }()
	for a.held("bob") < 1 {
		runtime.Gosched()
	}
	cancel()
	if err := <-bob; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	if a.held("bob") != 0 {
		t.Fatal("a cancelled waiter still counts against its allowance")
	}
	// The slot passes on when the first read ends.
	first()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	second()
	if a.held("alice") != 0 {
		t.Fatalf("alice holds %d after both ended", a.held("alice"))
	}

	// Beyond the reserved slot a heavy read starts only while nothing light
	// is in flight; and a principal with none running goes first.
	f := NewAdmission(AdmissionLimits{Running: 1, Total: 2, PerUser: 8, MaxWait: time.Hour, Quiet: time.Hour})
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return clock }
	erin1, err := f.Enter(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	get := f.Light() // a get by id in flight
	second2 := make(chan func(), 1)
	go func() { r, _ := f.Enter(ctx, "erin"); second2 <- r }()
	for f.held("erin") < 2 {
		runtime.Gosched()
	}
	select {
	case <-second2:
		t.Fatal("a second heavy read started while a light read was in flight")
	default:
	}
	get() // the get ends, but a reader of records one by one may be back at once
	f.mu.Lock()
	if ok, quiet := f.mayRun(f.users["erin"]); ok || quiet != time.Hour {
		t.Errorf("the moment a light read ended: may run %v, quiet for %v more; want no, an hour", ok, quiet)
	}
	f.wake()
	f.mu.Unlock()
	select {
	case <-second2:
		t.Fatal("a second heavy read started the moment a light read ended")
	default:
	}
	// A quiet hour later (the clock's; the waiter's own timer is set for a
	// real hour) the spare slot is free.
	f.mu.Lock()
	clock = clock.Add(time.Hour + time.Millisecond)
	f.wake()
	f.mu.Unlock()
	erin2 := <-second2
	// Both slots busy; erin queues a third, then frank one. When a slot
	// frees, frank (none running) goes before erin's third.
	third := make(chan func(), 1)
	go func() { r, _ := f.Enter(ctx, "erin"); third <- r }()
	for f.held("erin") < 3 {
		runtime.Gosched()
	}
	frankCh := make(chan func(), 1)
	go func() { r, _ := f.Enter(ctx, "frank"); frankCh <- r }()
	for f.held("frank") < 1 {
		runtime.Gosched()
	}
	erin1()
	frank := <-frankCh
	select {
	case <-third:
		t.Fatal("erin's third ran before frank's first")
	default:
	}
	frank()
	(<-third)()
	erin2()
	if f.held("erin") != 0 || f.held("frank") != 0 {
		t.Fatal("allowances not given back")
	}

	// A waiter gives up with 429 after MaxWait.
	b := NewAdmission(AdmissionLimits{Running: 1, Total: 1, PerUser: 4, MaxWait: time.Hour})
	hold, err := b.Enter(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	b.maxWait = time.Nanosecond
	if _, err := b.Enter(ctx, "dave"); err == nil {
		t.Fatal("admitted without a free slot")
	} else {
		tooMany(t, err)
	}
	hold()
	if b.held("dave") != 0 || b.held("carol") != 0 {
		t.Fatal("allowances not given back")
	}
}

func (a *Admission) held(who string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.users[who]; l != nil {
		return l.n
	}
	return 0
}

// TestHeavyClassification: counts and scans go through admission; pages
// an index serves do not.
func TestHeavyClassification(t *testing.T) {
	e := &catalog.Entity{Entity: &metadata.Entity{Name: "deal", Ownership: true, Fields: []*metadata.Field{
		{Name: "name", Type: "text"}, {Name: "stage", Type: "select", Indexed: true},
		{Name: "email", Type: "email", Unique: true}, {Name: "score", Type: "integer"}, {Name: "amount", Type: "currency"},
	}, Indexes: []*metadata.Index{{Fields: []string{"amount", "stage"}}}}}
	eq := func(f string) *store.Cond { return &store.Cond{Op: store.OpEq, Field: f, Value: "x"} }
	sortBy := func(f string) []store.SortKey { return []store.SortKey{{Field: f}, {Field: "id"}} }
	for _, c := range []struct {
		name  string
		where *store.Cond
		sort  []store.SortKey
		count bool
		heavy bool
	}{
		{"count", eq("stage"), sortBy("id"), true, true},
		{"no filter, sorted by id", nil, sortBy("id"), false, false},
		{"no filter, sorted by an unindexed field", nil, sortBy("name"), false, true},
		{"indexed equality", eq("stage"), sortBy("name"), false, false},
		{"unique field", eq("email"), sortBy("name"), false, false},
		{"leading field of a compound index", &store.Cond{Op: store.OpGt, Field: "amount", Value: 1.0}, sortBy("name"), false, false},
		{"unindexed equality", eq("score"), sortBy("name"), false, true},
		{"unindexed equality over an index walk", eq("score"), sortBy("id"), false, true},
		{"row rule on owner", store.And(eq("score"), eq("owner")), sortBy("name"), false, false},
		{"or with an unindexed branch", store.Or(eq("stage"), eq("score")), sortBy("name"), false, true},
		{"or of indexed branches", store.Or(eq("stage"), eq("email")), sortBy("name"), false, false},
		{"negation", &store.Cond{Op: store.OpNot, Args: []*store.Cond{eq("stage")}}, sortBy("name"), false, true},
		{"contains", &store.Cond{Op: store.OpContains, Field: "stage", Value: "x"}, sortBy("name"), false, true},
	} {
		if got := heavy(e, c.where, c.sort, c.count); got != c.heavy {
			t.Errorf("%s: heavy = %v, want %v", c.name, got, c.heavy)
		}
	}
}
