package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

// event is a full record event as the write pipeline makes them.
func event(typ string, r *store.Record, at time.Time) *store.Event {
	return &store.Event{ID: store.NewID(), Type: typ, Entity: "deal", RecordID: r.ID, Version: r.Version, Actor: "u1", At: at,
		Origin: store.Origin{User: "u1", Token: "t1", Run: "run-1", Depth: 2}}
}

func testOutboxContent(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := rec(map[string]any{"name": "A", "qty": int64(3), "tags": []any{"x"}})
	created := event("record.created", r, now)
	created.Record = map[string]any{"id": r.ID, "version": int64(1), "name": "A", "qty": int64(3), "tags": []any{"x"}}
	created.Changes = map[string]store.Change{"name": {New: "A"}, "qty": {New: int64(3)}}
	if err := s.Insert(ctx(), "deal", r, store.Sides{Event: created}); err != nil {
		t.Fatal(err)
	}
	r.Version = 2
	r.Data = map[string]any{"name": "B", "qty": int64(3), "amount": 1.5}
	updated := event("record.updated", r, now)
	updated.Changes = map[string]store.Change{"name": {Old: "A", New: "B"}, "amount": {New: 1.5}, "tags": {Old: []any{"x"}}}
	if err := s.Update(ctx(), "deal", r, store.Sides{Event: updated}); err != nil {
		t.Fatal(err)
	}
	deleted := event("record.deleted", r, now)
	deleted.Record = map[string]any{"id": r.ID, "name": "B"}
	if err := s.Delete(ctx(), "deal", r.ID, 2, store.Sides{Event: deleted}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx(), "", 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("events: %d %v", len(evs), err)
	}
	for i, want := range []*store.Event{created, updated, deleted} {
		got := evs[i]
		if got.Cursor == "" {
			t.Fatalf("event %d has no cursor", i)
		}
		want.Cursor = got.Cursor
		if !got.At.Equal(want.At) {
			t.Errorf("event %d at %v, want %v", i, got.At, want.At)
		}
		got.At = want.At
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d:\n got %#v\nwant %#v", i, got, want)
		}
	}
	// EventsFor: the same events and cursors; only the wanted carry a body.
	var asked []string
	some, err := s.EventsFor(ctx(), "", 10, func(typ, entity string) bool {
		asked = append(asked, typ+" "+entity)
		return typ == "record.updated"
	})
	if err != nil || len(some) != 3 {
		t.Fatalf("events for: %d %v", len(some), err)
	}
	if want := []string{"record.created deal", "record.updated deal", "record.deleted deal"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("want asked of %v, want %v", asked, want)
	}
	for i, got := range some {
		full := evs[i]
		if got.Cursor != full.Cursor || got.ID != full.ID || got.Type != full.Type || got.Entity != full.Entity ||
			got.RecordID != full.RecordID || got.Version != full.Version || got.Actor != full.Actor || !got.At.Equal(full.At) {
			t.Errorf("event %d for want: columns differ:\n got %#v\nwant %#v", i, got, full)
		}
		if i == 1 {
			if got.Bare || !reflect.DeepEqual(got.Changes, full.Changes) || got.Origin != full.Origin {
				t.Errorf("wanted event: %#v", got)
			}
			continue
		}
		if !got.Bare || got.Record != nil || got.Changes != nil || got.Origin != (store.Origin{}) {
			t.Errorf("unwanted event %d was decoded: %#v", i, got)
		}
	}
	rest, err := s.Events(ctx(), evs[0].Cursor, 1)
	if err != nil || len(rest) != 1 || rest[0].ID != updated.ID {
		t.Fatalf("one event after the first: %+v %v", rest, err)
	}
	if rest, _ := s.Events(ctx(), evs[2].Cursor, 10); len(rest) != 0 {
		t.Fatalf("events after the last: %+v", rest)
	}
	if _, err := s.Events(ctx(), "not a cursor", 10); err == nil {
		t.Fatal("a malformed cursor was accepted")
	}
}

// testFollow: 16 writers create and then update records, half of them on
// a second Store when the backend can open one, while a reader follows the
// outbox by its cursor. The reader must see every event exactly once, and
// each record's creation before its update: ids are minted before a write
// is queued, so an outbox read in id order misses events that commit late.
func testFollow(t *testing.T, s store.Store, caps Capabilities) {
	setup(t, s)
	other := s
	if caps.Reopen != nil {
		other = caps.Reopen(t, s)
	}
	per := caps.FollowWrites
	if per == 0 {
		per = 300
	}
	const writers = 16
	want := writers * per * 2
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		st := s
		if w%2 == 1 {
			st = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				now := time.Now().UTC()
				r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
					Data: map[string]any{"name": fmt.Sprintf("w%d-%d", w, i)}}
				if err := st.Insert(ctx(), "deal", r, store.Sides{Event: event("record.created", r, now)}); err != nil {
					errs <- err
					return
				}
				r.Version = 2
				if err := st.Update(ctx(), "deal", r, store.Sides{Event: event("record.updated", r, now)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	seen := map[string]bool{}
	created := map[string]bool{}
	var cursor store.Cursor
	writing := true
	for {
		evs, err := s.Events(ctx(), cursor, 200)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if seen[e.ID] {
				t.Fatalf("event %s (%s of %s) read twice", e.ID, e.Type, e.RecordID)
			}
			seen[e.ID] = true
			switch e.Type {
			case "record.created":
				created[e.RecordID] = true
			case "record.updated":
				if !created[e.RecordID] {
					t.Fatalf("the update of %s came before its creation", e.RecordID)
				}
			}
			cursor = e.Cursor
		}
		if len(evs) > 0 {
			continue
		}
		if !writing {
			break
		}
		select {
		case <-done:
			writing = false // one more read after the last write
		default:
			runtime.Gosched()
		}
	}
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	if len(seen) != want {
		t.Fatalf("the reader saw %d events of %d", len(seen), want)
	}
}

func testCheckpoints(t *testing.T, s store.Store, _ Capabilities) {
	if c, err := s.Checkpoint(ctx(), "runner"); err != nil || c != "" {
		t.Fatalf("no checkpoint yet: %q %v", c, err)
	}
	setup(t, s)
	r := rec(map[string]any{"name": "A"})
	if err := s.Insert(ctx(), "deal", r, store.Sides{Event: event("record.created", r, time.Now())}); err != nil {
		t.Fatal(err)
	}
	evs, _ := s.Events(ctx(), "", 10)
	if len(evs) != 1 {
		t.Fatalf("events: %+v", evs)
	}
	if err := s.SaveCheckpoint(ctx(), "runner", evs[0].Cursor); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCheckpoint(ctx(), "other", ""); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Checkpoint(ctx(), "runner"); err != nil || c != evs[0].Cursor {
		t.Fatalf("checkpoint: %q %v, want %q", c, err, evs[0].Cursor)
	}
	if rest, _ := s.Events(ctx(), evs[0].Cursor, 10); len(rest) != 0 {
		t.Fatalf("nothing follows the checkpoint: %+v", rest)
	}
	if err := s.SaveCheckpoint(ctx(), "runner", "garbage"); err == nil {
		t.Fatal("a malformed cursor was saved")
	}
	if err := s.DeleteCheckpoint(ctx(), "runner"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Checkpoint(ctx(), "runner"); c != "" {
		t.Fatalf("deleted checkpoint: %q", c)
	}
}

func testPrune(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(i int) {
		t.Helper()
		r := rec(map[string]any{"name": fmt.Sprint(i)})
		if err := s.Insert(ctx(), "deal", r, store.Sides{Event: event("record.created", r, t0.Add(time.Duration(i)*time.Hour))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		write(i)
	}
	all, _ := s.Events(ctx(), "", 100)
	names := func() []string {
		evs, _ := s.Events(ctx(), "", 100)
		var out []string
		for _, e := range evs {
			out = append(out, e.At.Sub(t0).String())
		}
		return out
	}
	prune := func(before time.Time, limit, want int) {
		t.Helper()
		n, err := s.PruneEvents(ctx(), before, limit)
		if err != nil || n != want {
			t.Fatalf("PruneEvents(%v, %d): %d %v, want %d; left %v", before.Sub(t0), limit, n, err, want, names())
		}
	}
	// A consumer at the fifth event holds back what follows it.
	if err := s.SaveCheckpoint(ctx(), "runner", all[4].Cursor); err != nil {
		t.Fatal(err)
	}
	far := t0.Add(1000 * time.Hour)
	prune(far, 3, 3) // a bounded batch
	prune(far, 3, 2)
	prune(far, 3, 0)
	if evs, _ := s.Events(ctx(), all[4].Cursor, 100); len(evs) != 5 {
		t.Fatalf("pruning took events the consumer has not passed: %v", names())
	}
	if err := s.DeleteCheckpoint(ctx(), "runner"); err != nil {
		t.Fatal(err)
	}
	// Only events older than the age bound go.
	prune(t0.Add(7*time.Hour), 100, 2)
	// The newest is always kept, so the sequence goes on from it.
	prune(far, 100, 2)
	left, _ := s.Events(ctx(), "", 100)
	if len(left) != 1 || left[0].ID != all[9].ID {
		t.Fatalf("after pruning everything: %v", names())
	}
	write(10)
	next, _ := s.Events(ctx(), all[9].Cursor, 10)
	if len(next) != 1 {
		t.Fatalf("an event after pruning is not after the last cursor: %+v", next)
	}
}

func testLeases(t *testing.T, s store.Store, caps Capabilities) {
	a, b := s, s
	if caps.Reopen != nil {
		b = caps.Reopen(t, s)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	ttl := 10 * time.Second
	claim := func(st store.Store, holder string, sec int, want bool, token int64) store.Lease {
		t.Helper()
		l, ok, err := st.ClaimLease(ctx(), "schedule:daily", holder, at(sec), ttl)
		if err != nil || ok != want || l.Token != token {
			t.Fatalf("%s claims at %ds: %+v %v %v, want ok=%v token %d", holder, sec, l, ok, err, want, token)
		}
		return l
	}
	renew := func(st store.Store, holder string, sec int, want bool) {
		t.Helper()
		ok, err := st.RenewLease(ctx(), "schedule:daily", holder, at(sec), ttl)
		if err != nil || ok != want {
			t.Fatalf("%s renews at %ds: %v %v, want %v", holder, sec, ok, err, want)
		}
	}
	if l, err := a.GetLease(ctx(), "schedule:daily"); err != nil || l.Holder != "" {
		t.Fatalf("a lease nobody claimed: %+v %v", l, err)
	}
	l := claim(a, "node-a", 0, true, 1)
	if l.Holder != "node-a" || !l.Until.Equal(at(10)) {
		t.Fatalf("claimed lease: %+v", l)
	}
	if l := claim(b, "node-b", 1, false, 1); l.Holder != "node-a" || !l.Until.Equal(at(10)) {
		t.Fatalf("a refused claim says who holds it: %+v", l)
	}
	claim(a, "node-a", 2, true, 1) // extends, same tenure
	renew(a, "node-a", 5, true)    // until 15
	renew(b, "node-b", 5, false)
	claim(b, "node-b", 14, false, 1)
	// Expired at 15: node-b takes over, node-a has lost it.
	claim(b, "node-b", 15, true, 2)
	renew(a, "node-a", 16, false)
	if err := a.ReleaseLease(ctx(), "schedule:daily", "node-a"); err != nil {
		t.Fatal(err)
	}
	if l, _ := a.GetLease(ctx(), "schedule:daily"); l.Holder != "node-b" || !l.Until.Equal(at(25)) {
		t.Fatalf("a release by a former holder changed the lease: %+v", l)
	}
	renew(b, "node-b", 24, true) // until 34
	if err := b.ReleaseLease(ctx(), "schedule:daily", "node-b"); err != nil {
		t.Fatal(err)
	}
	if l, _ := a.GetLease(ctx(), "schedule:daily"); l.Holder != "" || l.Token != 2 {
		t.Fatalf("released lease: %+v", l)
	}
	renew(b, "node-b", 25, false)
	claim(a, "node-a", 25, true, 3) // free again long before 34
	// An expired lease that nobody took cannot be renewed either: its
	// holder must claim it again and learns it lapsed (a new token).
	renew(a, "node-a", 36, false)
	claim(a, "node-a", 36, true, 4)
	// Leases are independent.
	if _, ok, _ := b.ClaimLease(ctx(), "job:1", "node-b", at(36), ttl); !ok {
		t.Fatal("another lease name was held")
	}
	if _, _, err := a.ClaimLease(ctx(), "job:2", "", at(36), ttl); err == nil {
		t.Fatal("a claim without a holder was accepted")
	}
}

// testLeaseRace: holders on two Stores claim one free lease at once;
// exactly one gets it.
func testLeaseRace(t *testing.T, s store.Store, caps Capabilities) {
	other := s
	if caps.Reopen != nil {
		other = caps.Reopen(t, s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 8
	var wg sync.WaitGroup
	wins := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		st := s
		if i%2 == 1 {
			st = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprintf("node-%d", i)
			_, ok, err := st.ClaimLease(ctx(), "job:race", holder, now, time.Minute)
			if err != nil {
				errs <- err
			}
			if ok {
				wins <- holder
			}
		}()
	}
	wg.Wait()
	close(wins)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("winners of one lease: %v", winners)
	}
	if l, _ := s.GetLease(ctx(), "job:race"); l.Holder != winners[0] || l.Token != 1 {
		t.Fatalf("lease after the race: %+v, winner %s", l, winners[0])
	}
}

func testAtomicCommits(t *testing.T, s store.Store, _ Capabilities) {
	setup(t, s)
	keep := mustInsert(t, s, map[string]any{"name": "keep", "qty": int64(1)})
	now := time.Now().UTC().Truncate(time.Millisecond)
	a, b := rec(map[string]any{"name": "a"}), rec(map[string]any{"name": "b"})
	err := s.Atomic(ctx(), func(tx store.Tx) error {
		for _, r := range []*store.Record{a, b} {
			if err := tx.Insert(ctx(), "deal", r, store.Sides{Event: event("record.created", r, now)}); err != nil {
				return err
			}
		}
		got, err := tx.Get(ctx(), "deal", keep.ID)
		if err != nil {
			return err
		}
		got.Version, got.Data["qty"] = 2, int64(2)
		if err := tx.Update(ctx(), "deal", got, store.Sides{Event: event("record.updated", got, now)}); err != nil {
			return err
		}
		if seen, err := tx.Get(ctx(), "deal", keep.ID); err != nil || seen.Version != 2 {
			return fmt.Errorf("the unit does not see its own update: %+v %v", seen, err)
		}
		if err := tx.Delete(ctx(), "deal", b.ID, 1, store.Sides{Event: event("record.deleted", b, now)}); err != nil {
			return err
		}
		if err := tx.UnsetField(ctx(), "deal", "qty", store.Sides{Event: &store.Event{ID: store.NewID(), Type: "meta.field.purged", Entity: "deal", At: now}}); err != nil {
			return err
		}
		return tx.PutDoc(ctx(), &store.Doc{Kind: "entity", ID: "deal", Version: 1, Data: []byte(`{}`)}, store.Sides{})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx(), "deal", keep.ID); err != nil || got.Version != 2 || got.Data["qty"] != nil {
		t.Fatalf("updated and purged in the unit: %+v %v", got, err)
	}
	if _, err := s.Get(ctx(), "deal", a.ID); err != nil {
		t.Fatalf("inserted in the unit: %v", err)
	}
	if _, err := s.Get(ctx(), "deal", b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted in the unit: %v", err)
	}
	if _, err := s.GetDoc(ctx(), "entity", "deal"); err != nil {
		t.Fatalf("document put in the unit: %v", err)
	}
	evs, _ := s.Events(ctx(), "", 10)
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if want := []string{"record.created", "record.created", "record.updated", "record.deleted", "meta.field.purged"}; !reflect.DeepEqual(types, want) {
		t.Fatalf("events of the unit: %v, want %v", types, want)
	}
}

func testAtomicRollsBack(t *testing.T, s store.Store, caps Capabilities) {
	if caps.NoTransactions != "" {
		t.Skip(caps.NoTransactions)
	}
	setup(t, s)
	keep := mustInsert(t, s, map[string]any{"name": "keep", "email": "k@example.com"})
	now := time.Now().UTC()
	a := rec(map[string]any{"name": "a"})
	stop := errors.New("stop")
	// fn fails after writing.
	err := s.Atomic(ctx(), func(tx store.Tx) error {
		if err := tx.Insert(ctx(), "deal", a, store.Sides{Event: event("record.created", a, now)}); err != nil {
			return err
		}
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Atomic: %v, want fn's error", err)
	}
	// A write fails and fn carries on regardless.
	dup := rec(map[string]any{"name": "dup", "email": "k@example.com"})
	err = s.Atomic(ctx(), func(tx store.Tx) error {
		if err := tx.Insert(ctx(), "deal", a, store.Sides{Event: event("record.created", a, now)}); err != nil {
			return err
		}
		_ = tx.Insert(ctx(), "deal", dup, store.Sides{Event: event("record.created", dup, now)})
		return nil
	})
	var ue *store.UniqueError
	if !errors.As(err, &ue) {
		t.Fatalf("Atomic with a failed write: %v, want the UniqueError", err)
	}
	if _, err := s.Get(ctx(), "deal", a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a write of a failed unit is visible: %v", err)
	}
	if evs, _ := s.Events(ctx(), "", 10); len(evs) != 0 {
		t.Fatalf("events of failed units: %+v", evs)
	}
	if n, _, _ := s.Count(ctx(), "deal", nil, 10); n != 1 {
		t.Fatalf("records after failed units: %d, want 1 (%s)", n, keep.ID)
	}
}
