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
// waited 1.5 s (p95). Admission bounds them: a few run at once in total
// (so light reads always find a connection and a core), others wait their
// turn, and a principal with more in flight than their allowance is told
// to come back later (429, Retry-After), so one client's flood never
// fills the queue for everyone.
type Admission struct {
	slots   chan struct{} // running heavy reads, in total
	running int           // of which one principal may hold
	perUser int
	maxWait time.Duration
	mu      sync.Mutex
	users   map[string]*lane
}

// lane is one principal's heavy reads: how many are running or waiting,
// and the tokens that let at most Admission.running of them compete for
// a slot, so one principal never holds every slot while others wait.
type lane struct {
	n   int
	run chan struct{}
}

// AdmissionLimits configure an Admission; zero values take the defaults.
type AdmissionLimits struct {
	// Running is how many heavy reads run at once, in total; one principal
	// runs half of them at most. The default, half the CPUs (at least one),
	// leaves the other half to everything else: on 2 cores, 200 counts in
	// flight left gets by id at p99 4 ms with one running and 166 ms with
	// two (docs/performance.md).
	Running int
	PerUser int           // heavy reads one principal may have running or waiting (default 8)
	MaxWait time.Duration // longest wait for a turn before a 429 (default 20 s)
}

// NewAdmission returns an admission with the given limits.
func NewAdmission(l AdmissionLimits) *Admission {
	if l.Running <= 0 {
		l.Running = max(1, runtime.NumCPU()/2)
	}
	if l.PerUser <= 0 {
		l.PerUser = 8
	}
	if l.MaxWait <= 0 {
		l.MaxWait = 20 * time.Second
	}
	return &Admission{slots: make(chan struct{}, l.Running), running: max(1, l.Running/2), perUser: l.PerUser,
		maxWait: l.MaxWait, users: map[string]*lane{}}
}

// Enter waits for a turn to run a heavy read for principal who, and
// returns the function that ends it. It refuses at once, with 429, when who
// already has their allowance in flight, and after MaxWait when the server
// is busy with others' heavy reads.
func (a *Admission) Enter(ctx context.Context, who string) (release func(), err error) {
	a.mu.Lock()
	l := a.users[who]
	if l == nil {
		l = &lane{run: make(chan struct{}, a.running)}
		a.users[who] = l
	}
	if l.n >= a.perUser {
		a.mu.Unlock()
		return nil, problem.TooMany(2, "you have %d counts, aggregates or unindexed lists running: wait for them before asking for more", a.perUser)
	}
	l.n++
	a.mu.Unlock()
	leave := func() {
		a.mu.Lock()
		if l.n--; l.n == 0 {
			delete(a.users, who)
		}
		a.mu.Unlock()
	}
	t := time.NewTimer(a.maxWait)
	defer t.Stop()
	busy := problem.TooMany(5, "the server is busy with other counts, aggregates and unindexed lists: try again shortly")
	select {
	case l.run <- struct{}{}:
	case <-t.C:
		leave()
		return nil, busy
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	select {
	case a.slots <- struct{}{}:
		return func() { <-a.slots; <-l.run; leave() }, nil
	case <-t.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	<-l.run
	leave()
	if err != nil {
		return nil, err
	}
	return nil, busy
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
