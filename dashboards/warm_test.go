package dashboards_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/jimu-crm/jimu/engine/server/servertest"
	"github.com/jimu-crm/jimu/engine/store"
)

// recording is the real store, noting the aggregates asked of it.
type recording struct {
	store.Store
	mu     sync.Mutex
	many   []store.AggregateQuery // asked together
	single []store.AggregateQuery // asked one at a time
}

func (r *recording) Aggregate(ctx context.Context, entity string, q store.AggregateQuery) ([]store.AggregateRow, error) {
	r.mu.Lock()
	r.single = append(r.single, q)
	r.mu.Unlock()
	return r.Store.Aggregate(ctx, entity, q)
}

// recordingMany is a recording store that answers several aggregates
// together, as the store under it does (SQLite).
type recordingMany struct{ *recording }

func (r recordingMany) AggregateMany(ctx context.Context, entity string, qs []store.AggregateQuery) ([][]store.AggregateRow, []error) {
	r.mu.Lock()
	r.many = append(r.many, qs...)
	r.mu.Unlock()
	return store.AggregateMany(ctx, r.Store, entity, qs)
}

// TestWarmAsksWhatWidgetsAsk: on a store that answers aggregates together
// and keeps them (SQLite), a widget's data asked as the app asks it
// (?board=1) first asks the store for every widget's first aggregates
// together, and those are exactly the queries each widget then asks, so
// each finds the answer the shared pass kept (but for the Other of an
// average, which needs the top first). MongoDB is asked each query once, as
// before. On both, each widget's answer is the one it gets alone, and one
// widget asked without board=1 is computed alone.
func TestWarmAsksWhatWidgetsAsk(t *testing.T) {
	for name, open := range servertest.Stores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			rec := &recording{Store: st}
			var under store.Store = rec
			_, many := st.(store.ManyAggregator)
			if many {
				under = recordingMany{rec}
			}
			admin := start(t, under)
			org(t, admin)
			var d struct{ ID string }
			admin.Do("POST", "/api/v1/dashboards", board, 201, &d)
			var widgets []string
			for _, w := range board["widgets"].([]any) {
				widgets = append(widgets, w.(map[string]any)["id"].(string))
			}
			// An integration asking one widget computes that widget alone.
			admin.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/by_stage/data", nil, 200, nil)
			if len(rec.many) != 0 {
				t.Fatalf("one widget's data warmed %d aggregates of the board", len(rec.many))
			}
			// The app asks them all, ?board=1: a store that keeps no
			// answers (MongoDB) is asked each widget's queries once.
			admin.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/by_stage/data?board=1", nil, 200, nil)
			if !many && len(rec.many) != 0 {
				t.Fatalf("%s: the board was warmed, with nothing to keep the answers", name)
			}
			if many && len(rec.many) < len(widgets) {
				t.Fatalf("the board's widgets were asked %d aggregates together, want at least %d", len(rec.many), len(widgets))
			}
			warmed := func(q store.AggregateQuery) bool {
				for _, m := range rec.many {
					if reflect.DeepEqual(m, q) {
						return true
					}
				}
				return false
			}
			// Asked as the app asks them — four at a time, the most it
			// has in flight — after a write so nothing kept serves: each
			// answer is the one computed alone.
			alone := map[string][]row{}
			for _, wid := range widgets {
				var r result
				admin.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/"+wid+"/data", nil, 200, &r)
				alone[wid] = r.Rows
			}
			var gone struct{ ID string }
			admin.Do("POST", "/api/v1/records/deal", map[string]any{"name": "gone", "stage": "lead"}, 201, &gone)
			admin.Do("DELETE", "/api/v1/records/deal/"+gone.ID, nil, 204, nil)
			together := make([]result, len(widgets))
			var wg sync.WaitGroup
			slots := make(chan struct{}, 4)
			for i, wid := range widgets {
				wg.Add(1)
				go func() {
					defer wg.Done()
					slots <- struct{}{}
					defer func() { <-slots }()
					admin.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/"+wid+"/data?board=1", nil, 200, &together[i])
				}()
			}
			wg.Wait()
			for i, wid := range widgets {
				if !reflect.DeepEqual(together[i].Rows, alone[wid]) {
					t.Errorf("%s asked with the board: %+v, alone: %+v", wid, together[i].Rows, alone[wid])
				}
			}
			for _, wid := range widgets {
				rec.mu.Lock()
				rec.single = nil
				rec.mu.Unlock()
				admin.Do("GET", "/api/v1/dashboards/"+d.ID+"/widgets/"+wid+"/data?board=1", nil, 200, nil)
				if len(rec.single) == 0 {
					t.Errorf("%s asked nothing", wid)
				}
				for i, q := range rec.single {
					if !many {
						break
					}
					if i > 0 && wid == "top_avg" {
						break // the rest past the top five, found from the top
					}
					if !warmed(q) {
						t.Errorf("%s asked %+v, which the board's warm-up did not", wid, q)
					}
				}
			}
		})
	}
}
