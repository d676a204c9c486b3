package records_test

// Benchmarks of the records service on each store: SQLite on a file in
// b.TempDir(), and MongoDB through mongotest (FerretDB unless
// JIMU_TEST_MONGO_URI names a server; skipped when neither can be had).
//
//	go test -run '^$' -bench . -benchmem ./engine/records/
//
// Each benchmark is Benchmark<Op>/<store>/records=<n>: the middle level
// opens the store and preloads it once, the inner one is the timed loop.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jimu-crm/jimu/engine/benchdata"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// TestMain stops the FerretDB server mongotest may start.
func TestMain(m *testing.M) { mongotest.Main(m) }

// Preload sizes: small enough that -benchtime 1x stays quick. FerretDB
// (v1 on SQLite) writes about 30 times more slowly than the SQLite store
// and filters and sorts in memory, so it gets fewer records.
const (
	listRecordsSQLite = 20_000
	listRecordsMongo  = 1_000
	getRecordsSQLite  = 1_000
	getRecordsMongo   = 200
)

// opener opens a fresh, empty store that lives until b ends.
type opener struct {
	name string
	open func(b *testing.B) store.Store
}

var openers = []opener{
	{"sqlite", func(b *testing.B) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "jimu.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}},
	{"mongo", func(b *testing.B) store.Store {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := mongo.Open(ctx, mongotest.URI(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	}},
}

// fixture is a records service over one store holding the deal entity and
// n generated deals.
type fixture struct {
	svc *records.Service
	ids []string
}

var actor = &identity.Principal{UserID: uuid.NewString(), Roles: []string{"admin"}, Admin: true}

func newFixture(b *testing.B, o opener, n int) *fixture {
	b.Helper()
	ctx := context.Background()
	st := o.open(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cat := catalog.New(st, log)
	if err := cat.Load(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := cat.Create(ctx, actor, benchdata.Deal()); err != nil {
		b.Fatal(err)
	}
	fx := &fixture{svc: records.New(st, cat, records.System{}, log), ids: make([]string, n)}
	// Four writers: validation of one record overlaps the store write of
	// another.
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				r, err := fx.svc.Create(ctx, actor, "deal", benchdata.Record(i))
				if err != nil {
					errs <- fmt.Errorf("preload deal %d: %w", i, err)
					return
				}
				fx.ids[i] = r.ID
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return fx
}

// eachStore runs bench once per store, on a fixture of n records (n per
// store) built once per store, outside the timed loop.
func eachStore(b *testing.B, n func(store string) int, bench func(b *testing.B, fx *fixture)) {
	for _, o := range openers {
		b.Run(o.name, func(b *testing.B) {
			size := n(o.name)
			start := time.Now()
			fx := newFixture(b, o, size)
			if size > 0 {
				b.Logf("preloaded %d records in %s", size, time.Since(start).Round(time.Millisecond))
			}
			b.Run("records="+strconv.Itoa(size), func(b *testing.B) {
				b.ReportAllocs()
				bench(b, fx)
			})
		})
	}
}

func fixed(n int) func(string) int { return func(string) int { return n } }

func listSize(s string) int {
	if s == "mongo" {
		return listRecordsMongo
	}
	return listRecordsSQLite
}

func getSize(s string) int {
	if s == "mongo" {
		return getRecordsMongo
	}
	return getRecordsSQLite
}

// BenchmarkCreate is one record through the whole write pipeline: normalize,
// defaults, JSON Schema, rules, and the store transaction with its audit
// entry and outbox event.
func BenchmarkCreate(b *testing.B) {
	eachStore(b, fixed(0), func(b *testing.B, fx *fixture) {
		ctx := context.Background()
		i := 0
		for b.Loop() {
			if _, err := fx.svc.Create(ctx, actor, "deal", benchdata.Record(1_000_000+i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkGet reads one record by id.
func BenchmarkGet(b *testing.B) {
	eachStore(b, getSize, func(b *testing.B, fx *fixture) {
		ctx := context.Background()
		i := 0
		for b.Loop() {
			id := fx.ids[(i*7919)%len(fx.ids)]
			r, _, err := fx.svc.Get(ctx, actor, "deal", id)
			if err != nil || r.ID != id {
				b.Fatalf("get %s: %v", id, err)
			}
			i++
		}
	})
}

const listFilter = `stage == "won" and amount >= 1000`

// BenchmarkListFilter is one page of 50 of a filtered list sorted by a
// field.
func BenchmarkListFilter(b *testing.B) {
	eachStore(b, listSize, func(b *testing.B, fx *fixture) {
		ctx := context.Background()
		lp := records.ListParams{Filter: listFilter, Sort: "-amount", Limit: 50}
		for b.Loop() {
			res, _, err := fx.svc.List(ctx, actor, "deal", lp)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Items) != 50 {
				b.Fatalf("%d items, want 50", len(res.Items))
			}
		}
	})
}

// BenchmarkCount is the same list with count=true: the page and the
// (capped) count of every match.
func BenchmarkCount(b *testing.B) {
	eachStore(b, listSize, func(b *testing.B, fx *fixture) {
		ctx := context.Background()
		lp := records.ListParams{Filter: listFilter, Sort: "-amount", Limit: 50, Count: true}
		for b.Loop() {
			res, _, err := fx.svc.List(ctx, actor, "deal", lp)
			if err != nil {
				b.Fatal(err)
			}
			if res.Count == nil || *res.Count < 50 {
				b.Fatalf("count %v", res.Count)
			}
		}
	})
}
