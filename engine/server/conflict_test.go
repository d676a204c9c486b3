package server_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/store/mongo"
)

// TestNoSpuriousConflicts: PATCHes without If-Match never answer 409
// because another write landed between their read and their write: 16
// clients patching one record, each its own field, all get 200, every
// patch makes a version, and the record ends with each client's last value
// (the last writer wins field by field). Run on one node and on two nodes
// (two servers on one store), on both stores. With a stale If-Match the
// answer is still 409 and nothing changes.
func TestNoSpuriousConflicts(t *testing.T) {
	const clients, each = 16, 15
	fields := make([]any, clients)
	for i := range fields {
		fields[i] = map[string]any{"name": fmt.Sprintf("f%02d", i), "type": "integer"}
	}
	for name, open := range stores {
		for _, nodes := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/%d nodes", name, nodes), func(t *testing.T) {
				st := open(t)
				if m, ok := st.(*mongo.Store); ok && m.FerretDB() && nodes == 2 {
					// Two nodes race in the store's compare-and-set, which
					// FerretDB v1 does not apply atomically (of 12 concurrent
					// versioned replaces of one document, 3 succeeded): it
					// loses updates that a real MongoDB refuses. Runs with
					// JIMU_TEST_MONGO_URI.
					t.Skip("FerretDB v1 does not apply a versioned replace atomically; two nodes need a real MongoDB (JIMU_TEST_MONGO_URI)")
				}
				e := startWith(t, st)
				e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "counter", "fields": fields}, 201, nil)
				envs := []*env{e}
				if nodes == 2 {
					// Started after the entity exists: a node loads the
					// metadata at start (decision 7).
					second, _ := startServer(t, st, auth.Options{})
					envs = append(envs, second)
				}
				var rec map[string]any
				e.do("POST", "/api/v1/records/counter", map[string]any{}, 201, &rec)
				path := "/api/v1/records/counter/" + rec["id"].(string)

				var wg sync.WaitGroup
				statuses := make(chan string, clients*each)
				for c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						node := envs[c%len(envs)]
						for j := 1; j <= each; j++ {
							r := node.raw("PATCH", path, map[string]any{fmt.Sprintf("f%02d", c): j})
							if r.Status != 200 {
								statuses <- fmt.Sprintf("client %d patch %d: %d %s", c, j, r.Status, r.Body)
							}
						}
					}()
				}
				wg.Wait()
				close(statuses)
				for s := range statuses {
					t.Error(s)
				}
				e.do("GET", path, nil, 200, &rec)
				if v := rec["version"].(float64); v != 1+clients*each {
					t.Errorf("version %v after %d patches, want %d", v, clients*each, 1+clients*each)
				}
				for c := range clients {
					if got := rec[fmt.Sprintf("f%02d", c)]; got != float64(each) {
						t.Errorf("f%02d = %v, want %d: a concurrent patch lost it", c, got, each)
					}
				}

				// A stale If-Match is still a conflict, and changes nothing.
				r := e.raw("PATCH", path, map[string]any{"f00": -1}, "If-Match", "1")
				if r.Status != 409 {
					t.Fatalf("stale If-Match: %d %s", r.Status, r.Body)
				}
				e.do("GET", path, nil, 200, &rec)
				if rec["f00"] != float64(each) || rec["version"].(float64) != 1+clients*each {
					t.Fatalf("a refused PATCH changed the record: %v", rec)
				}
				// DELETE without If-Match deletes even though the record
				// moved on since the client read it.
				e.do("DELETE", path, nil, 204, nil)
			})
		}
	}
}
