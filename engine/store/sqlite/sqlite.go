// Package sqlite is Jimu's embedded store: one SQLite file in WAL mode, one
// writer connection and a pool of readers. Each entity is a table with a
// typed column per field (layout.go); indexed and unique fields get plain
// column indexes.
//
// The files follow the jobs: opening and pragmas (sqlite.go), the single
// writer and group commit (writer.go), checkpoints (checkpoint.go), tables
// and indexes (schema.go), the columns of an entity and their values
// (layout.go), the migration from JSON data tables (migrate.go), records
// (records.go), aggregates (aggregate.go), the query translator
// (query.go), system documents (docs.go), the audit log and the sides of a
// write (sides.go), the outbox, checkpoints and pruning (outbox.go),
// leases (lease.go), units of work (atomic.go), driver errors (errors.go).
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Store is the SQLite implementation of store.Store.
type Store struct {
	w *sql.DB // the single writer: SQLite serialises writes anyway
	r *sql.DB // readers, concurrent under WAL
	// scan reads whole tables and indexes through a memory map; r reads
	// without one. SQLite drops a connection's map whenever the database
	// changed since its last read, so under writes every read on a mapped
	// connection began with munmap and mmap and faulted its pages in again:
	// ~6% of a CPU profile of 16 clients' PATCHes, more on a connection
	// that had mapped a million records for a scan. A scan that copied its
	// pages through read calls instead would copy the whole table.
	scan *sql.DB
	ck   *sql.DB // the checkpointer's connection

	ckStop, ckEnd chan struct{}
	// writes counts the writer's batches and schema changes; lastWrites
	// is the count the checkpointer's last tick saw (only it uses that),
	// so a tick knows whether anything was written since.
	writes     atomic.Int64
	lastWrites int64

	// Writes go through one goroutine that commits them in batches (group
	// commit): concurrent writers share a transaction, each inside its own
	// savepoint, so one write failing undoes only itself.
	jobs      chan *job
	closing   sync.RWMutex
	closed    bool
	writerEnd chan struct{}
	// background counts the jobs a read starts and does not wait for
	// (finding a split point); Close cancels them through stopBackground
	// and waits, so no connection is opened on the file after Close
	// returns — one that was opened while a test's temporary directory
	// was being removed left a file in it (a CI failure).
	background     sync.WaitGroup
	backgroundCtx  context.Context
	stopBackground context.CancelFunc

	// prepared holds the writer's prepared statements (see wtx); only the
	// writer goroutine uses it.
	prepared map[string]*sql.Stmt
	// reads holds statements prepared on the readers' pool for the reads
	// made on every request (a record by id, a document): parsing them
	// again each time was a tenth of a workflow step's time.
	reads  sync.Map // query → *sql.Stmt
	nreads atomic.Int32

	path string

	// ckPause is held by the writer while it commits a batch, by the
	// checkpointer when it needs the WAL to stand still (see checkpointer),
	// and by a schema change (schemaTx), so no batch runs with columns
	// that are changing.
	ckPause sync.Mutex

	// layouts caches each entity's columns (*layout), read from the schema.
	layouts sync.Map

	// aggs keeps aggregates until their entity is next written, and finds
	// the lists and counts that read a whole table (findcache.go).
	aggs  aggCache
	finds findCache

	// spare holds a token per core a hash pass may add by running as two
	// halves, and tableRows the most rows a pass over each entity saw
	// (split.go).
	spare     chan struct{}
	tableRows sync.Map // entity → *tableStats
}

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

// Options tune how a database is opened.
type Options struct {
	// Durability is "normal" (the default) or "full". Under "normal"
	// (synchronous=NORMAL in WAL mode) an acknowledged write survives a
	// killed process but the last commits may be lost if the machine loses
	// power; "full" syncs the WAL at every commit so they survive that too,
	// at a cost in creates/s (docs/performance.md).
	Durability string

	// manualCheckpoints leaves checkpoints to the caller (tests drive
	// checkpointTick themselves rather than racing a ticker).
	manualCheckpoints bool
}

// synchronous is the pragma value of a durability setting.
func (o Options) synchronous() (string, error) {
	switch o.Durability {
	case "", "normal":
		return "NORMAL", nil
	case "full":
		return "FULL", nil
	}
	return "", fmt.Errorf("sqlite: durability must be normal or full, not %q", o.Durability)
}

// Open opens (creating if needed) the database file at path with the
// default options.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith opens (creating if needed) the database file at path.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	syncMode, err := o.synchronous()
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create data directory: %w", err)
		}
	}
	q := url.Values{}
	if err := create(ctx, path); err != nil {
		return nil, err
	}
	// The writer keeps a larger cache (its index pages at 1M records do
	// not fit SQLite's default 2 MB) and reads through a memory map, as
	// scans do (see Store.scan): its own commits never drop the map.
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(" + syncMode + ")", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + q.Encode()
	mm := "&_pragma=mmap_size(1073741824)"
	// The writer keeps statement journals (one per savepoint of a batch) in
	// memory, and leaves checkpoints to the checkpointer goroutine: run
	// inside commits they took a sixth of the writer's time.
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(0)&_pragma=cache_size(-65536)"+mm+
		fmt.Sprintf("&_pragma=journal_size_limit(%d)", walLimit))
	if err != nil {
		return nil, err
	}
	ck, err := sql.Open("sqlite", dsn+mm)
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
	scan, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)"+mm)
	if err != nil {
		w.Close()
		ck.Close()
		r.Close()
		return nil, err
	}
	// The scan pool has two connections more per spare core: one for the
	// second half of a split read (split.go), one for the page a counted
	// list asks beside its count — so neither waits for the other.
	reads, scans := max(4, runtime.NumCPU()*2), max(4, runtime.NumCPU()*2)+2*spareCores()
	r.SetMaxOpenConns(reads)
	r.SetMaxIdleConns(reads)
	scan.SetMaxOpenConns(scans)
	scan.SetMaxIdleConns(scans)
	s := &Store{w: w, r: r, scan: scan, ck: ck, path: path,
		jobs: make(chan *job, 4*maxBatch), writerEnd: make(chan struct{}), prepared: map[string]*sql.Stmt{},
		spare:  make(chan struct{}, spareCores()),
		ckStop: make(chan struct{}), ckEnd: make(chan struct{})}
	s.backgroundCtx, s.stopBackground = context.WithCancel(context.Background())
	go s.writer()
	if o.manualCheckpoints {
		close(s.ckEnd)
	} else {
		go s.checkpointer()
	}
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
		// The outbox: seq is the rowid, assigned as the single writer
		// inserts, so seq order is commit order (outbox.go). The table
		// before it, outbox, ordered by an id minted before the write was
		// queued; it is left as it was and nothing reads it.
		// An outbox an earlier Jimu wrote is rewritten below (compactEvents).
		`CREATE TABLE IF NOT EXISTS events ` + eventsColumns,
		// Events at or below the pruned mark have left the outbox; those
		// that are audit entries stay as the audit log (PruneEvents).
		`CREATE TABLE IF NOT EXISTS outbox_state (name TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS checkpoints (consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL, at TEXT NOT NULL) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, until INTEGER NOT NULL,
			token INTEGER NOT NULL) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`,
	}
	for _, q := range stmts {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
	if err := compactEvents(ctx, s.w); err != nil {
		return err
	}
	for _, q := range eventsIndexes {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Ping checks that the file is readable.
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

func recTable(entity string) string { return `"rec_` + entity + `"` }

func trashTable(entity string) string { return `"trash_` + entity + `"` }

func ts(t time.Time) string { return metadata.FormatDateTime(t) }

type scanner interface{ Scan(...any) error }

// maxReads bounds the readers' statement cache (statements name their
// entity's table).
const maxReads = 512

// readers is the readers' pool with its statement cache, as a rowQuerier.
type readers struct{ s *Store }

// QueryRowContext runs a one-row read on the readers' pool with a
// statement prepared once.
func (rd readers) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	s := rd.s
	if v, ok := s.reads.Load(q); ok {
		return v.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	if s.nreads.Load() < maxReads {
		if st, err := s.r.PrepareContext(ctx, q); err == nil {
			if v, loaded := s.reads.LoadOrStore(q, st); loaded {
				st.Close()
				st = v.(*sql.Stmt)
			} else {
				s.nreads.Add(1)
			}
			return st.QueryRowContext(ctx, args...)
		}
	}
	return s.r.QueryRowContext(ctx, q, args...)
}
