package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// One SQLite statement runs on one core: a hash pass over a million deals
// takes ~700 ms of one core while the other idles, and a board's shared
// pass is all of its cold time. So a pass over a large table runs as two
// halves at once — the records with ids below a split point and the rest —
// each on its own read connection, their groups merged afterwards (every
// measure the hash aggregate keeps can be: counts and sums add, minima
// and maxima compare, distinct values unite, an average is its sum and
// count).
//
// The halves must read one state of the table. The two read transactions
// are begun, and their snapshots fixed by a first read, while the writer
// is held between batches (ckPause): no commit of this process can land
// between them. A commit of another process on the same file can; each
// half's first read is its entity's newest outbox event, which every write
// through the pipeline commits, and halves that disagree are dropped for
// the one pass. The split point is the median id (splitPoint); any point
// gives the right answer, an uneven one only a slower one.
//
// Halves run only while a spare core is free (spare: one token per core
// beyond the first), so concurrent heavy reads never double their demand
// on the scan pool, which has a connection more per token.

// splitRows is the table size (rows a pass over it saw) from which a pass
// is split; a variable so that tests can split small tables.
var splitRows int64 = 50_000

// betweenSnapshots, when set, runs between the two halves' first reads
// (a test writes from another process there).
var betweenSnapshots func()

// atFindSplit, when set, runs as the background job that finds a split
// point starts, with its context, so a test can hold the job over Close.
var atFindSplit func(ctx context.Context)

// splitPasses counts the passes that ran as two halves, for tests.
var splitPasses atomic.Int64

// spareCores is how many extra connections halves may hold at once.
func spareCores() int { return max(1, runtime.NumCPU()-1) }

// tableStats is what split passes know of an entity's table: the most
// rows a pass over it saw, and an id near the middle of its ids.
type tableStats struct {
	seen atomic.Int64

	mu      sync.Mutex
	mid     string
	midAt   int64 // seen when mid was found
	finding bool
}

func (s *Store) stats(entity string) *tableStats {
	if v, ok := s.tableRows.Load(entity); ok {
		return v.(*tableStats)
	}
	v, _ := s.tableRows.LoadOrStore(entity, &tableStats{})
	return v.(*tableStats)
}

// sawRows notes that a pass over entity saw n rows.
func (s *Store) sawRows(entity string, n int64) {
	c := &s.stats(entity).seen
	for {
		old := c.Load()
		if n <= old || c.CompareAndSwap(old, n) {
			return
		}
	}
}

// splitPoint is the id halves of a pass over entity split at, if the
// table is large and one is known. The median id is found once, in the
// background (an OFFSET walk of half the table: ~200 ms at a million
// records), and again when the table has grown or shrunk by a fifth; until
// then the last one found serves — it still splits correctly, if unevenly.
// Ids are UUIDv7, in creation order, but records are not created evenly
// over time (an import puts a year's customers into one minute), so
// halfway between the smallest and the largest id would not do.
func (s *Store) splitPoint(entity string) (string, bool) {
	st := s.stats(entity)
	n := st.seen.Load()
	st.mu.Lock()
	defer st.mu.Unlock()
	if n > 0 && n < splitRows {
		return "", false
	}
	if n == 0 || st.mid == "" || n > st.midAt+st.midAt/5 || n < st.midAt-st.midAt/5 {
		// Nothing measured yet (only lists and counts ran, which do not
		// say how many records they read): the job counts them first.
		if !st.finding {
			st.finding = s.goBackground(func(ctx context.Context) {
				ctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				if atFindSplit != nil {
					atFindSplit(ctx)
				}
				err := s.findSplit(ctx, entity, n)
				st.mu.Lock()
				defer st.mu.Unlock()
				st.finding = false
				_ = err // the next pass tries again
			})
		}
	}
	if n < splitRows {
		return "", false
	}
	return st.mid, st.mid != ""
}

// median is the id of the record at the middle of entity's n.
func (s *Store) median(ctx context.Context, entity string, n int64) (string, error) {
	var id idCol
	err := s.scan.QueryRowContext(ctx, `SELECT id FROM `+recTable(entity)+` ORDER BY id LIMIT 1 OFFSET ?`, n/2).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id.s, err
}

// findSplit finds the median id of entity's n records, counting them
// first when n is 0.
func (s *Store) findSplit(ctx context.Context, entity string, n int64) error {
	if n == 0 {
		if err := s.scan.QueryRowContext(ctx, `SELECT count(*) FROM `+recTable(entity)).Scan(&n); err != nil {
			return err
		}
		s.sawRows(entity, n)
	}
	if n < splitRows {
		return nil
	}
	mid, err := s.median(ctx, entity, n)
	if err != nil || mid == "" {
		return err
	}
	st := s.stats(entity)
	st.mu.Lock()
	st.mid, st.midAt = mid, n
	st.mu.Unlock()
	return nil
}

// halves are two read transactions on one state of the table, each
// reading one side of the split point.
type halves struct {
	txs  []*sql.Tx
	mid  string
	done func()
}

// openHalves begins halves over entity if its table is large, a spare core
// is free and both snapshots agree; nil otherwise (the caller reads the
// table whole). done must be called.
func (s *Store) openHalves(ctx context.Context, entity string) (*halves, error) {
	mid, ok := s.splitPoint(entity)
	if !ok {
		return nil, nil
	}
	select {
	case s.spare <- struct{}{}:
	default:
		return nil, nil
	}
	txs, done, err := s.pairedSnapshot(ctx, entity)
	if err != nil || txs == nil {
		<-s.spare
		return nil, err
	}
	return &halves{txs: txs, mid: mid, done: func() { done(); <-s.spare }}, nil
}

// run calls fn for both halves at once, each with its transaction, the
// condition that keeps to its side of the split point and its argument.
func (h *halves) run(fn func(i int, tx *sql.Tx, side string, mid any) error) error {
	sides := [2]string{"id < ?", "id >= ?"}
	var errs [2]error
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i, h.txs[i], sides[i], idArg(h.mid))
		}()
	}
	wg.Wait()
	return errors.Join(errs[0], errs[1])
}

// splitPass runs specs as two halves, when the table is large and a spare
// core is free; ok is false when it did not (or could not: the caller then
// runs the whole pass).
func (s *Store) splitPass(ctx context.Context, entity, where string, args []any, specs []hashSpec) ([]*groupRun, bool, error) {
	h, err := s.openHalves(ctx, entity)
	if err != nil || h == nil {
		return nil, false, err
	}
	defer h.done()
	var runs [2][]*groupRun
	var oks [2]bool
	err = h.run(func(i int, tx *sql.Tx, side string, mid any) error {
		var err error
		runs[i], oks[i], err = hashPass(ctx, tx, entity, "("+where+") AND "+side, append(append([]any(nil), args...), mid), specs)
		return err
	})
	if err != nil || !oks[0] || !oks[1] {
		return nil, false, err
	}
	for i, r := range runs[0] {
		if err := r.merge(runs[1][i]); err != nil {
			return nil, false, nil
		}
	}
	s.sawRows(entity, runs[0][0].seen)
	splitPasses.Add(1)
	return runs[0], true, nil
}

// pairedSnapshot begins two read transactions on one state of the
// database (see above); nil when another process's write came between.
// done ends them and gives their connections back.
func (s *Store) pairedSnapshot(ctx context.Context, entity string) (txs []*sql.Tx, done func(), err error) {
	// Both connections are taken before the writer is held: waiting for
	// one while holding it would stall every write behind a long read.
	var conns []*sql.Conn
	done = func() {
		for _, tx := range txs {
			tx.Rollback()
		}
		for _, c := range conns {
			c.Close()
		}
	}
	for range 2 {
		c, err := s.scan.Conn(ctx)
		if err != nil {
			done()
			return nil, nil, err
		}
		conns = append(conns, c)
	}
	var evs [2]int64
	s.ckPause.Lock()
	for i, c := range conns {
		if i > 0 && betweenSnapshots != nil {
			betweenSnapshots()
		}
		tx, err := c.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err == nil {
			txs = append(txs, tx)
			var seq sql.NullInt64
			err = tx.QueryRowContext(ctx, `SELECT max(seq) FROM events WHERE entity = ?`, entity).Scan(&seq)
			evs[i] = seq.Int64
		}
		if err != nil {
			s.ckPause.Unlock()
			done()
			return nil, nil, err
		}
	}
	s.ckPause.Unlock()
	if evs[0] != evs[1] {
		done()
		return nil, nil, nil
	}
	return txs, done, nil
}

// merge adds o's groups into r's (o is a pass over other rows of the same
// group-by).
func (r *groupRun) merge(o *groupRun) error {
	r.seen += o.seen
	for k, g := range o.index {
		mine := r.index[k]
		if mine == nil {
			if len(r.groups) >= maxGroups {
				return errTooManyGroups
			}
			r.index[k] = g
			r.groups = append(r.groups, g)
			continue
		}
		for j := range mine.accs {
			if err := mine.accs[j].merge(r.ops[j], &g.accs[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// merge adds b (the same measure over other rows) into a.
func (a *acc) merge(op string, b *acc) error {
	switch op {
	case "count":
	case "sum", "avg":
		switch {
		case !a.approx && !b.approx:
			s, ok := addInt(a.iSum, b.iSum)
			if !ok {
				return errUnsupported
			}
			a.iSum = s
		default:
			if !a.approx {
				a.approx = true
				a.rSum, a.rErr = float64(a.iSum), 0
			}
			if b.approx {
				kbn(&a.rSum, &a.rErr, b.rSum)
				a.rErr += b.rErr
			} else {
				kbn(&a.rSum, &a.rErr, float64(b.iSum))
			}
		}
	case "min":
		if b.min != nil && (a.min == nil || compareValues(b.min, a.min) < 0) {
			a.min = b.min
		}
	case "max":
		if b.max != nil && (a.max == nil || compareValues(b.max, a.max) > 0) {
			a.max = b.max
		}
	case "count_distinct":
		if a.distinct == nil {
			a.distinct = map[string]struct{}{}
		}
		for k := range b.distinct {
			a.distinct[k] = struct{}{}
		}
	default:
		return fmt.Errorf("%w: merge %s", errUnsupported, op)
	}
	a.rows += b.rows
	return nil
}
