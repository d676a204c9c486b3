// Package store defines what Jimu asks of a database: the Store interface,
// the query IR that filters and access rules are translated into, and the
// shared record, event and document types. Each backend (sqlite, mongo) is a
// package of its own and the only importer of its driver; storetest is the
// conformance suite every backend passes.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jimu-crm/jimu/metadata"
)

// Errors every backend returns (wrapped) so the engine can answer with the
// right status without knowing the database.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("version conflict")
	ErrExists   = errors.New("already exists")
)

// UniqueError is returned when a write would break a unique field.
type UniqueError struct{ Field string }

func (e *UniqueError) Error() string { return "duplicate value for unique field " + e.Field }

// Record is one record of an entity. Data holds the entity's fields in
// their stored form (see metadata.Kind); system fields are struct fields.
type Record struct {
	ID        string         `json:"id"`
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	CreatedBy string         `json:"created_by,omitempty"`
	UpdatedBy string         `json:"updated_by,omitempty"`
	Owner     string         `json:"owner,omitempty"`
	Data      map[string]any `json:"-"`
	// Unreadable lists stored values the backend could not turn into
	// anything the engine can serve (±Inf, NaN), left out of Data; nil
	// when there are none. Only older versions wrote such values.
	Unreadable Unreadable `json:"-"`
	// Stored is the row as the store read it, for that store's own use: the
	// SQLite store's Update of a record read at the version before writes
	// only the columns that changed. Copies share it; nil when the record
	// was not read from a store.
	Stored any `json:"-"`
}

// System returns the value of a system field by name.
func (r *Record) System(name string) (any, bool) {
	switch name {
	case "id":
		return r.ID, true
	case "version":
		return r.Version, true
	case "created_at":
		return metadata.FormatDateTime(r.CreatedAt), true
	case "updated_at":
		return metadata.FormatDateTime(r.UpdatedAt), true
	case "created_by":
		return r.CreatedBy, true
	case "updated_by":
		return r.UpdatedBy, true
	case "owner":
		return r.Owner, true
	}
	return nil, false
}

// Value returns a field's value, system or data.
func (r *Record) Value(name string) any {
	if v, ok := r.System(name); ok {
		return v
	}
	return r.Data[name]
}

// Event is an outbox entry: written in the same transaction as the change it
// describes, read later, in commit order, by whatever follows the outbox
// (the workflow runner). Events are internal: they carry the full data of
// the record, hidden fields included, and are never served to non-admins.
type Event struct {
	ID string `json:"id"`
	// Cursor is the event's place in the outbox, set by the store when it
	// reads the event; Events(ctx, e.Cursor, n) returns what follows it.
	Cursor   Cursor    `json:"cursor,omitempty"`
	Type     string    `json:"type"` // record.created, record.updated, record.deleted, meta.entity.updated, …
	Entity   string    `json:"entity,omitempty"`
	RecordID string    `json:"record_id,omitempty"`
	Version  int64     `json:"version,omitempty"` // the record's version after the change; a delete's is the version deleted
	Actor    string    `json:"actor,omitempty"`
	Origin   Origin    `json:"origin"`
	At       time.Time `json:"at"`
	// Changes are the changed data fields (and owner) with their old and
	// new values: every field of an update, those set by a create.
	Changes map[string]Change `json:"changes,omitempty"`
	// Record is the whole record as the API shows it, system fields
	// included: the new one for a create, the old one for a delete.
	Record  map[string]any `json:"record,omitempty"`
	Payload map[string]any `json:"payload,omitempty"` // anything else an event type needs
	// Bare is an event read without its body (Origin, Changes, Record,
	// Payload): EventsFor's want turned it down.
	Bare bool `json:"-"`
}

// Change is one field's old and new value; nil is "not set".
type Change struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// Origin says what made a change, so a follower can tell its own writes
// and stop loops: the user and API token of the request, and for writes a
// workflow run makes, the run and how deep in a chain of runs it is.
type Origin struct {
	User  string `json:"user,omitempty"`
	Token string `json:"token,omitempty"` // API token id
	Run   string `json:"run,omitempty"`   // workflow run id
	Depth int    `json:"depth,omitempty"` // 0: a person or an integration; 1: a run they triggered; …
}

// Cursor is a position in the outbox. It is opaque to callers: only the
// store that returned it can compare it. The zero Cursor is before the
// first event.
type Cursor string

// AuditEntry is one line of the append-only audit log, written in the same
// transaction as the change.
type AuditEntry struct {
	ID       string         `json:"id"`
	At       time.Time      `json:"at"`
	Actor    string         `json:"actor,omitempty"`
	IP       string         `json:"ip,omitempty"`
	Action   string         `json:"action"` // record.create, record.update, meta.entity.create, auth.login, …
	Entity   string         `json:"entity,omitempty"`
	RecordID string         `json:"record_id,omitempty"`
	Changes  map[string]any `json:"changes,omitempty"` // field → {"from":…, "to":…} or a before/after document
}

// Sides are what commit together with a record or document write.
type Sides struct {
	Audit *AuditEntry
	Event *Event
}

// Doc is a system document: an entity's metadata, a user, a token, a role.
// Key is an optional secondary key, unique within the kind (an e-mail, a
// token hash).
type Doc struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Key     string `json:"key,omitempty"`
	Version int64  `json:"version"`
	Data    []byte `json:"data"` // JSON
}

// Query is a find over one entity, already checked against its metadata.
type Query struct {
	Filter *Cond     // nil: all records
	Sort   []SortKey // the engine always ends it with id, so the order is total
	Fields []string  // data fields to return; nil: all
	Limit  int
}

// SortKey orders by one field. Nulls come first ascending and last
// descending on every store.
type SortKey struct {
	Field string
	Desc  bool
}

// Measure is one aggregate over a group.
type Measure struct {
	Op    string // count, sum, avg, min, max, count_distinct
	Field string // empty for count
}

// AggregateQuery groups the records matching Filter by the GroupBy fields
// (a date or datetime field may be bucketed: "close_date:month", one of
// Buckets, computed in TimeZone) and computes Measures. Rows come in
// OrderBy order, then by their keys ascending; Limit keeps the first.
type AggregateQuery struct {
	Filter   *Cond
	GroupBy  []string
	Measures []Measure
	TimeZone string // IANA name; "" is UTC
	OrderBy  []AggregateOrder
	Limit    int
}

// AggregateOrder orders groups by one key (Index into GroupBy) or one
// measure (Index into Measures). Nulls come first ascending and last
// descending, as in a list's sort.
type AggregateOrder struct {
	Measure bool
	Index   int
	Desc    bool
}

// CheckOrder refuses an order that names no key or measure.
func (q AggregateQuery) CheckOrder() error {
	for _, o := range q.OrderBy {
		n := len(q.GroupBy)
		if o.Measure {
			n = len(q.Measures)
		}
		if o.Index < 0 || o.Index >= n {
			return fmt.Errorf("aggregate order %d is out of range", o.Index)
		}
	}
	return nil
}

// AggregateRow is one group: its key values in GroupBy order, then one value
// per measure.
type AggregateRow struct {
	Keys   []any
	Values []any
}

// ManyAggregator is a store that answers several aggregates of one entity
// together (a dashboard's widgets) better than one by one: SQLite reads
// the rows once for those that share a filter.
type ManyAggregator interface {
	AggregateMany(ctx context.Context, entity string, qs []AggregateQuery) ([][]AggregateRow, []error)
}

// AggregateMany answers qs through the store's AggregateMany, or one
// Aggregate each where it has none (MongoDB): errs[i] is query i's error.
func AggregateMany(ctx context.Context, st Store, entity string, qs []AggregateQuery) (rows [][]AggregateRow, errs []error) {
	if m, ok := st.(ManyAggregator); ok {
		return m.AggregateMany(ctx, entity, qs)
	}
	rows, errs = make([][]AggregateRow, len(qs)), make([]error, len(qs))
	for i, q := range qs {
		rows[i], errs[i] = st.Aggregate(ctx, entity, q)
	}
	return rows, errs
}

// Store is the database behind Jimu.
type Store interface {
	// EnsureEntity creates or alters the entity's storage: its table or
	// collection, the trash for deleted records, and indexes for indexed and
	// unique fields (dropping those no longer wanted).
	EnsureEntity(ctx context.Context, e *metadata.Entity) error

	// Writes on their own: each commits with its sides.
	Writes
	Get(ctx context.Context, entity, id string) (*Record, error)
	Find(ctx context.Context, entity string, q Query) ([]*Record, error)
	// Count counts matching records up to limit; capped is true when there
	// are more.
	Count(ctx context.Context, entity string, filter *Cond, limit int64) (n int64, capped bool, err error)
	Aggregate(ctx context.Context, entity string, q AggregateQuery) ([]AggregateRow, error)
	// NextSequence returns the next value of a named counter (auto-number).
	NextSequence(ctx context.Context, name string) (int64, error)

	// Atomic runs fn as one unit of work: the writes fn makes through tx
	// commit together, or none does. fn may run more than once (MongoDB
	// retries a transaction that lost a conflict), so it must change
	// nothing but through tx. A write that failed fails the unit, even if
	// fn goes on. On a server without multi-document transactions
	// (FerretDB v1, a standalone mongod) the writes are made one after the
	// other and a failure stops the unit where it is (docs/decisions.md).
	Atomic(ctx context.Context, fn func(tx Tx) error) error

	// System documents.
	GetDoc(ctx context.Context, kind, id string) (*Doc, error)
	GetDocByKey(ctx context.Context, kind, key string) (*Doc, error)
	ListDocs(ctx context.Context, kind string) ([]*Doc, error)

	// AppendAudit writes an audit entry on its own (a login, a denial).
	AppendAudit(ctx context.Context, a *AuditEntry) error
	ListAudit(ctx context.Context, q AuditQuery) ([]*AuditEntry, error)

	Outbox
	Leases

	Ping(ctx context.Context) error
	Close() error
}

// Writes are the changes a store makes, each with its sides (audit entry,
// event): on their own, or inside a unit of work.
type Writes interface {
	Insert(ctx context.Context, entity string, r *Record, s Sides) error
	// Update replaces r's data when the stored version equals r.Version-1.
	Update(ctx context.Context, entity string, r *Record, s Sides) error
	// Delete moves the record to the entity's trash (recycle bin) when its
	// version matches (0: any version).
	Delete(ctx context.Context, entity, id string, version int64, s Sides) error
	// UnsetField removes a field's data from every record, live and
	// trashed (purge of a deleted field).
	UnsetField(ctx context.Context, entity, field string, s Sides) error
	// PutDoc inserts (d.Version == 1) or replaces the document whose stored
	// version is d.Version-1.
	PutDoc(ctx context.Context, d *Doc, s Sides) error
	DeleteDoc(ctx context.Context, kind, id string, s Sides) error
}

// Grouped is implemented by stores that can commit a small unit of work
// together with other writes instead of in a transaction of its own
// (SQLite's group commit): fn may then run more than once even there, and
// other writes of the same commit may come before it. A caller that makes
// many small units (a workflow step's effect and its mark) uses it when
// the store has it (GroupedAtomic), Atomic otherwise.
type Grouped interface {
	AtomicGrouped(ctx context.Context, fn func(tx Tx) error) error
}

// GroupedAtomic runs fn as a unit of work, grouped with other writes where
// the store can (Grouped).
func GroupedAtomic(ctx context.Context, s Store, fn func(tx Tx) error) error {
	if g, ok := s.(Grouped); ok {
		return g.AtomicGrouped(ctx, fn)
	}
	return s.Atomic(ctx, fn)
}

// Tx is a unit of work in progress (see Store.Atomic).
type Tx interface {
	Writes
	// Get reads a record as the unit sees it, its own writes included.
	Get(ctx context.Context, entity, id string) (*Record, error)
}

// Outbox is how a follower (the workflow runner) reads events: in commit
// order, from a cursor it keeps as a checkpoint, on one node or several.
type Outbox interface {
	// Events returns up to limit events after the cursor, in the order
	// their writes committed. An event committed later never appears
	// before one already returned: a follower that saves the last
	// event's Cursor and asks again misses nothing.
	Events(ctx context.Context, after Cursor, limit int) ([]*Event, error)
	// EventsFor is Events, but only the events want accepts (by type and
	// entity) carry their body; the others come Bare, with their columns
	// and cursor. Decoding bodies was most of what following the outbox
	// cost a runner that no rule gives work (nil want: every body).
	EventsFor(ctx context.Context, after Cursor, limit int, want func(typ, entity string) bool) ([]*Event, error)
	// SaveCheckpoint records how far a consumer has processed the outbox;
	// a consumer with a checkpoint holds back pruning of what follows it.
	SaveCheckpoint(ctx context.Context, consumer string, c Cursor) error
	// Checkpoint returns a consumer's saved cursor (zero when it has none).
	Checkpoint(ctx context.Context, consumer string) (Cursor, error)
	// DeleteCheckpoint forgets a consumer, so it no longer holds back
	// pruning.
	DeleteCheckpoint(ctx context.Context, consumer string) error
	// PruneEvents takes out of the outbox up to limit events that
	// happened before the given time and that every consumer with a
	// checkpoint has passed, oldest first, and reports how many it took.
	// The newest event is always kept (the sequence goes on from it). A
	// store that keeps a change's audit entry as its event (SQLite) keeps
	// that entry: the event only leaves the outbox.
	PruneEvents(ctx context.Context, before time.Time, limit int) (int, error)
}

// Lease is a named, time-limited claim (a job, a schedule) that several
// nodes on one store compete for.
type Lease struct {
	Name   string
	Holder string // empty: free
	Until  time.Time
	// Token grows by one each time a holder takes the lease afresh (not
	// when it renews): work done under a lease can be fenced with it.
	Token int64
}

// Leases are the store's lease primitives. Time is always passed in (the
// node's clock), so expiry does not depend on the database's clock, and
// tests drive it without waiting.
type Leases interface {
	// ClaimLease takes the named lease for holder until now+ttl when it
	// is free, released or expired at now; a holder claiming a lease it
	// still holds extends it. ok is false when someone else holds it, and
	// the lease returned says who, until when.
	ClaimLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (l Lease, ok bool, err error)
	// RenewLease extends holder's lease to now+ttl. It is false when the
	// lease is not holder's at now: expired, released or taken over.
	RenewLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease frees holder's lease; releasing a lease one does not
	// hold changes nothing.
	ReleaseLease(ctx context.Context, name, holder string) error
	// GetLease returns the lease's state (Holder empty when free).
	GetLease(ctx context.Context, name string) (Lease, error)
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Entity   string
	RecordID string
	Actor    string
	Action   string
	Before   string // entry id: only older entries
	Limit    int
}
