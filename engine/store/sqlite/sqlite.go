// Package sqlite is Jimu's embedded store: one SQLite file in WAL mode, one
// writer connection and a pool of readers. Each entity is a table whose data
// fields live in a JSON column; indexed and unique fields get expression
// indexes on json_extract, which the query translator emits verbatim so
// SQLite can use them.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Store is the SQLite implementation of store.Store.
type Store struct {
	w  *sql.DB // the single writer: SQLite serialises writes anyway
	r  *sql.DB // readers, concurrent under WAL
	ck *sql.DB // the checkpointer's connection

	ckStop, ckEnd chan struct{}

	// Writes go through one goroutine that commits them in batches (group
	// commit): concurrent writers share a transaction, each inside its own
	// savepoint, so one write failing undoes only itself.
	jobs      chan *job
	closing   sync.RWMutex
	closed    bool
	writerEnd chan struct{}

	// prepared holds the writer's prepared statements (see wtx); only the
	// writer goroutine uses it.
	prepared map[string]*sql.Stmt

	// ckPause is held by the writer while it commits a batch, and by the
	// checkpointer when it needs the WAL to stand still (see checkpointer).
	ckPause sync.Mutex
}

type job struct {
	ctx  context.Context
	fn   func(*wtx) error
	done chan error
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

var _ store.Store = (*Store)(nil)

// pageSize is the page size of a new database. A write rewrites the last
// page of every append-only tree (the records, the audit log, the outbox,
// the time indexes), and larger pages fill, split and rebalance those
// trees half as often. jimubench against VACUUMed copies of the 1M-deal
// database gave ~10% more creates/s at 8 KiB than at SQLite's 4 KiB, while
// 16 KiB lost it again copying twice the bytes per random index page
// (docs/performance.md).
const pageSize = 8192

// create makes a new database file with pageSize pages in WAL mode. The
// page size has to be set before anything else touches the file (the
// driver runs its _pragma list sorted, journal_mode first), and has no
// effect on an existing database.
func create(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{fmt.Sprintf(`PRAGMA page_size = %d`, pageSize), `PRAGMA journal_mode = WAL`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: create %s: %w", path, err)
		}
	}
	return nil
}

// Open opens (creating if needed) the database file at path.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create data directory: %w", err)
		}
	}
	q := url.Values{}
	if err := create(ctx, path); err != nil {
		return nil, err
	}
	// Pages are read through a memory map rather than a read call each;
	// the writer also keeps a larger cache (its index pages at 1M records
	// do not fit SQLite's default 2 MB).
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(1)", "mmap_size(1073741824)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + q.Encode()
	// The writer keeps statement journals (one per savepoint of a batch) in
	// memory, and leaves checkpoints to the checkpointer goroutine: run
	// inside commits they took a sixth of the writer's time.
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(0)&_pragma=cache_size(-65536)")
	if err != nil {
		return nil, err
	}
	ck, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	ck.SetMaxOpenConns(1)
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		ck.Close()
		return nil, err
	}
	r.SetMaxOpenConns(max(4, runtime.NumCPU()*2))
	r.SetMaxIdleConns(max(4, runtime.NumCPU()*2))
	s := &Store{w: w, r: r, ck: ck,
		jobs: make(chan *job, 4*maxBatch), writerEnd: make(chan struct{}), prepared: map[string]*sql.Stmt{},
		ckStop: make(chan struct{}), ckEnd: make(chan struct{})}
	go s.writer()
	go s.checkpointer()
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL, key TEXT, version INTEGER NOT NULL,
			data TEXT NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID`,
		`CREATE UNIQUE INDEX IF NOT EXISTS docs_key ON docs(kind, key) WHERE key IS NOT NULL AND key <> ''`,
		`CREATE TABLE IF NOT EXISTS audit (id TEXT PRIMARY KEY, at TEXT NOT NULL, actor TEXT, ip TEXT,
			action TEXT NOT NULL, entity TEXT, record_id TEXT, changes TEXT) WITHOUT ROWID`,
		`CREATE INDEX IF NOT EXISTS audit_record ON audit(entity, record_id, id)`,
		// The audit log is append-only: the database itself refuses to change it.
		`CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
		`CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
		`CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, type TEXT NOT NULL, entity TEXT, record_id TEXT,
			actor TEXT, at TEXT NOT NULL, payload TEXT) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`,
	}
	for _, q := range stmts {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
	return nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	s.closing.Lock()
	if !s.closed {
		s.closed = true
		close(s.jobs)
	}
	s.closing.Unlock()
	<-s.writerEnd
	select {
	case <-s.ckStop:
	default:
		close(s.ckStop)
	}
	<-s.ckEnd
	return errors.Join(s.r.Close(), s.ck.Close(), s.w.Close())
}

// Checkpoint tuning; variables so that a test can make them small.
var (
	// checkpointEvery is how often WAL frames are copied back into the
	// database file, beside the writer rather than inside its commits.
	checkpointEvery = 500 * time.Millisecond
	// restartFrames is the WAL length in frames (a page each: 64 MiB at
	// 8 KiB pages) beyond which the checkpointer makes the WAL start over.
	restartFrames = 8192
	// restartTail is how many frames may still be waiting when the
	// checkpointer holds the writer to copy them.
	restartTail = 512
)

// checkpointer runs passive checkpoints: they never block the writer or
// readers. But under a steady stream of writes a passive checkpoint never
// quite catches up (frames arrive while it copies), and SQLite starts the
// WAL over only when a write begins with every frame back in the database.
// The WAL would grow for as long as the writes last, each frame extending
// the file and every page lookup searching a longer WAL index. So once the
// WAL is long, the checkpointer copies again until what arrived during its
// last pass is small, then copies that last tail with the writer held
// between two batches (ckPause): the next write starts the WAL over.
func (s *Store) checkpointer() {
	defer close(s.ckEnd)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ckStop:
			return
		case <-t.C:
			frames, err := s.checkpoint()
			if err != nil || frames < restartFrames {
				continue // short enough, or busy: the next tick looks again
			}
			// Each pass copies what arrived during the one before; a few
			// passes leave a short tail, which is copied with the writer
			// held.
			for range 4 {
				next, err := s.checkpoint()
				if err != nil {
					break
				}
				grew := next - frames
				frames = next
				if grew < restartTail {
					break
				}
			}
			s.ckPause.Lock()
			s.checkpoint()
			s.ckPause.Unlock()
		}
	}
}

// checkpoint runs a passive checkpoint and reports the WAL's length in
// frames when it began.
func (s *Store) checkpoint() (int, error) {
	var busy, frames, done int
	err := s.ck.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done)
	return frames, err
}

// Ping checks that the file is readable.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

func recTable(entity string) string   { return `"rec_` + entity + `"` }
func trashTable(entity string) string { return `"trash_` + entity + `"` }

// EnsureEntity creates the entity's tables and brings its indexes in line
// with the metadata.
func (s *Store) EnsureEntity(ctx context.Context, e *metadata.Entity) error {
	if !metadata.ValidName(e.Name) {
		return fmt.Errorf("sqlite: invalid entity name %q", e.Name)
	}
	cols := `id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
		created_by TEXT, updated_by TEXT, owner TEXT, data TEXT NOT NULL`
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + recTable(e.Name) + ` (` + cols + `) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS ` + trashTable(e.Name) + ` (` + cols + `, deleted_at TEXT NOT NULL, deleted_by TEXT) WITHOUT ROWID`,
		`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_created_at" ON ` + recTable(e.Name) + `(created_at)`,
		`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_updated_at" ON ` + recTable(e.Name) + `(updated_at)`,
		`CREATE INDEX IF NOT EXISTS "sx_` + e.Name + `_owner" ON ` + recTable(e.Name) + `(owner)`,
	}
	for _, q := range stmts {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: ensure %s: %w", e.Name, err)
		}
	}
	want := map[string]string{} // index name → create statement
	for _, f := range e.LiveFields() {
		col := dataCol(f.Name)
		if f.Unique {
			name := "ux_" + e.Name + "_" + f.Name
			want[name] = `CREATE UNIQUE INDEX "` + name + `" ON ` + recTable(e.Name) + `(` + col + `)`
		} else if f.Indexed {
			name := "ix_" + e.Name + "_" + f.Name
			want[name] = `CREATE INDEX "` + name + `" ON ` + recTable(e.Name) + `(` + col + `)`
		}
	}
	for _, ix := range e.Indexes {
		cols := make([]string, 0, len(ix.Fields))
		for _, f := range ix.Fields {
			if _, ok := e.KindOf(f); !ok {
				cols = nil // a field deleted since: the index goes
				break
			}
			c, err := column(f)
			if err != nil {
				return err
			}
			cols = append(cols, c)
		}
		if len(cols) < 2 {
			continue
		}
		name := "cx_" + e.Name + "_" + ix.Name()
		want[name] = `CREATE INDEX "` + name + `" ON ` + recTable(e.Name) + `(` + strings.Join(cols, ", ") + `)`
	}
	rows, err := s.w.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`, "rec_"+e.Name)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		have[n] = true
	}
	rows.Close()
	for n := range have {
		if (strings.HasPrefix(n, "ix_") || strings.HasPrefix(n, "ux_") || strings.HasPrefix(n, "cx_")) && want[n] == "" {
			if _, err := s.w.ExecContext(ctx, `DROP INDEX "`+n+`"`); err != nil {
				return err
			}
		}
	}
	for n, q := range want {
		if have[n] {
			continue
		}
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				f := strings.TrimPrefix(n, "ux_"+e.Name+"_")
				return fmt.Errorf("sqlite: existing records hold duplicate values of %s: %w", f, &store.UniqueError{Field: f})
			}
			return fmt.Errorf("sqlite: create index %s: %w", n, err)
		}
	}
	if _, err := s.w.ExecContext(ctx, `ANALYZE `+recTable(e.Name)); err != nil {
		return err
	}
	return nil
}

func dataCol(field string) string { return `json_extract(data, '$.` + field + `')` }

// --- records ---

const recCols = `id, version, created_at, updated_at, created_by, updated_by, owner, data`

func (s *Store) Insert(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	data, err := json.Marshal(r.Data)
	if err != nil {
		return err
	}
	es, err := encodeSides(sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO `+recTable(entity)+` (`+recCols+`) VALUES (?,?,?,?,?,?,?,?)`,
			r.ID, r.Version, ts(r.CreatedAt), ts(r.UpdatedAt), r.CreatedBy, r.UpdatedBy, r.Owner, string(data))
		if err != nil {
			return mapErr(entity, err)
		}
		return writeSides(ctx, tx, es)
	})
}

func (s *Store) Get(ctx context.Context, entity, id string) (*store.Record, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+recCols+` FROM `+recTable(entity)+` WHERE id = ?`, id)
	r, err := scanRecord(row)
	if err != nil {
		return nil, mapErr(entity, err)
	}
	return r, nil
}

func (s *Store) Update(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	data, err := json.Marshal(r.Data)
	if err != nil {
		return err
	}
	es, err := encodeSides(sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE `+recTable(entity)+` SET version = ?, updated_at = ?, updated_by = ?, owner = ?, data = ?
			WHERE id = ? AND version = ?`, r.Version, ts(r.UpdatedAt), r.UpdatedBy, r.Owner, string(data), r.ID, r.Version-1)
		if err != nil {
			return mapErr(entity, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.missingOrConflict(ctx, tx, entity, r.ID)
		}
		return writeSides(ctx, tx, es)
	})
}

func (s *Store) missingOrConflict(ctx context.Context, tx *wtx, entity, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+recTable(entity)+` WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %s: %w", entity, id, store.ErrNotFound)
	}
	if err != nil {
		return mapErr(entity, err)
	}
	return fmt.Errorf("%s %s: %w", entity, id, store.ErrConflict)
}

func (s *Store) Delete(ctx context.Context, entity, id string, version int64, sd store.Sides) error {
	es, err := encodeSides(sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error {
		actor := ""
		if sd.Audit != nil {
			actor = sd.Audit.Actor
		}
		cond := `id = ?`
		args := []any{ts(time.Now()), actor, id}
		if version > 0 {
			cond += ` AND version = ?`
			args = append(args, version)
		}
		res, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO `+trashTable(entity)+` (`+recCols+`, deleted_at, deleted_by)
			SELECT `+recCols+`, ?, ? FROM `+recTable(entity)+` WHERE `+cond, args...)
		if err != nil {
			return mapErr(entity, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.missingOrConflict(ctx, tx, entity, id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+recTable(entity)+` WHERE id = ?`, id); err != nil {
			return mapErr(entity, err)
		}
		return writeSides(ctx, tx, es)
	})
}

func (s *Store) Find(ctx context.Context, entity string, q store.Query) ([]*store.Record, error) {
	var b sqlBuilder
	where, err := b.cond(q.Filter)
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	sb.WriteString(`SELECT ` + recCols + ` FROM ` + recTable(entity) + ` WHERE ` + where)
	if len(q.Sort) > 0 {
		sb.WriteString(` ORDER BY `)
		for i, k := range q.Sort {
			if i > 0 {
				sb.WriteString(", ")
			}
			col, err := column(k.Field)
			if err != nil {
				return nil, err
			}
			sb.WriteString(col)
			if k.Desc {
				sb.WriteString(" DESC")
			}
		}
	}
	if q.Limit > 0 {
		fmt.Fprintf(&sb, " LIMIT %d", q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, sb.String(), b.args...)
	if err != nil {
		return nil, mapErr(entity, err)
	}
	defer rows.Close()
	var out []*store.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		if q.Fields != nil {
			keep := make(map[string]any, len(q.Fields))
			for _, f := range q.Fields {
				if v, ok := r.Data[f]; ok {
					keep[f] = v
				}
			}
			r.Data = keep
		}
		out = append(out, r)
	}
	return out, mapErr(entity, rows.Err())
}

func (s *Store) Count(ctx context.Context, entity string, filter *store.Cond, limit int64) (int64, bool, error) {
	var b sqlBuilder
	where, err := b.cond(filter)
	if err != nil {
		return 0, false, err
	}
	// Never an unbounded COUNT: the inner LIMIT stops the scan at the cap.
	q := `SELECT count(*) FROM (SELECT 1 FROM ` + recTable(entity) + ` WHERE ` + where + fmt.Sprintf(` LIMIT %d)`, limit+1)
	var n int64
	if err := s.r.QueryRowContext(ctx, q, b.args...).Scan(&n); err != nil {
		return 0, false, mapErr(entity, err)
	}
	if n > limit {
		return limit, true, nil
	}
	return n, false, nil
}

func (s *Store) Aggregate(ctx context.Context, entity string, q store.AggregateQuery) ([]store.AggregateRow, error) {
	var b sqlBuilder
	where, err := b.cond(q.Filter)
	if err != nil {
		return nil, err
	}
	var sel, group []string
	for _, g := range q.GroupBy {
		name, bucket, _ := strings.Cut(g, ":")
		col, err := column(name)
		if err != nil {
			return nil, err
		}
		switch bucket {
		case "":
		case "year":
			col = "substr(" + col + ", 1, 4)"
		case "month":
			col = "substr(" + col + ", 1, 7)"
		case "day":
			col = "substr(" + col + ", 1, 10)"
		default:
			return nil, fmt.Errorf("unknown date bucket %q", bucket)
		}
		sel = append(sel, col)
		group = append(group, col)
	}
	var sums []int // sel indexes of sum()s, and their columns
	var sumCols []string
	for _, m := range q.Measures {
		col := "1"
		if m.Op != "count" {
			c, err := column(m.Field)
			if err != nil {
				return nil, err
			}
			col = c
		}
		switch m.Op {
		case "count":
			sel = append(sel, "count(*)")
		case "sum":
			sums = append(sums, len(sel))
			sel = append(sel, "sum("+col+")")
			sumCols = append(sumCols, col)
		case "avg", "min", "max":
			sel = append(sel, m.Op+"("+col+")")
		case "count_distinct":
			sel = append(sel, "count(DISTINCT "+col+")")
		default:
			return nil, fmt.Errorf("unknown measure %q", m.Op)
		}
	}
	tail := ` FROM ` + recTable(entity) + ` WHERE ` + where
	if len(group) > 0 {
		tail += ` GROUP BY ` + strings.Join(group, ", ") + ` ORDER BY ` + strings.Join(group, ", ")
	}
	if q.Limit > 0 {
		tail += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	out, err := s.aggregateRows(ctx, `SELECT `+strings.Join(sel, ", ")+tail, b.args, len(q.GroupBy), len(q.Measures))
	if err != nil && len(sums) > 0 && strings.Contains(err.Error(), "integer overflow") {
		// sum() of integers fails past int64; the sum is then a float,
		// as MongoDB makes it (total() never overflows; it is 0.0 over
		// no values where sum() is NULL).
		for i, at := range sums {
			sel[at] = "CASE WHEN count(" + sumCols[i] + ") = 0 THEN NULL ELSE total(" + sumCols[i] + ") END"
		}
		out, err = s.aggregateRows(ctx, `SELECT `+strings.Join(sel, ", ")+tail, b.args, len(q.GroupBy), len(q.Measures))
	}
	if err != nil {
		return nil, mapErr(entity, err)
	}
	return out, nil
}

func (s *Store) aggregateRows(ctx context.Context, query string, args []any, nkeys, nmeasures int) ([]store.AggregateRow, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AggregateRow
	n := nkeys + nmeasures
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, store.AggregateRow{Keys: vals[:nkeys], Values: vals[nkeys:]})
	}
	return out, rows.Err()
}

func (s *Store) UnsetField(ctx context.Context, entity, field string) error {
	if !metadata.ValidName(field) {
		return fmt.Errorf("invalid field name %q", field)
	}
	return s.tx(ctx, func(tx *wtx) error {
		for _, t := range []string{recTable(entity), trashTable(entity)} {
			if _, err := tx.ExecContext(ctx, `UPDATE `+t+` SET data = json_remove(data, '$.`+field+`') WHERE `+dataCol(field)+` IS NOT NULL`); err != nil {
				return mapErr(entity, err)
			}
		}
		return nil
	})
}

func (s *Store) NextSequence(ctx context.Context, name string) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO sequences (name, value) VALUES (?, 1)
			ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`, name).Scan(&n)
	})
	return n, err
}

// --- system documents ---

func (s *Store) GetDoc(ctx context.Context, kind, id string) (*store.Doc, error) {
	return scanDoc(s.r.QueryRowContext(ctx, `SELECT kind, id, key, version, data FROM docs WHERE kind = ? AND id = ?`, kind, id))
}

func (s *Store) GetDocByKey(ctx context.Context, kind, key string) (*store.Doc, error) {
	return scanDoc(s.r.QueryRowContext(ctx, `SELECT kind, id, key, version, data FROM docs WHERE kind = ? AND key = ?`, kind, key))
}

func (s *Store) ListDocs(ctx context.Context, kind string) ([]*store.Doc, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT kind, id, key, version, data FROM docs WHERE kind = ? ORDER BY id`, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Doc
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Store) PutDoc(ctx context.Context, d *store.Doc, sd store.Sides) error {
	var key any
	if d.Key != "" {
		key = d.Key
	}
	es, err := encodeSides(sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error {
		if d.Version <= 1 {
			_, err := tx.ExecContext(ctx, `INSERT INTO docs (kind, id, key, version, data) VALUES (?,?,?,?,?)`,
				d.Kind, d.ID, key, 1, string(d.Data))
			if err != nil {
				if isConstraint(err) {
					return fmt.Errorf("%s %s: %w", d.Kind, d.ID, store.ErrExists)
				}
				return err
			}
			d.Version = 1
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE docs SET key = ?, version = ?, data = ? WHERE kind = ? AND id = ? AND version = ?`,
				key, d.Version, string(d.Data), d.Kind, d.ID, d.Version-1)
			if err != nil {
				if isConstraint(err) {
					return fmt.Errorf("%s %s key: %w", d.Kind, d.ID, store.ErrExists)
				}
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				var one int
				if err := tx.QueryRowContext(ctx, `SELECT 1 FROM docs WHERE kind = ? AND id = ?`, d.Kind, d.ID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("%s %s: %w", d.Kind, d.ID, store.ErrNotFound)
				}
				return fmt.Errorf("%s %s: %w", d.Kind, d.ID, store.ErrConflict)
			}
		}
		return writeSides(ctx, tx, es)
	})
}

func (s *Store) DeleteDoc(ctx context.Context, kind, id string, sd store.Sides) error {
	es, err := encodeSides(sd)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM docs WHERE kind = ? AND id = ?`, kind, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s %s: %w", kind, id, store.ErrNotFound)
		}
		return writeSides(ctx, tx, es)
	})
}

// --- audit and outbox ---

func (s *Store) AppendAudit(ctx context.Context, a *store.AuditEntry) error {
	es, err := encodeSides(store.Sides{Audit: a})
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *wtx) error { return writeSides(ctx, tx, es) })
}

func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEntry, error) {
	var where []string
	var args []any
	add := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	add("entity", q.Entity)
	add("record_id", q.RecordID)
	add("actor", q.Actor)
	add("action", q.Action)
	if q.Before != "" {
		where = append(where, "id < ?")
		args = append(args, q.Before)
	}
	query := `SELECT id, at, actor, ip, action, entity, record_id, changes FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.AuditEntry
	for rows.Next() {
		var a store.AuditEntry
		var at string
		var actor, ip, entity, recID, changes sql.NullString
		if err := rows.Scan(&a.ID, &at, &actor, &ip, &a.Action, &entity, &recID, &changes); err != nil {
			return nil, err
		}
		a.At, _ = time.Parse(metadata.DateTimeLayout, at)
		a.Actor, a.IP, a.Entity, a.RecordID = actor.String, ip.String, entity.String, recID.String
		if changes.Valid && changes.String != "" {
			_ = json.Unmarshal([]byte(changes.String), &a.Changes)
		}
		out = append(out, &a)
	}
	return out, rows.Err()
}

func (s *Store) Events(ctx context.Context, after string, limit int) ([]*store.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, type, entity, record_id, actor, at, payload FROM outbox
		WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Event
	for rows.Next() {
		var e store.Event
		var at string
		var entity, recID, actor, payload sql.NullString
		if err := rows.Scan(&e.ID, &e.Type, &entity, &recID, &actor, &at, &payload); err != nil {
			return nil, err
		}
		e.At, _ = time.Parse(metadata.DateTimeLayout, at)
		e.Entity, e.RecordID, e.Actor = entity.String, recID.String, actor.String
		if payload.Valid && payload.String != "" {
			_ = json.Unmarshal([]byte(payload.String), &e.Payload)
		}
		out = append(out, &e)
	}
	return out, rows.Err()
}

// encodedSides are a write's audit entry and event as statement arguments,
// encoded before the write reaches the single writer goroutine.
type encodedSides struct {
	audit, event []any
}

func encodeSides(sd store.Sides) (encodedSides, error) {
	var es encodedSides
	if a := sd.Audit; a != nil {
		var changes any
		if a.Changes != nil {
			b, err := json.Marshal(a.Changes)
			if err != nil {
				return es, err
			}
			changes = string(b)
		}
		es.audit = []any{a.ID, ts(a.At), a.Actor, a.IP, a.Action, a.Entity, a.RecordID, changes}
	}
	if e := sd.Event; e != nil {
		var payload any
		if e.Payload != nil {
			b, err := json.Marshal(e.Payload)
			if err != nil {
				return es, err
			}
			payload = string(b)
		}
		es.event = []any{e.ID, e.Type, e.Entity, e.RecordID, e.Actor, ts(e.At), payload}
	}
	return es, nil
}

func writeSides(ctx context.Context, tx *wtx, es encodedSides) error {
	if es.audit != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit (id, at, actor, ip, action, entity, record_id, changes) VALUES (?,?,?,?,?,?,?,?)`, es.audit...); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if es.event != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, type, entity, record_id, actor, at, payload) VALUES (?,?,?,?,?,?,?)`, es.event...); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}

// --- helpers ---

// errClosed answers writes after Close.
var errClosed = errors.New("sqlite: store is closed")

// tx runs fn in a write transaction, batched with other writers'.
func (s *Store) tx(ctx context.Context, fn func(*wtx) error) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan error, 1)}
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
	for first := range s.jobs {
		batch := []*job{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case j, ok := <-s.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		s.ckPause.Lock()
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
	for i, j := range batch {
		j.done <- results[i]
	}
	return true
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

func ts(t time.Time) string { return metadata.FormatDateTime(t) }

type scanner interface{ Scan(...any) error }

func scanRecord(sc scanner) (*store.Record, error) {
	var r store.Record
	var created, updated, data string
	var createdBy, updatedBy, owner sql.NullString
	if err := sc.Scan(&r.ID, &r.Version, &created, &updated, &createdBy, &updatedBy, &owner, &data); err != nil {
		return nil, err
	}
	r.CreatedAt, _ = time.Parse(metadata.DateTimeLayout, created)
	r.UpdatedAt, _ = time.Parse(metadata.DateTimeLayout, updated)
	r.CreatedBy, r.UpdatedBy, r.Owner = createdBy.String, updatedBy.String, owner.String
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&r.Data); err != nil {
		return nil, fmt.Errorf("record %s: corrupt data: %w", r.ID, err)
	}
	r.Data = store.PlainNumbers(r.Data, &r.Unreadable)
	return &r, nil
}

func scanDoc(sc scanner) (*store.Doc, error) {
	var d store.Doc
	var key sql.NullString
	var data string
	if err := sc.Scan(&d.Kind, &d.ID, &key, &d.Version, &data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, err
	}
	d.Key = key.String
	d.Data = []byte(data)
	return &d, nil
}

func isConstraint(err error) bool {
	return err != nil && strings.Contains(err.Error(), "constraint failed")
}

// mapErr turns driver errors into the store's errors.
func mapErr(entity string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", entity, store.ErrNotFound)
	}
	msg := err.Error()
	if strings.Contains(msg, "no such table") {
		return fmt.Errorf("entity %s: %w", entity, store.ErrNotFound)
	}
	if strings.Contains(msg, "UNIQUE constraint failed") {
		if i := strings.Index(msg, "ux_"+entity+"_"); i >= 0 {
			f := msg[i+len("ux_"+entity+"_"):]
			f = strings.TrimRight(f, "' )")
			if j := strings.IndexAny(f, "' ()"); j >= 0 {
				f = f[:j]
			}
			return &store.UniqueError{Field: f}
		}
		if strings.Contains(msg, ".id") {
			return fmt.Errorf("%s: %w", entity, store.ErrExists)
		}
	}
	return err
}
