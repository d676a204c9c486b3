package workflows_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/metadata"
	"github.com/jimu-crm/jimu/workflows"
)

// benchEnv is Jimu on a SQLite file in a temporary directory.
func benchEnv(b *testing.B, opts ...option) *env {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "jimu.db"))
	if err != nil {
		b.Fatal(err)
	}
	e := start(b, st, opts...)
	e.deals()
	return e
}

// admin is the principal the benchmarks write as, through the pipeline.
func (e *env) admin() *identity.Principal {
	var me struct{ ID string }
	e.Do("GET", "/api/v1/auth/me", nil, 200, &me)
	return &identity.Principal{UserID: me.ID, Admin: true, Roles: []string{"admin"}}
}

// createDeals writes n leads through the write pipeline, c writers at once.
func (e *env) createDeals(b *testing.B, n, c int) {
	p := e.admin()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, err := e.Deps.Records.Create(context.Background(), p, "deal", map[string]any{"name": fmt.Sprintf("D%d", i), "stage": "lead"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkEventsFalseCondition: events the runner reads and evaluates a
// rule on whose condition is false (no run is made), per second: the
// events are written first, then the runner follows them.
// go test -run '^$' -bench EventsFalseCondition -benchtime 20000x ./workflows/
func BenchmarkEventsFalseCondition(b *testing.B) {
	e := benchEnv(b)
	e.rule(map[string]any{"name": "won", "entity": "deal", "enabled": true,
		"trigger": map[string]any{"type": "record.created"}, "condition": `stage == "won" and amount > 1000`,
		"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"score": "1"}}}})
	e.drain()
	e.createDeals(b, b.N, 8)
	b.ResetTimer()
	t0 := time.Now()
	e.drain()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "events/s")
	if rs := e.runs(""); len(rs) != 0 {
		b.Fatalf("%d runs for a false condition", len(rs))
	}
}

// BenchmarkSetFieldActions: set_fields actions applied per second end to
// end — each event read, its run written, the record updated through the
// pipeline with the step's mark, the run finished — by the runner's own
// loop, as jimu serve runs it, with the events written first (the rule is
// switched on after them, the runner's checkpoint put back before them).
// go test -run '^$' -bench SetFieldActions -benchtime 5000x ./workflows/
func BenchmarkSetFieldActions(b *testing.B) {
	e := benchEnv(b, withLimits(workflows.Limits{Workers: 8}))
	e.rule(map[string]any{"name": "score", "entity": "deal", "enabled": true,
		"trigger": map[string]any{"type": "record.created"},
		"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"score": "42"}}}})
	e.drain()
	scored := func() int64 { return e.count("score", 42) }
	e.createDeals(b, b.N, 8)
	b.ResetTimer()
	t0, cpu0 := time.Now(), cpuTime()
	// The runner's loop, as Start runs it: a step, and a short wait only
	// when there was nothing to do.
	ctx, stop := context.WithCancel(e.ctx)
	defer stop()
	go func() {
		for ctx.Err() == nil {
			e.clock.Set(time.Now())
			if did, _ := e.wf.Step(ctx); !did {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	for scored() < int64(b.N) && time.Since(t0) < 60*time.Second {
		time.Sleep(200 * time.Millisecond)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if n := scored(); n != int64(b.N) {
		b.Fatalf("%d of %d deals scored after %v", n, b.N, time.Since(t0).Round(time.Millisecond))
	}
	// The last action's commit time, not the poll's that saw it.
	var last struct{ Items []map[string]any }
	e.Do("GET", "/api/v1/records/deal?limit=1&sort=-updated_at", nil, 200, &last)
	end, _ := metadata.ParseDateTime(last.Items[0]["updated_at"].(string))
	b.ReportMetric(float64(b.N)/end.Sub(t0).Seconds(), "actions/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/action")
}

// count is how many deals have field set to v, read from the store: the
// API's counts stop at 10,000, and a benchmark must see every deal.
// postDeal creates deal i over HTTP, as a client of the API does.
func (e *env) postDeal(client *http.Client, i int64) error {
	body := fmt.Sprintf(`{"name":"Deal %d","amount":%d,"stage":"lead"}`, i, i%100000)
	req, _ := http.NewRequest("POST", e.Base+"/api/v1/records/deal", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.Token)
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	return nil
}

func (e *env) count(field string, v int64) int64 {
	e.t.Helper()
	n, _, err := e.Deps.Store.Count(e.ctx, "deal", &store.Cond{Op: store.OpEq, Field: field, Kind: metadata.KindInteger, Value: v}, math.MaxInt64)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// BenchmarkCreateWithRules: creates per second over HTTP at concurrency
// 16 with the runner following the outbox: without rules, with ten
// enabled rules on the entity whose conditions the creates do not meet,
// and with ten of which one sets a field on every create — for that one
// it reports the lag from each create to its set_fields update, p50 and
// p99.
// go test -run '^$' -bench CreateWithRules -benchtime 6000x ./workflows/
func BenchmarkCreateWithRules(b *testing.B) {
	for _, c := range []struct {
		name  string
		rules int
		acts  bool
	}{{"rules=0", 0, false}, {"rules=10", 10, false}, {"rules=10,one-acts", 10, true}} {
		b.Run(c.name, func(b *testing.B) {
			rules := c.rules
			e := benchEnv(b, loop, withLimits(workflows.Limits{Workers: 8}))
			for i := 0; i < rules; i++ {
				r := map[string]any{"name": fmt.Sprintf("r%d", i), "entity": "deal", "enabled": true,
					"trigger": map[string]any{"type": "record.created"}, "condition": fmt.Sprintf(`stage == "won" and amount > %d`, i),
					"actions": []any{map[string]any{"type": "notify", "to": "record.owner", "title": "won"}}}
				if c.acts && i == rules-1 {
					delete(r, "condition")
					r["actions"] = []any{map[string]any{"type": "set_fields", "values": map[string]any{"score": "1"}}}
				}
				e.rule(r)
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var n atomic.Int64
			b.SetParallelism(8) // 16 clients on 2 processors
			b.ResetTimer()
			t0, cpu0 := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := e.postDeal(client, n.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "creates/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/create")
			if !c.acts {
				return
			}
			// Let the runner finish, then read each deal's lag.
			deadline := time.Now().Add(5 * time.Minute)
			for {
				n := e.count("score", 1)
				if n == int64(b.N) {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d deals updated", n, b.N)
				}
				time.Sleep(100 * time.Millisecond)
			}
			var lags []time.Duration
			cursor := ""
			for {
				var page struct {
					Items      []map[string]any
					NextCursor string `json:"next_cursor"`
				}
				e.Do("GET", "/api/v1/records/deal?limit=500&fields=score&cursor="+cursor, nil, 200, &page)
				for _, d := range page.Items {
					c, _ := metadata.ParseDateTime(d["created_at"].(string))
					u, _ := metadata.ParseDateTime(d["updated_at"].(string))
					lags = append(lags, u.Sub(c))
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
			b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "lag-p50-ms")
			b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "lag-p99-ms")
		})
	}
}

// BenchmarkCreateRulesInterleaved: the share of the create rate that ten
// enabled rules on the entity (conditions the creates do not meet) leave,
// measured so that the machine's changing load falls on both sides alike:
// two servers side by side, one without rules and one with the ten, take
// turns (each first every other time) in rounds of 200 creates over HTTP
// at concurrency 16, and each round ends when its creates are answered
// and that server's runner has read every event they made — so each
// side's rate includes its runner's work, and neither side's runner works
// while the other side is timed. BenchmarkCreateWithRules measures the
// two one after the other, seconds apart, and on a shared machine its
// ratio moved between 30% and 100% from one run to the next.
// go test -run '^$' -bench CreateRulesInterleaved -benchtime 3000x ./workflows/
func BenchmarkCreateRulesInterleaved(b *testing.B) {
	const round = 200
	type side struct {
		e       *env
		client  *http.Client
		n       atomic.Int64
		elapsed time.Duration
		cpu     time.Duration
	}
	sides := make([]*side, 2)
	for i, rules := range []int{0, 10} {
		e := benchEnv(b, loop, withLimits(workflows.Limits{Workers: 8}))
		for j := 0; j < rules; j++ {
			e.rule(map[string]any{"name": fmt.Sprintf("r%d", j), "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "record.created"}, "condition": fmt.Sprintf(`stage == "won" and amount > %d`, j),
				"actions": []any{map[string]any{"type": "notify", "to": "record.owner", "title": "won"}}})
		}
		sides[i] = &side{e: e, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	}
	create := func(sd *side, count int) {
		var wg sync.WaitGroup
		var left atomic.Int64
		left.Store(int64(count))
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					if err := sd.e.postDeal(sd.client, sd.n.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	// caughtUp: the side's runner has read every event there is.
	caughtUp := func(sd *side) bool {
		evs, err := sd.e.Deps.Store.Events(sd.e.ctx, sd.e.wf.Followed(), 1)
		if err != nil {
			b.Fatal(err)
		}
		return len(evs) == 0
	}
	for _, sd := range sides {
		for !caughtUp(sd) {
			time.Sleep(time.Millisecond)
		}
	}
	b.ResetTimer()
	for done, r := 0, 0; done < b.N; done, r = done+round, r+1 {
		count := min(round, b.N-done)
		// Each side goes first every other round: what one round leaves
		// (garbage to collect, WAL to copy back) falls on both alike.
		for k := range sides {
			sd := sides[(k+r)%2]
			t0, cpu0 := time.Now(), cpuTime()
			create(sd, count)
			for !caughtUp(sd) {
				time.Sleep(200 * time.Microsecond)
			}
			sd.elapsed += time.Since(t0)
			sd.cpu += cpuTime() - cpu0
		}
	}
	b.StopTimer()
	none := float64(b.N) / sides[0].elapsed.Seconds()
	ten := float64(b.N) / sides[1].elapsed.Seconds()
	b.ReportMetric(none, "creates/s-none")
	b.ReportMetric(ten, "creates/s-ten")
	b.ReportMetric(100*ten/none, "ten/none-%")
	b.ReportMetric(float64(sides[0].cpu.Microseconds())/float64(b.N), "cpu-µs/create-none")
	b.ReportMetric(float64(sides[1].cpu.Microseconds())/float64(b.N), "cpu-µs/create-ten")
}
