package access_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/metadata"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

// stores are the backends every store-related case runs on: an SQLite file
// and a MongoDB-wire server (FerretDB, or JIMU_TEST_MONGO_URI).
var stores = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	},
	"mongo": func(t *testing.T) store.Store {
		st, err := mongo.Open(context.Background(), mongotest.URI(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	},
}

func eachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { fn(t, open(t)) })
	}
}

// logBuffer is a log a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is the access module over a real store: a catalog with a deal
// entity (records have owners) and a note entity (they do not), the roles
// and the team directory.
type fixture struct {
	st     store.Store
	cat    *catalog.Catalog
	roles  *access.Roles
	auth   *auth.Service
	dir    *access.Directory
	policy *access.Policy
	log    *logBuffer
	deal   *catalog.Entity
	note   *catalog.Entity
}

var admin = &identity.Principal{UserID: "u-admin", IP: "192.0.2.1", Roles: []string{"admin"}, Admin: true}

func newFixture(t *testing.T, st store.Store) *fixture {
	t.Helper()
	ctx := t.Context()
	lb := &logBuffer{}
	log := slog.New(slog.NewTextHandler(lb, nil))
	f := &fixture{st: st, cat: catalog.New(st, log), log: lb}
	if err := f.cat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	var err error
	f.deal, err = f.cat.Create(ctx, admin, &metadata.Entity{Name: "deal", Ownership: true, Fields: []*metadata.Field{
		{Name: "name", Type: "text"},
		{Name: "amount", Type: "currency"},
		{Name: "margin", Type: "number"},
		{Name: "region", Type: "text"},
		{Name: "stage", Type: "select", Options: []metadata.Option{{Value: "lead"}, {Value: "won"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.note, err = f.cat.Create(ctx, admin, &metadata.Entity{Name: "note", Fields: []*metadata.Field{{Name: "title", Type: "text"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.roles = access.NewRoles(st, f.cat)
	if err := f.roles.Load(ctx); err != nil {
		t.Fatal(err)
	}
	f.auth = auth.New(st, auth.Options{AdminRoles: f.roles.AdminRoles, Logger: log})
	f.dir = access.NewDirectory(st, f.auth)
	f.policy = &access.Policy{Roles: f.roles, Dir: f.dir, St: st, Log: log}
	return f
}

// put saves a role and fails the test if it is refused.
func (f *fixture) put(t *testing.T, name string, r *access.Role) *access.Role {
	t.Helper()
	out, err := f.roles.Put(t.Context(), admin, name, r)
	if err != nil {
		t.Fatalf("put role %s: %v", name, err)
	}
	return out
}

func expr(src string) access.Rule { return access.Rule{Allow: true, Expr: src} }

var yes = access.Rule{Allow: true}

// testRoles are the custom roles the policy tests combine.
func (f *fixture) testRoles(t *testing.T) {
	t.Helper()
	for name, r := range map[string]*access.Role{
		"nothing":     {Entities: map[string]*access.Grant{}},
		"east_reader": {Entities: map[string]*access.Grant{"deal": {Read: expr("region == 'east'")}}},
		"own": {Entities: map[string]*access.Grant{"deal": {Create: true, Read: expr("owner == user.id"),
			Update: expr("owner == user.id"), Delete: expr("owner == user.id")}}},
		"regional": {Entities: map[string]*access.Grant{"deal": {Read: expr("region == user.region")}}},
		"mixed": {Entities: map[string]*access.Grant{"deal": {Read: expr("region == 'east'")},
			"*": {Read: yes, Update: yes}}},
		"rep_hide": {Entities: map[string]*access.Grant{"deal": {Create: true, Read: yes, Update: yes,
			Fields: map[string]string{"margin": access.Hidden, "amount": access.ReadOnlyPerm}}}},
		"viewer":        {Entities: map[string]*access.Grant{"deal": {Read: yes}}},
		"viewer_hide":   {Entities: map[string]*access.Grant{"deal": {Read: yes, Fields: map[string]string{"margin": access.Hidden}}}},
		"writer":        {Entities: map[string]*access.Grant{"deal": {Update: yes}}},
		"hider_no_read": {Entities: map[string]*access.Grant{"deal": {Create: true, Fields: map[string]string{"margin": access.Hidden}}}},
		"super":         {Admin: true},
		"exporter":      {Entities: map[string]*access.Grant{"deal": {Read: yes, Export: true}, "*": {Import: true}}},
		"strict":        {Require2FA: true, Entities: map[string]*access.Grant{"deal": {Read: yes}}},
	} {
		f.put(t, name, r)
	}
}

// user is a principal holding roles, with the attributes rules read.
func user(id string, roles ...string) *identity.Principal {
	return &identity.Principal{UserID: id, IP: "198.51.100.7", Roles: roles}
}

// insert writes a record straight to the store.
func insert(t *testing.T, st store.Store, entity, owner string, data map[string]any) string {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, Owner: owner, Data: data}
	if err := st.Insert(t.Context(), entity, r, store.Sides{}); err != nil {
		t.Fatalf("insert into %s: %v", entity, err)
	}
	return r.ID
}

// selected runs a condition on the store and returns the names of the
// records it selects, sorted.
func selected(t *testing.T, st store.Store, entity string, c *store.Cond) []string {
	t.Helper()
	rs, err := st.Find(t.Context(), entity, store.Query{Filter: c, Limit: 1000})
	if err != nil {
		t.Fatalf("find with %v: %v", c, err)
	}
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Data["name"].(string))
	}
	sort.Strings(out)
	return out
}

func denials(t *testing.T, st store.Store, actor string) []*store.AuditEntry {
	t.Helper()
	es, err := st.ListAudit(t.Context(), store.AuditQuery{Action: "access.denied", Actor: actor, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return es
}
