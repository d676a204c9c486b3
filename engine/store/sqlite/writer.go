package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
)

// job is one write for the single writer: every write is queued to one
// goroutine that commits whatever is waiting in one transaction (group
// commit).
type job struct {
	ctx  context.Context
	fn   func(*wtx) error
	done chan error
	// solo jobs (units of work) commit in a transaction of their own, so
	// their fn runs exactly once: a failed batch runs its fns again.
	solo bool
}

// wtx is a write transaction. The writes of a batch are mostly the same
// few INSERTs, and parsing them again for every write (or every batch) was
// a large share of the writer's time: a statement is prepared on the
// writer's connection once, kept in prepared, and bound to each
// transaction that runs it.
type wtx struct {
	*sql.Tx
	stmts    map[string]*sql.Stmt // bound to this transaction
	prepared map[string]*sql.Stmt // the writer's, across transactions
	fresh    []string             // statements to add to prepared after the commit
	// layouts are the entities whose columns the transaction changed (a
	// purge in a unit of work), with their new columns: installed after
	// the commit, before anyone is answered (schemaChanged).
	layouts map[string]*layout
}

func (t *wtx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st, ok := t.stmts[q]; ok {
		return st
	}
	var st *sql.Stmt
	if ps, ok := t.prepared[q]; ok {
		st = t.Tx.StmtContext(ctx, ps)
	} else {
		// Preparing on the database needs the connection this
		// transaction holds; the writer does it after the commit.
		var err error
		if st, err = t.Tx.PrepareContext(ctx, q); err != nil {
			return nil // the caller runs it unprepared and gets the error there
		}
		t.fresh = append(t.fresh, q)
	}
	t.stmts[q] = st
	return st
}

func (t *wtx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

func (t *wtx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

func (t *wtx) Exec(q string) (sql.Result, error) { return t.ExecContext(context.Background(), q) }

// maxBatch bounds the writes sharing one commit, so a batch's latency
// stays short.
const maxBatch = 64

// errClosed answers writes after Close.
var errClosed = errors.New("sqlite: store is closed")

// tx runs fn in a write transaction, batched with other writers'. fn
// may run twice (see commit).
func (s *Store) tx(ctx context.Context, fn func(*wtx) error) error {
	return s.queue(ctx, &job{ctx: ctx, fn: fn, done: make(chan error, 1)})
}

// txSolo runs fn once, in a write transaction of its own.
func (s *Store) txSolo(ctx context.Context, fn func(*wtx) error) error {
	return s.queue(ctx, &job{ctx: ctx, fn: fn, done: make(chan error, 1), solo: true})
}

func (s *Store) queue(ctx context.Context, j *job) error {
	s.closing.RLock()
	if s.closed {
		s.closing.RUnlock()
		return errClosed
	}
	s.jobs <- j
	s.closing.RUnlock()
	return <-j.done
}

// writer commits the queued writes, as many as are waiting (up to
// maxBatch) per transaction.
func (s *Store) writer() {
	defer close(s.writerEnd)
	var next *job // a solo job drained after a batch had begun
	for {
		first := next
		next = nil
		if first == nil {
			j, ok := <-s.jobs
			if !ok {
				return
			}
			first = j
		}
		batch := []*job{first}
	drain:
		for !first.solo && len(batch) < maxBatch {
			select {
			case j, ok := <-s.jobs:
				if !ok {
					break drain
				}
				if j.solo {
					next = j
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		s.ckPause.Lock()
		// Counted before the commit answers anyone: a checkpointer tick
		// after the answer must see that something was written.
		s.writes.Add(1)
		s.commit(batch)
		s.ckPause.Unlock()
		// The writers this batch just answered were woken on this
		// goroutine's processor; let them send their answers now rather
		// than after the next batch.
		runtime.Gosched()
	}
}

// commit commits a batch. Writes rarely fail, so it first runs the whole
// batch in one transaction without savepoints: a savepoint copies every
// page a write touches into its sub-journal, a tenth of the writer's time.
// Should any write fail, that transaction is rolled back and the batch runs
// again with a savepoint per write (commitEach), so the failure undoes
// only itself.
func (s *Store) commit(batch []*job) {
	if len(batch) > 1 && s.commitTogether(batch) {
		return
	}
	s.commitEach(batch)
}

// commitTogether reports whether it committed the batch and answered its
// writers; when it did not, nothing was written and nobody answered.
func (s *Store) commitTogether(batch []*job) bool {
	tx, err := s.begin()
	if err != nil {
		return false
	}
	defer s.keepPrepared(tx)
	results := make([]error, len(batch))
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err // not run: nothing to undo
			continue
		}
		if err := j.fn(tx); err != nil {
			tx.Rollback()
			return false
		}
	}
	if err := tx.Commit(); err != nil {
		return false
	}
	s.schemaChanged(tx)
	for i, j := range batch {
		j.done <- results[i]
	}
	return true
}

// schemaChanged installs the columns a committed transaction changed,
// before its writers are answered: statements name columns, and a purged
// field's name may come back with another type, so the writer's cache
// starts over (on the writer's goroutine, which alone uses it).
func (s *Store) schemaChanged(tx *wtx) {
	if len(tx.layouts) == 0 {
		return
	}
	for q, st := range s.prepared {
		st.Close()
		delete(s.prepared, q)
	}
	for e, l := range tx.layouts {
		s.layouts.Store(e, l)
	}
}

// begin starts a write transaction on the writer's connection.
func (s *Store) begin() (*wtx, error) {
	stx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	return &wtx{Tx: stx, stmts: map[string]*sql.Stmt{}, prepared: s.prepared}, nil
}

// commitEach commits a batch with a savepoint per write.
func (s *Store) commitEach(batch []*job) {
	results := make([]error, len(batch))
	tx, err := s.begin()
	if err != nil {
		for _, j := range batch {
			j.done <- err
		}
		return
	}
	defer s.keepPrepared(tx)
	alone := len(batch) == 1
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if !alone {
			if _, err := tx.Exec(`SAVEPOINT w`); err != nil {
				results[i] = err
				continue
			}
		}
		results[i] = j.fn(tx)
		if alone {
			continue
		}
		if results[i] != nil {
			if _, err := tx.Exec(`ROLLBACK TO w`); err != nil {
				// The transaction is unusable: fail the whole batch.
				tx.Rollback()
				for _, j := range batch {
					j.done <- fmt.Errorf("sqlite: rollback to savepoint: %w", err)
				}
				return
			}
		}
		if _, err := tx.Exec(`RELEASE w`); err != nil && results[i] == nil {
			results[i] = err
		}
	}
	if alone && results[0] != nil {
		tx.Rollback()
		batch[0].done <- results[0]
		return
	}
	if err := tx.Commit(); err != nil {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	} else {
		s.schemaChanged(tx)
	}
	for i, j := range batch {
		j.done <- results[i]
	}
}

// maxPrepared bounds the writer's statement cache: statements name their
// entity's table, so it grows with the schema, and starts over past this.
const maxPrepared = 512

// keepPrepared prepares, on the writer's connection, the statements a
// finished transaction ran for the first time.
func (s *Store) keepPrepared(tx *wtx) {
	if len(tx.layouts) > 0 {
		return // schemaChanged dropped the cache; nothing of before is kept
	}
	if len(tx.fresh) == 0 {
		return
	}
	if len(s.prepared)+len(tx.fresh) > maxPrepared {
		for q, st := range s.prepared {
			st.Close()
			delete(s.prepared, q)
		}
	}
	for _, q := range tx.fresh {
		if st, err := s.w.Prepare(q); err == nil {
			s.prepared[q] = st
		}
	}
}
