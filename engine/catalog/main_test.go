package catalog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/metadata"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

// backend opens a store for a test and says how to open it again over the
// same data, as a restarted process would.
type backend func(t *testing.T) (st store.Store, reopen func() store.Store)

// stores are the backends every store-related case runs on: an SQLite file
// and a MongoDB-wire server (FerretDB, or JIMU_TEST_MONGO_URI).
var stores = map[string]backend{
	"sqlite": func(t *testing.T) (store.Store, func() store.Store) {
		path := filepath.Join(t.TempDir(), "jimu.db")
		open := func() store.Store {
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		return open(), open
	},
	"mongo": func(t *testing.T) (store.Store, func() store.Store) {
		uri := mongotest.URI(t)
		open := func() store.Store {
			st, err := mongo.Open(context.Background(), uri)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		return open(), open
	},
}

// eachStore runs fn once per backend.
func eachStore(t *testing.T, fn func(t *testing.T, st store.Store, reopen func() store.Store)) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			st, reopen := open(t)
			fn(t, st, reopen)
		})
	}
}

// transactional reports whether a failed unit of work rolls back on st:
// SQLite always, MongoDB when the server has transactions (FerretDB v1
// has none: decision 5).
func transactional(st store.Store) bool {
	if m, ok := st.(*mongo.Store); ok {
		return m.Transactions()
	}
	return true
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// admin is who makes the changes in these tests.
var admin = &identity.Principal{UserID: "u-admin", IP: "192.0.2.1", Roles: []string{"admin"}, Admin: true, TokenKind: "session"}

func newCatalog(t *testing.T, st store.Store) *catalog.Catalog {
	t.Helper()
	c := catalog.New(st, quiet)
	if err := c.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

func num(v float64) *float64 { return &v }

// dealEntity is a fresh definition of the entity most cases use.
func dealEntity() *metadata.Entity {
	return &metadata.Entity{Name: "deal", Label: metadata.Text{"en": "Deal"}, Ownership: true, Fields: []*metadata.Field{
		{Name: "name", Type: "text", Required: true, MaxLength: 200},
		{Name: "amount", Type: "currency", Min: num(0), Indexed: true},
		{Name: "stage", Type: "select", Options: []metadata.Option{{Value: "lead"}, {Value: "won"}}},
		{Name: "code", Type: "text"},
	}}
}

func mustCreate(t *testing.T, c *catalog.Catalog, e *metadata.Entity) *catalog.Entity {
	t.Helper()
	ce, err := c.Create(t.Context(), admin, e)
	if err != nil {
		t.Fatalf("create %s: %v", e.Name, err)
	}
	return ce
}

// insert writes a record straight to the store, as the write pipeline
// would after validation.
func insert(t *testing.T, st store.Store, entity string, data map[string]any) *store.Record {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: "u-rep", UpdatedBy: "u-rep", Data: data}
	if err := st.Insert(t.Context(), entity, r, store.Sides{}); err != nil {
		t.Fatalf("insert into %s: %v", entity, err)
	}
	return r
}

func get(t *testing.T, st store.Store, entity, id string) *store.Record {
	t.Helper()
	r, err := st.Get(t.Context(), entity, id)
	if err != nil {
		t.Fatalf("get %s %s: %v", entity, id, err)
	}
	return r
}

// fieldErrors asserts err is a problem with the status and returns its
// field errors as path → code.
func fieldErrors(t *testing.T, err error, status int) map[string]string {
	t.Helper()
	var pe *problem.Error
	if !errors.As(err, &pe) {
		t.Fatalf("want a problem with status %d, got %v", status, err)
	}
	if pe.Status != status {
		t.Fatalf("status %d, want %d: %v", pe.Status, status, pe)
	}
	out := map[string]string{}
	for _, fe := range pe.Errors {
		out[fe.Field] = fe.Code
	}
	return out
}

func status(err error) int {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Status
	}
	return 0
}

// outbox follows a store's events the way the workflow runner does.
type outbox struct {
	t      *testing.T
	st     store.Store
	cursor store.Cursor
}

func follow(t *testing.T, st store.Store) *outbox {
	o := &outbox{t: t, st: st}
	o.next()
	return o
}

// next returns the events since the last call.
func (o *outbox) next() []*store.Event {
	o.t.Helper()
	var out []*store.Event
	for {
		evs, err := o.st.Events(o.t.Context(), o.cursor, 500)
		if err != nil {
			o.t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		o.cursor = evs[len(evs)-1].Cursor
	}
}

func types(evs []*store.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// audit returns the entries of one action on an entity, oldest first.
func audit(t *testing.T, st store.Store, entity, action string) []*store.AuditEntry {
	t.Helper()
	es, err := st.ListAudit(t.Context(), store.AuditQuery{Entity: entity, Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].ID < es[j].ID })
	return es
}
