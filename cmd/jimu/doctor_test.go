package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/doctor"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/engine/store/sqlite/sqlitetest"
	"github.com/jimu-crm/jimu/engine/store/storetest"
	"github.com/jimu-crm/jimu/metadata"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

// poisoned is a database as a version before issue 13 could leave it:
// records holding 1e400, 12345678901234567890 for an integer, ±Inf in
// BSON, 1e400 inside a json value, and an entity whose currency default
// overflows when rounded. Each is written past the store.
type poisoned struct {
	db      string // the --db flag
	open    func(t *testing.T) store.Store
	bad     []string // "id field" of every value that cannot be served
	clean   string   // a record with nothing wrong
	fixedBy string   // a record whose only finding is an out-of-range integer
}

func poison(t *testing.T, kind string) *poisoned {
	t.Helper()
	ctx := context.Background()
	p := &poisoned{}
	var set func(id, field, sqliteText, mongoExt string) bool
	switch kind {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "jimu.db")
		p.db = "sqlite://" + path
		p.open = func(t *testing.T) store.Store {
			st, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		set = func(id, field, text, _ string) bool {
			sqlitetest.Poison(t, path, "deal", id, field, text)
			return true
		}
	case "mongo":
		uri := mongotest.URI(t)
		p.db = uri
		p.open = func(t *testing.T) store.Store {
			st, err := mongo.Open(ctx, uri)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		set = func(id, field, _, ext string) bool {
			if err := mongotest.SetRaw(t, uri, "rec_deal", id, field, ext); err != nil {
				if !mongotest.IsFerret() {
					t.Fatal(err)
				}
				t.Logf("FerretDB cannot store %s (%v): that case runs against a MongoDB server (JIMU_TEST_MONGO_URI)", ext, err)
				return false
			}
			return true
		}
	}
	st := p.open(t)
	defer st.Close()
	cat := catalog.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := cat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	min0 := 0.0
	_, err := cat.Create(ctx, nil, &metadata.Entity{Name: "deal", Fields: []*metadata.Field{
		{Name: "name", Type: "text"}, {Name: "amount", Type: "currency", Min: &min0},
		{Name: "qty", Type: "integer"}, {Name: "extra", Type: "json"}}})
	if err != nil {
		t.Fatal(err)
	}
	// What the metadata check now refuses, saved as an older version did.
	legacy := `{"name":"legacy","fields":[{"name":"fee","type":"currency","default":1e307}]}`
	if err := st.PutDoc(ctx, &store.Doc{Kind: "entity", ID: "legacy", Version: 1, Data: []byte(legacy)}, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 4)
	for i := range ids {
		r := &store.Record{ID: store.NewID(), Version: 1, Data: map[string]any{"name": "r", "amount": 1.0, "qty": int64(1), "extra": map[string]any{"a": []any{1.0, 2.0}}}}
		if err := st.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	p.clean = ids[3]
	binary := func(s string) string {
		return `{"$binary":{"base64":"` + base64.StdEncoding.EncodeToString([]byte(s)) + `","subType":"80"}}`
	}
	if set(ids[0], "amount", `1e400`, `{"$numberDouble":"Infinity"}`) {
		p.bad = append(p.bad, ids[0]+" amount")
	}
	set(ids[0], "extra", `{"a":[1,1e400]}`, binary(`{"a":[1,1e400]}`))
	p.bad = append(p.bad, ids[0]+" extra/a/1")
	set(ids[1], "qty", `12345678901234567890`, `{"$numberDouble":"1.2345678901234567E+19"}`)
	p.bad = append(p.bad, ids[1]+" qty")
	set(ids[2], "qty", `9007199254740993`, `{"$numberLong":"9007199254740993"}`)
	p.bad = append(p.bad, ids[2]+" qty")
	p.fixedBy = ids[2]
	return p
}

// TestDoctor: jimu doctor lists every value a poisoned database holds that
// this version cannot serve, by entity, id and field, and the definition
// it cannot hold; --repair rewrites those records (audited, with an event)
// so they read clean, and leaves the rest alone; on both stores.
func TestDoctor(t *testing.T) {
	for _, kind := range []string{"sqlite", "mongo"} {
		t.Run(kind, func(t *testing.T) {
			p := poison(t, kind)
			var out, errb bytes.Buffer
			err := run([]string{"doctor", "--db", p.db}, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), "--repair") {
				t.Fatalf("doctor on a poisoned database: %v\n%s%s", err, out.String(), errb.String())
			}
			for _, b := range append(p.bad, "legacy definition fields.fee.default") {
				if !strings.Contains(out.String(), "deal "+b+":") && !strings.Contains(out.String(), b+":") {
					t.Errorf("doctor does not report %q:\n%s", b, out.String())
				}
			}
			if strings.Contains(out.String(), p.clean) {
				t.Errorf("doctor reports the clean record:\n%s", out.String())
			}
			n := strings.Count(out.String(), "\n") - 1
			if n != len(p.bad)+1 {
				t.Errorf("%d findings, want %d:\n%s", n, len(p.bad)+1, out.String())
			}

			out.Reset()
			err = run([]string{"doctor", "--db", p.db, "--repair"}, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), "1 field definitions") || !strings.Contains(out.String(), "3 records repaired") {
				t.Fatalf("doctor --repair: %v\n%s", err, out.String())
			}
			st := p.open(t)
			defer st.Close()
			ctx := context.Background()
			for _, b := range p.bad {
				id, field, _ := strings.Cut(b, " ")
				r, err := st.Get(ctx, "deal", id)
				if err != nil || len(r.Unreadable) > 0 || r.Version != 2 || r.Data["name"] != "r" {
					t.Fatalf("repaired %s: %+v %v", id, r, err)
				}
				if f, _, nested := strings.Cut(field, "/"); !nested {
					if _, has := r.Data[f]; has {
						t.Errorf("repaired %s still holds %s: %v", id, f, r.Data)
					}
				}
			}
			r, _ := st.Get(ctx, "deal", p.clean)
			if r.Version != 1 {
				t.Errorf("the clean record was rewritten: %+v", r)
			}
			audit, err := st.ListAudit(ctx, store.AuditQuery{Action: "record.repair"})
			if err != nil || len(audit) != 3 {
				t.Fatalf("repair audit entries: %d %v", len(audit), err)
			}
			for _, a := range audit {
				if a.RecordID == p.fixedBy {
					ch, _ := json.Marshal(a.Changes)
					if !strings.Contains(string(ch), `9007199254740993`) {
						t.Errorf("audit of %s does not keep the stored value: %s", a.RecordID, ch)
					}
				}
			}
			evs, err := st.Events(ctx, "", 1000)
			repairs := 0
			for _, ev := range evs {
				if ev.Type == "record.updated" && ev.Payload["repair"] == true {
					repairs++
				}
			}
			if err != nil || repairs != 3 {
				t.Errorf("repair events: %d %v", repairs, err)
			}
			st.Close()

			out.Reset()
			err = run([]string{"doctor", "--db", p.db}, &out, &errb)
			if err == nil || !strings.Contains(out.String(), ": 1 findings") || !strings.Contains(out.String(), "legacy definition") {
				t.Fatalf("doctor after the repair: %v\n%s", err, out.String())
			}
		})
	}
}

// TestServeScansOnce: jimu serve scans a database never scanned, logging
// each finding by entity, id and field; later starts only warn while
// findings are left, and after a repair say nothing.
func TestServeScansOnce(t *testing.T) {
	for _, kind := range []string{"sqlite", "mongo"} {
		t.Run(kind, func(t *testing.T) {
			p := poison(t, kind)
			ctx := context.Background()
			startup := func() string {
				st := p.open(t)
				defer st.Close()
				var logs bytes.Buffer
				log := slog.New(slog.NewTextHandler(&logs, nil))
				cat := catalog.New(st, log)
				if err := cat.Load(ctx); err != nil {
					t.Fatal(err)
				}
				if err := doctor.Startup(ctx, st, cat, log); err != nil {
					t.Fatal(err)
				}
				return logs.String()
			}
			first := startup()
			for _, b := range p.bad {
				id, field, _ := strings.Cut(b, " ")
				if !strings.Contains(first, "entity=deal id="+id+" field="+field) {
					t.Errorf("first start does not log %s:\n%s", b, first)
				}
			}
			if !strings.Contains(first, "jimu doctor --repair") {
				t.Errorf("no hint to repair:\n%s", first)
			}
			second := startup()
			if strings.Contains(second, "stored value cannot be served") || !strings.Contains(second, "findings="+itoa(len(p.bad)+1)) {
				t.Errorf("second start scanned again, or did not warn:\n%s", second)
			}
			var out bytes.Buffer
			run([]string{"doctor", "--db", p.db, "--repair"}, &out, &out)
			third := startup()
			if !strings.Contains(third, "findings=1") { // the legacy definition is left to an admin
				t.Errorf("after the repair:\n%s", third)
			}
		})
	}
	// A clean database is scanned once and then left alone.
	path := filepath.Join(t.TempDir(), "jimu.db")
	for i := range 2 {
		st, err := sqlite.Open(ctx(), path)
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		cat := catalog.New(st, log)
		cat.Load(ctx())
		if err := doctor.Startup(ctx(), st, cat, log); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if scanned := strings.Contains(logs.String(), "stored numbers checked"); scanned != (i == 0) || strings.Contains(logs.String(), "WARN") {
			t.Errorf("start %d on a clean database:\n%s", i, logs.String())
		}
	}
}

func ctx() context.Context { return context.Background() }

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestDoctorVacuum: jimu doctor --vacuum gives a SQLite file's free pages
// back to the disk and keeps every record; on MongoDB it says it is for
// SQLite.
func TestDoctorVacuum(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "jimu.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		r := &store.Record{ID: store.NewID(), Version: 1, Data: map[string]any{"name": strings.Repeat("v", 300), "qty": int64(i)}}
		if err := st.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM rec_deal WHERE f_qty >= 500`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	var out, errb bytes.Buffer
	if err := run([]string{"doctor", "--data", dir, "--vacuum"}, &out, &errb); err != nil || !strings.Contains(out.String(), "vacuumed: ") {
		t.Fatalf("doctor --vacuum: %v\n%s%s", err, out.String(), errb.String())
	}
	if after := size(); after*2 > before {
		t.Fatalf("the file went from %d to %d bytes", before, after)
	}
	st, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	if n, _, err := st.Count(ctx, "deal", nil, 10000); err != nil || n != 500 {
		t.Fatalf("after the vacuum %d records (%v)", n, err)
	}
}
