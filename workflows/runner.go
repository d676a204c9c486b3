package workflows

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// The nodes of one store take turns on one lease: its holder follows the
// outbox, fires schedules and date rules and runs the queue, so every
// event is handled and every scheduled time fired by one node, and a run
// is executed by one worker. Another node takes over when the holder
// stops renewing it.
const (
	leaseRunner  = "workflows:runner"
	consumerName = "workflows"
	runnerTTL    = 15 * time.Second
)

// leaseFor is how long a run's lease lasts: its wall-time budget and a
// margin, so a worker's run always ends (its context is cancelled at the
// budget) before its lease does.
func (s *Service) leaseFor() time.Duration {
	return s.limits.RunTimeout + s.limits.RunTimeout/2 + time.Second
}

// runner is the state of this node as the runner lease's holder.
type runner struct {
	mu     sync.Mutex // until and cursor, which others read
	until  time.Time  // the runner lease, as last claimed
	token  int64
	rules  map[string]*Rule // the enabled rules, as of the outbox position
	cursor store.Cursor
	loaded bool
	// saved is the checkpoint as last saved, unsaved the events read
	// since, savedAt when (consume saves it only now and then).
	saved   store.Cursor
	unsaved int
	savedAt time.Time
	// orphansSeen: the runs this node's name held before it took the
	// runner afresh have been looked for.
	orphansSeen bool
	polled      time.Time
	ticked      time.Time
	stopped     bool
}

// Holding reports whether this node holds the runner lease now.
func (s *Service) Holding() bool {
	s.rn.mu.Lock()
	defer s.rn.mu.Unlock()
	return s.now().Before(s.rn.until)
}

// hold claims or renews the runner lease (renewing only once half of it
// is used). A lease taken afresh (a new token) starts the follower over
// from its checkpoint.
func (s *Service) hold(ctx context.Context, now time.Time) (bool, error) {
	rn := s.rn
	if now.Before(rn.until.Add(-runnerTTL / 2)) {
		return true, nil
	}
	l, ok, err := s.st.ClaimLease(ctx, leaseRunner, s.node, now, runnerTTL)
	if err != nil || !ok {
		rn.until = time.Time{}
		return false, err
	}
	if l.Token != rn.token {
		rn.token, rn.loaded, rn.orphansSeen = l.Token, false, false
	}
	rn.until = l.Until
	return true, nil
}

// Start runs the workflow machinery until ctx ends: the workers, and a
// loop that competes for the runner lease and, while holding it, follows
// the outbox, fires schedules and runs the queue.
func (s *Service) Start(ctx context.Context) {
	s.StartWorkers(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		idle := time.NewTicker(50 * time.Millisecond)
		defer idle.Stop()
		for {
			did, err := s.Step(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("workflows: runner", "err", err)
			}
			if did {
				continue
			}
			select {
			case <-ctx.Done():
				s.stopped(ctx)
				return
			case <-idle.C:
			}
		}
	}()
}

// stopped saves the checkpoint as the runner stops, if this node still
// holds the runner: the next holder reads no more events again than it
// must.
func (s *Service) stopped(ctx context.Context) {
	if !s.Holding() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.checkpoint(ctx, true); err != nil {
		s.log.Warn("workflows: saving the checkpoint as the runner stops", "err", err)
	}
}

// StartWorkers starts the goroutines that execute runs; Start calls it,
// and tests that drive the runner with Step or Drain call it alone.
func (s *Service) StartWorkers(ctx context.Context) {
	for range s.limits.Workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case r := <-s.work:
					s.execute(ctx, r)
					s.busy.Done()
				}
			}
		}()
	}
}

// Wait waits for the runner's goroutines after ctx ended.
func (s *Service) Wait() { s.wg.Wait() }

// Step does what is due now, once, if this node holds the runner lease:
// reads a batch of events, fires due schedules and date rules, and hands
// due runs to the workers. It reports whether it found anything to do.
func (s *Service) Step(ctx context.Context) (bool, error) {
	now := s.now()
	ok, err := s.hold(ctx, now)
	if !ok {
		return false, err
	}
	n, err := s.consume(ctx)
	if err != nil {
		return n > 0, fmt.Errorf("following the outbox: %w", err)
	}
	if now.Sub(s.rn.ticked) >= time.Second || n == 0 && s.forceTick {
		s.rn.ticked = now
		m, err := s.tick(ctx, now)
		if err != nil {
			return true, fmt.Errorf("schedules: %w", err)
		}
		n += m
	}
	if now.Sub(s.rn.polled) >= 200*time.Millisecond || s.forceTick {
		s.rn.polled = now
		m, err := s.poll(ctx, now)
		if err != nil {
			return true, fmt.Errorf("queue: %w", err)
		}
		n += m
	}
	return n > 0, nil
}

// Drain works until nothing is left to do now: every event read, every
// due time fired, every due run run and finished. Tests use it to drive
// the runner to a state they then check; time only moves through Now.
func (s *Service) Drain(ctx context.Context) error {
	s.forceTick = true
	defer func() { s.forceTick = false }()
	for {
		did, err := s.Step(ctx)
		s.busy.Wait()
		if err != nil {
			return err
		}
		if !did {
			if !s.Holding() {
				return errors.New("workflows: this node does not hold the runner lease")
			}
			return s.checkpoint(ctx, true)
		}
	}
}

// dispatch hands runs this node holds to its workers.
func (s *Service) dispatch(runs []*Run) {
	for _, r := range runs {
		if r.Status != StatusRunning || r.Holder != s.node {
			continue
		}
		if _, dup := s.inflight.LoadOrStore(r.ID, true); dup {
			continue
		}
		s.busy.Add(1)
		s.work <- r
	}
}

// held marks a new run as taken by this node, for dispatch.
func (s *Service) held(r *Run, now time.Time) {
	until := now.Add(s.leaseFor())
	r.Status, r.Holder, r.LeaseUntil, r.Attempt = StatusRunning, s.node, &until, r.Attempt+1
	started := now
	r.StartedAt = &started
}

// poll takes the runs that are due: queued ones whose time has come (a
// retry, a run another node queued) and running ones whose lease has
// passed (their worker died), as many as the workers can take soon.
func (s *Service) poll(ctx context.Context, now time.Time) (int, error) {
	room := cap(s.work) - len(s.work)
	if room <= 0 {
		return 0, nil
	}
	due := store.And(strEq("status", StatusQueued),
		&store.Cond{Op: store.OpLe, Field: "due_at", Kind: metadata.KindDateTime, Value: ts(now)})
	recs, err := s.st.Find(ctx, RunEntity, store.Query{Filter: due, Sort: []store.SortKey{{Field: "status"}, {Field: "due_at"}}, Limit: room + s.limits.Workers})
	if err != nil {
		return 0, err
	}
	// Running runs whose worker is gone: their lease passed, or — once,
	// when this node takes the runner afresh — this node held them before
	// it restarted under the same name, so they need no lease to pass.
	stale := &store.Cond{Op: store.OpLe, Field: "lease_until", Kind: metadata.KindDateTime, Value: ts(now)}
	if !s.rn.orphansSeen {
		stale = store.Or(stale, strEq("holder", s.node))
	}
	more, err := s.st.Find(ctx, RunEntity, store.Query{Filter: store.And(strEq("status", StatusRunning), stale),
		Sort: []store.SortKey{{Field: "status"}, {Field: "due_at"}}, Limit: room + s.limits.Workers})
	if err != nil {
		return 0, err
	}
	s.rn.orphansSeen = true
	recs = append(recs, more...)
	var take []*Run
	for _, rec := range recs {
		if len(take) >= room {
			break
		}
		if _, busy := s.inflight.Load(rec.ID); busy {
			continue
		}
		r, err := runOf(rec)
		if err != nil {
			s.log.Warn("workflows: unreadable run", "run", rec.ID, "err", err)
			continue
		}
		if r.Status == StatusRunning {
			if r.Attempt >= s.limits.MaxAttempts {
				r.Status, r.Reason = StatusDead, "attempts"
				r.Error = fmt.Sprintf("its worker stopped during each of %d attempts", r.Attempt)
				fin := now
				r.FinishedAt, r.Holder, r.LeaseUntil = &fin, "", nil
				if err := s.putRun(ctx, s.st, r); err != nil && !errors.Is(err, errTakenOver) {
					return len(take), err
				}
				continue
			}
			r.Note = fmt.Sprintf("attempt %d stopped with its worker (%s); taken over at %s", r.Attempt, r.Holder, ts(now))
		}
		s.held(r, now)
		if err := s.putRun(ctx, s.st, r); err != nil {
			if errors.Is(err, errTakenOver) {
				continue
			}
			return len(take), err
		}
		take = append(take, r)
	}
	s.dispatch(take)
	return len(take), nil
}

// backoff is the wait before attempt n+1: Backoff·2^(n-1), at most an
// hour, plus up to a fifth more at random so failed runs spread out.
func (s *Service) backoff(n int) time.Duration {
	d := s.limits.Backoff
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return d + time.Duration(rand.Int64N(int64(d/5)+1))
}

// Status is the runner as an admin sees it: which node holds it, how far
// it has followed the outbox, what waits.
type Status struct {
	Node       string     `json:"node"`
	Holding    bool       `json:"holding"`
	Holder     string     `json:"holder,omitempty"`
	HeldUntil  *time.Time `json:"held_until,omitempty"`
	Checkpoint string     `json:"checkpoint,omitempty"`
	// CaughtUp: no event follows the runner's place in the outbox (this
	// node's when it holds the runner, else the saved checkpoint, which is
	// up to a second behind).
	CaughtUp bool  `json:"caught_up"`
	Queued   int64 `json:"queued"`
	Running  int64 `json:"running"`
}

// State reports the runner's status.
func (s *Service) State(ctx context.Context) (*Status, error) {
	l, err := s.st.GetLease(ctx, leaseRunner)
	if err != nil {
		return nil, err
	}
	c, err := s.st.Checkpoint(ctx, consumerName)
	if err != nil {
		return nil, err
	}
	now := s.now()
	st := &Status{Node: s.node, Holding: s.Holding(), Checkpoint: string(c)}
	at := c
	if st.Holding {
		s.rn.mu.Lock()
		at = s.rn.cursor
		s.rn.mu.Unlock()
	}
	next, err := s.st.EventsFor(ctx, at, 1, func(string, string) bool { return false })
	if err != nil {
		return nil, err
	}
	st.CaughtUp = len(next) == 0
	if l.Holder != "" && now.Before(l.Until) {
		until := l.Until
		st.Holder, st.HeldUntil = l.Holder, &until
	}
	if st.Queued, _, err = s.st.Count(ctx, RunEntity, strEq("status", StatusQueued), 1_000_000); err != nil {
		return nil, err
	}
	if st.Running, _, err = s.st.Count(ctx, RunEntity, strEq("status", StatusRunning), 1_000_000); err != nil {
		return nil, err
	}
	return st, nil
}
