package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/engine/store/sqlite/sqlitetest"
)

// raw is a stored value as an older version (or another tool) could have
// written it: JSON text inside SQLite's data column, or canonical Extended
// JSON for MongoDB. An empty form means the store cannot hold it.
type raw struct{ sqlite, mongo string }

// rawStores open each backend together with a way to write a field of a
// stored record past the store. poison reports false (with the server's
// reason logged) when the server refuses the value: FerretDB refuses ±Inf.
var rawStores = map[string]func(t *testing.T) (store.Store, func(t *testing.T, entity, id, field string, v raw) bool){
	"sqlite": func(t *testing.T) (store.Store, func(t *testing.T, entity, id, field string, v raw) bool) {
		path := filepath.Join(t.TempDir(), "jimu.db")
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		return st, func(t *testing.T, entity, id, field string, v raw) bool {
			t.Helper()
			poisonSQLite(t, path, entity, id, field, v.sqlite)
			return true
		}
	},
	"mongo": func(t *testing.T) (store.Store, func(t *testing.T, entity, id, field string, v raw) bool) {
		uri := mongotest.URI(t)
		st, err := mongo.Open(context.Background(), uri)
		if err != nil {
			t.Fatal(err)
		}
		return st, func(t *testing.T, entity, id, field string, v raw) bool {
			t.Helper()
			if err := mongotest.SetRaw(t, uri, "rec_"+entity, id, field, v.mongo); err != nil {
				if !mongotest.IsFerret() {
					t.Fatalf("MongoDB refused %s: %v", v.mongo, err)
				}
				t.Logf("FerretDB cannot store %s (%v): that case runs against a MongoDB server (JIMU_TEST_MONGO_URI)", v.mongo, err)
				return false
			}
			return true
		}
	},
}

// poisonSQLite sets one field of a record to text, as versions before
// issue 13 stored it.
func poisonSQLite(t *testing.T, path, entity, id, field, text string) {
	t.Helper()
	sqlitetest.Poison(t, path, entity, id, field, text)
}

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(substr ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.b.String(), "\n") {
		all := true
		for _, s := range substr {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

func binaryJSON(s string) string {
	return `{"$binary":{"base64":"` + base64.StdEncoding.EncodeToString([]byte(s)) + `","subType":"80"}}`
}

// TestPoisonedRecords: records holding numbers no JSON can carry, written
// into the store as the previous version could (1e400 in SQLite's JSON,
// 12345678901234567890 for an integer, ±Inf doubles in BSON), can be read,
// listed, sorted, filtered, aggregated, updated and deleted through the
// API on both stores; the values read as empty, each record is logged
// once, and the write that drops them keeps the stored text in the audit.
func TestPoisonedRecords(t *testing.T) {
	for name, open := range rawStores {
		t.Run(name, func(t *testing.T) {
			st, poison := open(t)
			logs := &logBuffer{}
			e, _ := startServer(t, st, auth.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
			e.do("POST", "/api/v1/meta/entities", numEntity, 201, nil)
			var a, b map[string]any
			e.do("POST", "/api/v1/records/num", map[string]any{"label": "a", "c": 1, "n": 2, "i": 3, "j": map[string]any{"a": []any{1}}}, 201, &a)
			e.do("POST", "/api/v1/records/num", map[string]any{"label": "b", "cm": 4}, 201, &b)
			aID, bID := a["id"].(string), b["id"].(string)

			gone := []string{"i"} // fields that must read as empty
			poison(t, "num", aID, "i", raw{`12345678901234567890`, `{"$numberDouble":"1.2345678901234567E+19"}`})
			poison(t, "num", aID, "j", raw{`{"a":[1,1e400]}`, binaryJSON(`{"a":[1,1e400]}`)})
			if poison(t, "num", aID, "c", raw{`1e400`, `{"$numberDouble":"Infinity"}`}) {
				gone = append(gone, "c")
			}
			if poison(t, "num", aID, "n", raw{`-1e400`, `{"$numberDouble":"-Infinity"}`}) {
				gone = append(gone, "n")
			}
			poison(t, "num", bID, "cm", raw{`1e400`, binaryJSON(`1e400`)})

			for range 3 {
				var got map[string]any
				e.do("GET", "/api/v1/records/num/"+aID, nil, 200, &got)
				for _, f := range gone {
					if _, has := got[f]; has {
						t.Fatalf("unreadable %s served: %v", f, got)
					}
				}
				if j, _ := json.Marshal(got["j"]); string(j) != `{"a":[1,null]}` || got["label"] != "a" {
					t.Fatalf("poisoned record read as %v", got)
				}
			}
			if n := logs.lines("cannot be served", "entity=num", "id="+aID); n != 1 {
				t.Errorf("warning logged %d times for %s, want once:\n%s", n, aID, logs.b.String())
			}
			if logs.lines("id="+aID, "/a/1") != 1 || logs.lines("id="+aID, "fields=") != 1 {
				t.Errorf("warning does not name the fields:\n%s", logs.b.String())
			}

			var page struct{ Items []map[string]any }
			for _, q := range []url.Values{
				{}, {"sort": {"-c"}}, {"sort": {"c"}}, {"sort": {"i"}}, {"sort": {"-n"}}, {"sort": {"cm"}},
				{"filter": {"c > 0"}}, {"filter": {"i == nil"}}, {"count": {"true"}},
			} {
				e.do("GET", "/api/v1/records/num?"+q.Encode(), nil, 200, &page)
			}
			e.do("GET", "/api/v1/records/num?sort=-c", nil, 200, &page)
			if len(page.Items) != 2 {
				t.Fatalf("list: %v", page.Items)
			}
			for _, q := range []url.Values{
				{"measures": {"count,sum:c,avg:c,min:n,max:n,sum:i,sum:cm,count_distinct:c"}},
				{"group_by": {"c"}, "measures": {"count,sum:i"}},
				{"group_by": {"i"}, "measures": {"count"}},
			} {
				e.do("GET", "/api/v1/records/num/aggregate?"+q.Encode(), nil, 200, nil)
			}

			// An update repairs the record: what was unreadable is dropped,
			// and the audit entry keeps what was stored.
			var upd map[string]any
			e.do("PATCH", "/api/v1/records/num/"+aID, map[string]any{"label": "fixed", "c": 5}, 200, &upd)
			if upd["label"] != "fixed" || upd["c"] != 5.0 || upd["version"] != 2.0 {
				t.Fatalf("update of a poisoned record: %v", upd)
			}
			r, err := st.Get(t.Context(), "num", aID)
			if err != nil || len(r.Unreadable) != 0 {
				t.Fatalf("after the update the store still holds %v (%v)", r.Unreadable, err)
			}
			audit := e.raw("GET", "/api/v1/audit?entity=num&record_id="+aID, nil)
			if audit.Status != 200 || !strings.Contains(string(audit.Body), `"unreadable"`) || !strings.Contains(string(audit.Body), `1e400`) {
				t.Fatalf("audit of the repairing update: %d %s", audit.Status, audit.Body)
			}

			// A poisoned record can be deleted.
			e.do("GET", "/api/v1/records/num/"+bID, nil, 200, nil)
			e.do("DELETE", "/api/v1/records/num/"+bID, nil, 204, nil)
			e.do("GET", "/api/v1/records/num/"+bID, nil, 404, nil)
		})
	}
}
