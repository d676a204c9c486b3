package mongo_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/storetest"
	"github.com/jimu-crm/jimu/metadata"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

func open(t *testing.T) *mongo.Store {
	t.Helper()
	uri := mongotest.URI(t) // may build FerretDB first: take the time after
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongo.Open(ctx, uri)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	var caps storetest.Capabilities
	probe := open(t)
	if probe.FerretDB() {
		// FerretDB reads every document of a collection for each find:
		// 16 writers × 25 records (800 events) keep the test short.
		caps.FollowWrites = 25
	}
	if !probe.Transactions() {
		caps.NoTransactions = "this server has no multi-document transactions (FerretDB v1 or a standalone mongod): a record, its audit entry and its event are written one after the other"
	}
	caps.Reopen = func(t *testing.T, s store.Store) store.Store { return reopen(t, s.(*mongo.Store)) }
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) }, caps)
}

// reopen connects a second client to s's database, as another node would.
func reopen(t *testing.T, s *mongo.Store) *mongo.Store {
	t.Helper()
	o, err := mongo.Open(bg, s.URI())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// --- focused tests, beyond the conformance suite ---

var bg = context.Background()

// env opens a store on a fresh database and also returns a raw handle on
// that database, to look at what was stored.
func env(t *testing.T) (*mongo.Store, *driver.Database) {
	t.Helper()
	uri := mongotest.URI(t)
	s, err := mongo.Open(bg, uri)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := driver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(bg) })
	cs, _ := url.Parse(uri)
	return s, c.Database(strings.TrimPrefix(cs.Path, "/"))
}

func entity() *metadata.Entity {
	e := storetest.Deal()
	e.Fields = append(e.Fields,
		&metadata.Field{Name: "extra", Type: "json"},
		&metadata.Field{Name: "seen_at", Type: "datetime"},
		&metadata.Field{Name: "deleted_at", Type: "text"}, // a data field named like trash metadata
	)
	return e
}

func setup(t *testing.T) (*mongo.Store, *driver.Database) {
	t.Helper()
	s, db := env(t)
	if err := s.EnsureEntity(bg, entity()); err != nil {
		t.Fatalf("EnsureEntity: %v", err)
	}
	return s, db
}

func newRec(data map[string]any) *store.Record {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: "u1", Owner: "u1", Data: data}
}

func insert(t *testing.T, s *mongo.Store, data map[string]any) *store.Record {
	t.Helper()
	r := newRec(data)
	if err := s.Insert(bg, "deal", r, store.Sides{}); err != nil {
		t.Fatalf("Insert %v: %v", data, err)
	}
	return r
}

func rawDoc(t *testing.T, db *driver.Database, coll, id string) bson.M {
	t.Helper()
	var m bson.M
	if err := db.Collection(coll).FindOne(bg, bson.D{{Key: "_id", Value: id}}).Decode(&m); err != nil {
		t.Fatalf("raw %s %s: %v", coll, id, err)
	}
	return m
}

func TestStoredForm(t *testing.T) {
	s, db := setup(t)
	r := insert(t, s, map[string]any{
		"name": "Acme", "amount": nil, "qty": int64(2), "tags": []any{"a"},
		"extra": map[string]any{"$where": "sleep(1000)", "a.b": map[string]any{"n": 1.5}, "list": []any{int64(1), "x"}},
	})
	m := rawDoc(t, db, "rec_deal", r.ID)
	if _, ok := m["amount"]; ok {
		t.Fatalf("nil stored: %v", m)
	}
	if m["version"] != int64(1) || m["created_at"] != metadata.FormatDateTime(r.CreatedAt) || m["owner"] != "u1" {
		t.Fatalf("system fields: %v", m)
	}
	if _, ok := m["extra"].(bson.Binary); !ok {
		t.Fatalf("object field stored as %T, want JSON in a binary", m["extra"])
	}
	got, err := s.Get(bg, "deal", r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"$where": "sleep(1000)", "a.b": map[string]any{"n": 1.5}, "list": []any{int64(1), "x"}}
	if !reflect.DeepEqual(got.Data["extra"], want) {
		t.Fatalf("object round trip: %#v", got.Data["extra"])
	}
	if !got.CreatedAt.Equal(r.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("created_at: %v", got.CreatedAt)
	}
}

func TestUpdateKeepsCreation(t *testing.T) {
	s, _ := setup(t)
	r := insert(t, s, map[string]any{"name": "A"})
	// A caller that did not carry the creation fields over keeps the
	// stored ones.
	u := &store.Record{ID: r.ID, Version: 2, UpdatedAt: time.Now(), UpdatedBy: "u2", Owner: "u3", Data: map[string]any{"name": "B"}}
	if err := s.Update(bg, "deal", u, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(bg, "deal", r.ID)
	if got.CreatedBy != "u1" || !got.CreatedAt.Equal(r.CreatedAt) || got.Owner != "u3" || got.UpdatedBy != "u2" || got.Version != 2 {
		t.Fatalf("after update: %+v", got)
	}
}

func TestConcurrentUpdatesOneWins(t *testing.T) {
	s, _ := setup(t)
	if s.FerretDB() {
		t.Skip("FerretDB v1 reads and rewrites a document in two steps, so two updates with the same expected version can both succeed; MongoDB matches the version atomically")
	}
	r := insert(t, s, map[string]any{"name": "A"})
	var wins, conflicts atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := *r
			u.Version = 2
			u.Data = map[string]any{"name": fmt.Sprint(i)}
			switch err := s.Update(bg, "deal", &u, store.Sides{}); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 7 {
		t.Fatalf("wins %d conflicts %d", wins.Load(), conflicts.Load())
	}
}

func TestDeleteToTrash(t *testing.T) {
	s, db := setup(t)
	r := insert(t, s, map[string]any{"name": "A", "deleted_at": "data, not trash metadata"})
	sd := store.Sides{Audit: &store.AuditEntry{ID: store.NewID(), At: time.Now(), Actor: "u7", Action: "record.delete", Entity: "deal", RecordID: r.ID}}
	if err := s.Delete(bg, "deal", r.ID, 0, sd); err != nil {
		t.Fatal(err)
	}
	m := rawDoc(t, db, "trash_deal", r.ID)
	if m["name"] != "A" || m["deleted_at"] != "data, not trash metadata" || m["_deleted_by"] != "u7" || m["_deleted_at"] == nil {
		t.Fatalf("trash document: %v", m)
	}
	if n, _ := db.Collection("rec_deal").CountDocuments(bg, bson.D{}); n != 0 {
		t.Fatalf("%d records left", n)
	}
	// The same id inserted and deleted again replaces the trash copy.
	r2 := newRec(map[string]any{"name": "B"})
	r2.ID = r.ID
	if err := s.Insert(bg, "deal", r2, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(bg, "deal", r.ID, 1, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if m := rawDoc(t, db, "trash_deal", r.ID); m["name"] != "B" {
		t.Fatalf("trash copy not replaced: %v", m)
	}
	if err := s.UnsetField(bg, "deal", "name", store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if m := rawDoc(t, db, "trash_deal", r.ID); m["name"] != nil {
		t.Fatalf("UnsetField left the trash alone: %v", m)
	}
}

func names(rs []*store.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i], _ = r.Data["name"].(string)
	}
	sort.Strings(out)
	return out
}

func cond(op store.Op, f string, v any) *store.Cond {
	return &store.Cond{Op: op, Field: f, Kind: metadata.KindString, Value: v}
}

// TestFilterEdges covers what the conformance suite does not: nulls inside
// lists, anchors and newlines, regex and operator look-alikes, folding.
func TestFilterEdges(t *testing.T) {
	s, _ := setup(t)
	for _, d := range []map[string]any{
		{"name": "a.c", "stage": "won"},
		{"name": "abc\n", "stage": "lost"},
		{"name": "$ne", "email": "x@y"},
		{"name": "line\nabc"},
		{"name": "nul\x00byte", "stage": "lead"},
	} {
		insert(t, s, d)
	}
	not := func(c *store.Cond) *store.Cond { return &store.Cond{Op: store.OpNot, Args: []*store.Cond{c}} }
	cases := []struct {
		name string
		c    *store.Cond
		want []string
	}{
		{"dot is literal", cond(store.OpContains, "name", "a.c"), []string{"a.c"}},
		{"ends with is not fooled by a final newline", cond(store.OpEndsWith, "name", "abc"), []string{"line\nabc"}},
		{"starts with is not multi-line", cond(store.OpStartsWith, "name", "abc"), []string{"abc\n"}},
		{"dollar is a value", cond(store.OpEq, "name", "$ne"), []string{"$ne"}},
		{"NUL in a pattern", cond(store.OpContains, "name", "\x00"), []string{"nul\x00byte"}},
		{"contains empty is not null", cond(store.OpContains, "email", ""), []string{"$ne"}},
		{"in ignores null", &store.Cond{Op: store.OpIn, Field: "stage", Values: []any{"won", nil}}, []string{"a.c"}},
		{"not in with null is only null", &store.Cond{Op: store.OpNotIn, Field: "stage", Values: []any{"won", nil}}, []string{"$ne", "line\nabc"}},
		{"ne null is only null", cond(store.OpNe, "stage", nil), []string{"$ne", "line\nabc"}},
		{"eq null is nothing", cond(store.OpEq, "stage", nil), nil},
		{"not ne is eq without nulls", not(cond(store.OpNe, "stage", "won")), []string{"a.c"}},
		{"not of lt includes nulls", not(cond(store.OpLt, "stage", "lz")), []string{"$ne", "a.c", "line\nabc"}},
		{"not false is all", not(&store.Cond{Op: store.OpFalse}), []string{"$ne", "a.c", "abc\n", "line\nabc", "nul\x00byte"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Find(bg, "deal", store.Query{Filter: tc.c, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			if g := names(got); !reflect.DeepEqual(g, tc.want) && len(g)+len(tc.want) > 0 {
				t.Fatalf("%s: got %q want %q", tc.c, g, tc.want)
			}
		})
	}
	if _, err := s.Find(bg, "deal", store.Query{Filter: cond(store.OpEq, "name", map[string]any{"$gt": ""})}); err == nil {
		t.Fatal("a map value was accepted")
	}
}

// TestKeysetPaging pages through records sorted by a nullable field and id
// the way the engine does: each page asks for what sorts after the last
// row, nulls first.
func TestKeysetPaging(t *testing.T) {
	s, _ := setup(t)
	var all []*store.Record
	for i := range 23 {
		d := map[string]any{"name": fmt.Sprintf("r%02d", i)}
		if i%4 != 0 {
			d["amount"] = float64(i % 5) // duplicates, so id breaks ties
		}
		all = append(all, insert(t, s, d))
	}
	sortKeys := []store.SortKey{{Field: "amount"}, {Field: "id"}}
	full, err := s.Find(bg, "deal", store.Query{Sort: sortKeys, Limit: 100})
	if err != nil || len(full) != len(all) {
		t.Fatalf("full: %d %v", len(full), err)
	}
	for i := 1; i < len(full); i++ {
		a, b := full[i-1], full[i]
		av, aok := a.Data["amount"].(float64)
		bv, bok := b.Data["amount"].(float64)
		if (aok && !bok) || (aok && bok && av > bv) || (aok == bok && av == bv && a.ID > b.ID) {
			t.Fatalf("not sorted nulls first at %d: %v then %v", i, a.Data, b.Data)
		}
	}
	var paged []*store.Record
	var after *store.Record
	for {
		q := store.Query{Sort: sortKeys, Limit: 5}
		if after != nil {
			idGt := &store.Cond{Op: store.OpGt, Field: "id", Kind: metadata.KindString, Value: after.ID}
			if v, ok := after.Data["amount"]; ok {
				q.Filter = store.Or(
					&store.Cond{Op: store.OpGt, Field: "amount", Kind: metadata.KindNumber, Value: v},
					store.And(&store.Cond{Op: store.OpEq, Field: "amount", Kind: metadata.KindNumber, Value: v}, idGt))
			} else {
				q.Filter = store.Or(
					&store.Cond{Op: store.OpNotNull, Field: "amount"},
					store.And(&store.Cond{Op: store.OpIsNull, Field: "amount"}, idGt))
			}
		}
		page, err := s.Find(bg, "deal", q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page...)
		if len(page) < 5 {
			break
		}
		after = page[len(page)-1]
	}
	if len(paged) != len(full) {
		t.Fatalf("paged %d of %d", len(paged), len(full))
	}
	for i := range full {
		if paged[i].ID != full[i].ID {
			t.Fatalf("row %d: paged %s, full %s", i, paged[i].Data["name"], full[i].Data["name"])
		}
	}
	// Descending puts nulls last.
	desc, _ := s.Find(bg, "deal", store.Query{Sort: []store.SortKey{{Field: "amount", Desc: true}, {Field: "id"}}, Limit: 100})
	if _, ok := desc[len(desc)-1].Data["amount"]; ok {
		t.Fatalf("descending: last row has an amount: %v", desc[len(desc)-1].Data)
	}
}

func TestCountCap(t *testing.T) {
	s, _ := setup(t)
	for i := range 12 {
		insert(t, s, map[string]any{"name": fmt.Sprint(i), "qty": int64(i)})
	}
	for _, tc := range []struct {
		limit  int64
		n      int64
		capped bool
	}{{100, 12, false}, {12, 12, false}, {11, 11, true}, {5, 5, true}, {0, 0, true}} {
		n, capped, err := s.Count(bg, "deal", nil, tc.limit)
		if err != nil || n != tc.n || capped != tc.capped {
			t.Errorf("limit %d: got %d %v %v, want %d %v", tc.limit, n, capped, err, tc.n, tc.capped)
		}
	}
	n, capped, err := s.Count(bg, "deal", &store.Cond{Op: store.OpGe, Field: "qty", Kind: metadata.KindInteger, Value: int64(10)}, 5)
	if err != nil || n != 2 || capped {
		t.Fatalf("filtered: %d %v %v", n, capped, err)
	}
}

func TestAggregateMore(t *testing.T) {
	s, _ := setup(t)
	for _, d := range []map[string]any{
		{"name": "a", "seen_at": "2025-12-31T23:59:59.000Z", "stage": "won", "amount": 10.0, "qty": int64(1)},
		{"name": "b", "seen_at": "2026-01-01T00:00:00.000Z", "stage": "won", "amount": 20.0, "qty": int64(2)},
		{"name": "c", "seen_at": "2026-01-01T08:00:00.000Z", "stage": "lost", "qty": int64(3)},
		{"name": "d", "stage": "lost", "amount": 5.0},
	} {
		insert(t, s, d)
	}
	rows, err := s.Aggregate(bg, "deal", store.AggregateQuery{
		GroupBy:  []string{"seen_at:day", "stage"},
		Measures: []store.Measure{{Op: "count"}, {Op: "min", Field: "name"}, {Op: "max", Field: "amount"}, {Op: "sum", Field: "qty"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%v/%v:%v,%v,%v,%v", r.Keys[0], r.Keys[1], r.Values[0], r.Values[1], r.Values[2], r.Values[3]))
	}
	want := []string{
		"<nil>/lost:1,d,5,<nil>", // a sum over no numbers is null, as on SQLite
		"2025-12-31/won:1,a,10,1",
		"2026-01-01/lost:1,c,<nil>,3",
		"2026-01-01/won:1,b,20,2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rows:\ngot  %q\nwant %q", got, want)
	}
	rows, err = s.Aggregate(bg, "deal", store.AggregateQuery{GroupBy: []string{"seen_at:year"}, Measures: []store.Measure{{Op: "count"}}, Limit: 2})
	if err != nil || len(rows) != 2 || rows[0].Keys[0] != nil || rows[1].Keys[0] != "2025" {
		t.Fatalf("year buckets with limit: %+v %v", rows, err)
	}
	rows, err = s.Aggregate(bg, "deal", store.AggregateQuery{
		Filter:   cond(store.OpEq, "stage", "nobody"),
		Measures: []store.Measure{{Op: "count"}, {Op: "count_distinct", Field: "stage"}, {Op: "avg", Field: "amount"}},
	})
	if err != nil || len(rows) != 1 || rows[0].Values[0] != int64(0) || rows[0].Values[1] != int64(0) || rows[0].Values[2] != nil {
		t.Fatalf("empty ungrouped: %+v %v", rows, err)
	}
	if _, err := s.Aggregate(bg, "deal", store.AggregateQuery{GroupBy: []string{"seen_at:fortnight"}}); err == nil {
		t.Fatal("unknown bucket accepted")
	}
}

func indexSpecs(t *testing.T, db *driver.Database, coll string) map[string]bson.M {
	t.Helper()
	cur, err := db.Collection(coll).Indexes().List(bg)
	if err != nil {
		t.Fatal(err)
	}
	var specs []bson.M
	if err := cur.All(bg, &specs); err != nil {
		t.Fatal(err)
	}
	out := map[string]bson.M{}
	for _, s := range specs {
		out[s["name"].(string)] = s
	}
	return out
}

func TestIndexes(t *testing.T) {
	s, db := setup(t)
	ix := indexSpecs(t, db, "rec_deal")
	for _, n := range []string{"ix_amount", "ix_stage", "ux_email", "sx_owner"} {
		if ix[n] == nil {
			t.Fatalf("index %s missing: %v", n, ix)
		}
	}
	if ix["ux_email"]["unique"] != true {
		t.Fatalf("ux_email not unique: %v", ix["ux_email"])
	}
	if !s.FerretDB() {
		if ix["ux_email"]["partialFilterExpression"] == nil {
			t.Fatalf("ux_email is not partial: %v", ix["ux_email"])
		}
	}
	if tr := indexSpecs(t, db, "trash_deal"); len(tr) != 1 {
		t.Fatalf("the trash has indexes beyond _id: %v", tr)
	}
	// Indexed → unique → dropped, and running twice changes nothing.
	e := entity()
	e.Field("amount").Indexed = false
	e.Field("amount").Unique = true
	e.Field("stage").Indexed = false
	for range 2 {
		if err := s.EnsureEntity(bg, e); err != nil {
			t.Fatal(err)
		}
	}
	ix = indexSpecs(t, db, "rec_deal")
	if ix["ix_amount"] != nil || ix["ux_amount"] == nil || ix["ix_stage"] != nil {
		t.Fatalf("indexes after change: %v", ix)
	}
	insert(t, s, map[string]any{"name": "a", "amount": 1.0})
	err := s.Insert(bg, "deal", newRec(map[string]any{"name": "b", "amount": 1.0}), store.Sides{})
	var ue *store.UniqueError
	if !errors.As(err, &ue) || ue.Field != "amount" {
		t.Fatalf("got %v, want UniqueError on amount", err)
	}
}

func TestDocsKeys(t *testing.T) {
	s, _ := env(t)
	a := &store.Doc{Kind: "user", ID: "a", Key: "a@x", Version: 1, Data: []byte(`{"n":1}`)}
	b := &store.Doc{Kind: "user", ID: "b", Version: 1, Data: []byte(`{}`)}
	c := &store.Doc{Kind: "user", ID: "c", Version: 1, Data: []byte(`{}`)}
	for _, d := range []*store.Doc{a, b, c} {
		if err := s.PutDoc(bg, d, store.Sides{}); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
	}
	// Taking another document's key on update is refused.
	b.Version, b.Key = 2, "a@x"
	if err := s.PutDoc(bg, b, store.Sides{}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("key taken on update: got %v, want ErrExists", err)
	}
	b.Key = "b@x"
	if err := s.PutDoc(bg, b, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	// Dropping a key frees it.
	a.Version, a.Key = 2, ""
	if err := s.PutDoc(bg, a, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDocByKey(bg, "user", "a@x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old key: %v", err)
	}
	if err := s.PutDoc(bg, &store.Doc{Kind: "user", ID: "zz", Version: 5, Data: []byte(`{}`)}, store.Sides{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing doc: %v", err)
	}
	if err := s.DeleteDoc(bg, "user", "zz", store.Sides{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete of a missing doc: %v", err)
	}
	list, err := s.ListDocs(bg, "user")
	if err != nil || len(list) != 3 || list[0].ID != "a" || list[2].ID != "c" || string(list[0].Data) != `{"n":1}` {
		t.Fatalf("list: %+v %v", list, err)
	}
}

func TestAuditAndEvents(t *testing.T) {
	s, _ := env(t)
	var ids []string
	for i := range 6 {
		id := store.NewID()
		ids = append(ids, id)
		actor := "u1"
		if i%2 == 1 {
			actor = "u2"
		}
		if err := s.AppendAudit(bg, &store.AuditEntry{ID: id, At: time.Now(), Actor: actor, Action: "auth.login"}); err != nil {
			t.Fatal(err)
		}
		ev := &store.Event{ID: id, Type: "t", At: time.Now(), Payload: map[string]any{"$set": map[string]any{"a.b": 1.0}}}
		if err := s.Insert(bg, "deal", newRec(nil), store.Sides{Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendAudit(bg, &store.AuditEntry{ID: ids[0], Action: "x"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate audit id: %v", err)
	}
	got, err := s.ListAudit(bg, store.AuditQuery{Actor: "u2", Limit: 2})
	if err != nil || len(got) != 2 || got[0].ID != ids[5] || got[1].ID != ids[3] {
		t.Fatalf("by actor, newest first, limited: %+v %v", got, err)
	}
	got, _ = s.ListAudit(bg, store.AuditQuery{Actor: "u2", Before: ids[3]})
	if len(got) != 1 || got[0].ID != ids[1] {
		t.Fatalf("before: %+v", got)
	}
	all, _ := s.Events(bg, "", 10)
	if len(all) != 6 || all[1].ID != ids[1] {
		t.Fatalf("events: %+v", all)
	}
	evs, err := s.Events(bg, all[1].Cursor, 3)
	if err != nil || len(evs) != 3 || evs[0].ID != ids[2] || evs[2].ID != ids[4] {
		t.Fatalf("events after, limited: %+v %v", evs, err)
	}
	if p, ok := evs[0].Payload["$set"].(map[string]any); !ok || p["a.b"] != int64(1) { // integral JSON numbers come back as int64
		t.Fatalf("payload: %#v", evs[0].Payload)
	}
}

func TestSequenceConcurrent(t *testing.T) {
	s, _ := env(t)
	if s.FerretDB() {
		t.Skip("FerretDB v1 runs findAndModify as a read and a write, so concurrent $inc calls can return the same value; MongoDB applies $inc atomically")
	}
	const n = 16
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.NextSequence(bg, "lead")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[v] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := int64(1); i <= n; i++ {
		if !seen[i] {
			t.Fatalf("values %v: %d missing", seen, i)
		}
	}
}

func TestTransactionRollsBack(t *testing.T) {
	s, db := setup(t)
	if !s.Transactions() {
		t.Skip("no multi-document transactions on this server (FerretDB v1 or standalone mongod): record, audit entry and event are written in sequence")
	}
	taken := store.NewID()
	if err := s.AppendAudit(bg, &store.AuditEntry{ID: taken, Action: "x"}); err != nil {
		t.Fatal(err)
	}
	r := newRec(map[string]any{"name": "A"})
	err := s.Insert(bg, "deal", r, store.Sides{
		Event: &store.Event{ID: store.NewID(), Type: "record.created"},
		Audit: &store.AuditEntry{ID: taken, Action: "record.create"},
	})
	if err == nil {
		t.Fatal("insert with a taken audit id succeeded")
	}
	if n, _ := db.Collection("rec_deal").CountDocuments(bg, bson.D{}); n != 0 {
		t.Fatal("the record of a failed transaction is there")
	}
	if n, _ := db.Collection("events").CountDocuments(bg, bson.D{}); n != 0 {
		t.Fatal("the event of a failed transaction is there")
	}
}

func TestOpenBadURI(t *testing.T) {
	if _, err := mongo.Open(bg, "postgres://x"); err == nil {
		t.Fatal("a non-MongoDB URI was accepted")
	}
}
