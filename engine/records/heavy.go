package records

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
)

// Heavy reads — counts, aggregates and lists that no index serves — can
// each scan a whole entity. 200 concurrent count=true lists over 20,000
// records took every reader connection and both cores, and a get by id
// waited 1.5 s (p95). Admission bounds them: a reserved few run at once
// whatever else is going on; more (up to the number of CPUs) start only
// while no light read or write is in flight, so a machine busy with heavy
// reads alone uses all its cores, and a get arriving meanwhile waits for
// no more than the reads already running. "While no light read is in
// flight" means for a quiet moment (Quiet), not an instant: a client
// reading records one by one has none in flight most of the time, and
// extra heavy reads started between its gets left them at p99 174 ms
// during a flood of counts, against 4 ms with the reserved slots only. Others wait their turn — a
// principal with none running before one who already has some — and a
// principal with more in flight than their allowance is told to come back
// later (429, Retry-After), so one client's flood never fills the queue
// for everyone.
type Admission struct {
	reserved, total int
	perUser         int
	maxWait         time.Duration
	quiet           time.Duration
	now             func() time.Time

	mu      sync.Mutex
	running int              // heavy reads running
	waiting int              // heavy reads waiting for a turn
	light   int              // light reads and writes in flight
	lastLit time.Time        // when a light read or write last ended (while one runs, light > 0 holds extra reads back)
	users   map[string]*lane // principal → their heavy reads
	changed chan struct{}    // closed when a turn may have come (see wake)
}

// lane is one principal's heavy reads: running, and running or waiting.
type lane struct{ running, n int }

// AdmissionLimits configure an Admission; zero values take the defaults.
type AdmissionLimits struct {
	// Running is how many heavy reads run at once whatever else is going
	// on (default: half the CPUs, at least one): on 2 cores, 200 counts
	// in flight left gets by id at p99 4 ms with one such and 166 ms with
	// two (docs/performance.md).
	Running int
	// Total is how many run at once while nothing light is in flight
	// (default: the number of CPUs, at least Running).
	Total   int
	PerUser int           // heavy reads one principal may have running or waiting (default 8)
	MaxWait time.Duration // longest wait for a turn before a 429 (default 20 s)
	// Quiet is how long after the last light read or write ended heavy
	// reads beyond Running may start (default 200 ms).
	Quiet time.Duration
}

// NewAdmission returns an admission with the given limits.
func NewAdmission(l AdmissionLimits) *Admission {
	if l.Running <= 0 {
		l.Running = max(1, runtime.NumCPU()/2)
	}
	if l.Total <= 0 {
		l.Total = runtime.NumCPU()
	}
	l.Total = max(l.Total, l.Running)
	if l.PerUser <= 0 {
		l.PerUser = 8
	}
	if l.MaxWait <= 0 {
		l.MaxWait = 20 * time.Second
	}
	if l.Quiet <= 0 {
		l.Quiet = 200 * time.Millisecond
	}
	return &Admission{reserved: l.Running, total: l.Total, perUser: l.PerUser, maxWait: l.MaxWait, quiet: l.Quiet,
		now: time.Now, users: map[string]*lane{}, changed: make(chan struct{})}
}

// wake lets every waiter look again; a.mu is held.
func (a *Admission) wake() {
	if a.waiting == 0 {
		return // the hot path of light reads allocates nothing
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

// mayRun reports whether l's next heavy read may start now, and if not
// and only the quiet moment is missing, how long until it has passed; a.mu
// is held.
func (a *Admission) mayRun(l *lane) (bool, time.Duration) {
	if a.running >= a.total {
		return false, 0
	}
	if a.running >= a.reserved {
		if a.light > 0 {
			return false, 0
		}
		if wait := a.quiet - a.now().Sub(a.lastLit); wait > 0 {
			return false, wait
		}
	}
	if l.running == 0 {
		return true, 0
	}
	for _, o := range a.users {
		if o != l && o.running == 0 && o.n > 0 {
			return false, 0 // another principal waits with none running: theirs first
		}
	}
	return true, 0
}

// Light marks a light read or a write in flight, for as long as it runs;
// call the function it returns when it ends.
func (a *Admission) Light() func() {
	a.mu.Lock()
	a.light++
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		a.lastLit = a.now()
		if a.light--; a.light == 0 {
			a.wake()
		}
		a.mu.Unlock()
	}
}

// Enter waits for a turn to run a heavy read for principal who, and
// returns the function that ends it. It refuses at once, with 429, when who
// already has their allowance in flight, and after MaxWait when the server
// is busy with others' heavy reads.
func (a *Admission) Enter(ctx context.Context, who string) (release func(), err error) {
	a.mu.Lock()
	l := a.users[who]
	if l == nil {
		l = &lane{}
		a.users[who] = l
	}
	if l.n >= a.perUser {
		a.mu.Unlock()
		return nil, problem.TooMany(2, "you have %d counts, aggregates or unindexed lists running: wait for them before asking for more", a.perUser)
	}
	l.n++
	t := time.NewTimer(a.maxWait)
	defer t.Stop()
	for {
		ok, quiet := a.mayRun(l)
		if ok {
			break
		}
		ch := a.changed
		a.waiting++
		a.mu.Unlock()
		err = a.await(ctx, ch, t.C, quiet)
		a.mu.Lock()
		a.waiting--
		if err == nil {
			continue
		}
		a.leave(who, l)
		a.mu.Unlock()
		return nil, err
	}
	a.running++
	l.running++
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		a.running--
		l.running--
		a.leave(who, l)
		a.mu.Unlock()
	}, nil
}

// await waits, a.mu not held, until a turn may have come (nil): a change,
// or the quiet moment passed when that was all that was missing (quiet >
// 0); or fails when the longest wait (deadline) or the request ends.
func (a *Admission) await(ctx context.Context, changed <-chan struct{}, deadline <-chan time.Time, quiet time.Duration) error {
	var calm <-chan time.Time
	if quiet > 0 {
		q := time.NewTimer(quiet)
		defer q.Stop()
		calm = q.C
	}
	select {
	case <-changed:
		return nil
	case <-calm:
		return nil
	case <-deadline:
		return problem.TooMany(5, "the server is busy with other counts, aggregates and unindexed lists: try again shortly")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leave ends one of who's heavy reads, run or not; a.mu is held.
func (a *Admission) leave(who string, l *lane) {
	if l.n--; l.n == 0 {
		delete(a.users, who)
	}
	a.wake()
}

// admit runs a heavy read through admission: the returned function ends
// it. Principals are told apart by user (tokens and sessions of one user
// share an allowance), or by address when there is no user.
func (s *Service) admit(ctx context.Context, p *identity.Principal) (func(), error) {
	who := p.UserID
	if who == "" {
		who = "ip:" + p.IP
	}
	return s.Heavy.Enter(ctx, who)
}

// heavy reports whether a list must go through admission: a count, or a
// page the store cannot read from an index. A page is served by an index
// when the filter's conjunction holds an equality, a range or an in-list
// on an indexed field (the store narrows with it), or when there is no
// filter and the first sort key is indexed (the store walks the index and
// stops after the page). An unindexed filter over an index walk is heavy:
// when few records match, the walk reads the whole entity.
func heavy(e *catalog.Entity, where *store.Cond, sort []store.SortKey, count bool) bool {
	if count {
		return true
	}
	if narrowed(e, where) {
		return false
	}
	return where != nil || len(sort) == 0 || !indexed(e, sort[0].Field)
}

// narrowed reports whether c, ANDed, narrows the records to an index range.
func narrowed(e *catalog.Entity, c *store.Cond) bool {
	if c == nil {
		return false
	}
	switch c.Op {
	case store.OpFalse:
		return true
	case store.OpAnd:
		for _, a := range c.Args {
			if narrowed(e, a) {
				return true
			}
		}
		return false
	case store.OpOr:
		// Each branch must narrow: the store then unions index ranges.
		for _, a := range c.Args {
			if !narrowed(e, a) {
				return false
			}
		}
		return len(c.Args) > 0
	case store.OpEq, store.OpIn, store.OpLt, store.OpLe, store.OpGt, store.OpGe, store.OpStartsWith:
		return indexed(e, c.Field)
	case store.OpIsNull:
		// Both stores keep nulls (missing values) in the field's index:
		// SQLite's b-tree holds NULL keys, MongoDB's index a null entry —
		// but not the partial index MongoDB gives a unique field.
		if f := e.Field(c.Field); f != nil && f.Unique && !f.Indexed {
			return false
		}
		return indexed(e, c.Field)
	}
	return false
}

// indexed reports whether the store has an index that starts with field.
func indexed(e *catalog.Entity, field string) bool {
	switch field {
	case "id", "created_at", "updated_at":
		return true
	case "owner":
		return true // every store indexes it (it is what row rules test)
	}
	if f := e.Field(field); f != nil && (f.Indexed || f.Unique) {
		return true
	}
	for _, ix := range e.Indexes {
		if len(ix.Fields) > 0 && ix.Fields[0] == field {
			return true
		}
	}
	return false
}
