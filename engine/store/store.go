// Package store defines what Jimu asks of a database: the Store interface,
// the query IR that filters and access rules are translated into, and the
// shared record, event and document types. Each backend (sqlite, mongo) is a
// package of its own and the only importer of its driver; storetest is the
// conformance suite every backend passes.
package store

import (
	"context"
	"errors"
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
// describes, read later by the workflow runner.
type Event struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"` // record.created, record.updated, record.deleted, meta.entity.updated, …
	Entity   string         `json:"entity,omitempty"`
	RecordID string         `json:"record_id,omitempty"`
	Actor    string         `json:"actor,omitempty"`
	At       time.Time      `json:"at"`
	Payload  map[string]any `json:"payload,omitempty"`
}

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
// (a date field may be bucketed: "close_date:month") and computes Measures.
type AggregateQuery struct {
	Filter   *Cond
	GroupBy  []string
	Measures []Measure
	Limit    int
}

// AggregateRow is one group: its key values in GroupBy order, then one value
// per measure.
type AggregateRow struct {
	Keys   []any
	Values []any
}

// Store is the database behind Jimu.
type Store interface {
	// EnsureEntity creates or alters the entity's storage: its table or
	// collection, the trash for deleted records, and indexes for indexed and
	// unique fields (dropping those no longer wanted).
	EnsureEntity(ctx context.Context, e *metadata.Entity) error

	Insert(ctx context.Context, entity string, r *Record, s Sides) error
	Get(ctx context.Context, entity, id string) (*Record, error)
	// Update replaces r's data when the stored version equals r.Version-1.
	Update(ctx context.Context, entity string, r *Record, s Sides) error
	// Delete moves the record to the entity's trash (recycle bin) when its
	// version matches (0: any version).
	Delete(ctx context.Context, entity, id string, version int64, s Sides) error
	Find(ctx context.Context, entity string, q Query) ([]*Record, error)
	// Count counts matching records up to limit; capped is true when there
	// are more.
	Count(ctx context.Context, entity string, filter *Cond, limit int64) (n int64, capped bool, err error)
	Aggregate(ctx context.Context, entity string, q AggregateQuery) ([]AggregateRow, error)
	// UnsetField removes a field's data from every record (purge of a
	// deleted field).
	UnsetField(ctx context.Context, entity, field string) error
	// NextSequence returns the next value of a named counter (auto-number).
	NextSequence(ctx context.Context, name string) (int64, error)

	// System documents.
	GetDoc(ctx context.Context, kind, id string) (*Doc, error)
	GetDocByKey(ctx context.Context, kind, key string) (*Doc, error)
	ListDocs(ctx context.Context, kind string) ([]*Doc, error)
	// PutDoc inserts (d.Version == 1) or replaces the document whose stored
	// version is d.Version-1.
	PutDoc(ctx context.Context, d *Doc, s Sides) error
	DeleteDoc(ctx context.Context, kind, id string, s Sides) error

	// AppendAudit writes an audit entry on its own (a login, a denial).
	AppendAudit(ctx context.Context, a *AuditEntry) error
	ListAudit(ctx context.Context, q AuditQuery) ([]*AuditEntry, error)
	// Events returns outbox events after the given event id, oldest first.
	Events(ctx context.Context, after string, limit int) ([]*Event, error)

	Ping(ctx context.Context) error
	Close() error
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
