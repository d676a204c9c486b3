package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/jimu-crm/jimu/engine/benchdata"
)

// The list queries measured: the filter of the Go benchmarks, and a date
// range on the indexed close_date.
const (
	listFilter = `stage == "won" and amount >= 1000`
	listSort   = "-amount"
	dateFilter = `close_date >= date("2025-03-01") and close_date < date("2025-04-01")`
	dateSort   = "-close_date"
	// score has no index: the filter, the sort and the count scan the
	// whole entity, as do the group-bys below (issue 14).
	scanFilter = `score == 42`
	scanSort   = "name"
)

// The group-bys measured over the whole entity: a field with an index, a
// date bucket, a field without one.
var groupBys = []struct{ groupBy, measures string }{
	{"stage", "count,sum:amount"},
	{"close_date:month", "count,sum:amount"},
	{"score", "count,avg:amount"},
}

type httpConfig struct {
	base, email, password, entity string
	duration, phaseMax            time.Duration
	c, n, maxCreates              int
}

// client is a keep-alive HTTP client with a bearer token. It is fasthttp's
// rather than net/http's: the load generator shares the server's two
// cores, and net/http spent about twice the CPU per request, which the
// figures then charged to the server.
type client struct {
	base  string
	token string
	hc    *fasthttp.HostClient
}

func newClient(base string, conns int) (*client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("-url %q: want http://host:port", base)
	}
	hc := &fasthttp.HostClient{
		Addr:                u.Host,
		IsTLS:               u.Scheme == "https",
		MaxConns:            2 * conns,
		ReadTimeout:         60 * time.Second,
		WriteTimeout:        60 * time.Second,
		MaxIdleConnDuration: 90 * time.Second,
	}
	return &client{base: u.String(), hc: hc}, nil
}

// do sends one request and reads the whole answer; out, when given,
// receives the decoded JSON of a 2xx answer. A cancelled ctx stops it
// before it is sent; once sent it is bounded by the client's timeouts.
func (c *client) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	req.SetRequestURI(c.base + path)
	req.Header.SetMethod(method)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if err := c.hc.Do(req, res); err != nil {
		return 0, err
	}
	st := res.StatusCode()
	if out != nil && st/100 == 2 {
		if err := json.Unmarshal(res.Body(), out); err != nil {
			return st, fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return st, nil
}

func (c *client) login(ctx context.Context, email, password string) error {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	var out struct{ Token string }
	st, err := c.do(ctx, "POST", "/api/v1/auth/login", body, &out)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if st != http.StatusOK || out.Token == "" {
		return fmt.Errorf("login as %s: status %d", email, st)
	}
	c.token = out.Token
	return nil
}

// result is one measured phase.
type result struct {
	name     string
	conc     int
	ok, errs int
	elapsed  time.Duration
	lat      []time.Duration // of the successful requests
	firstErr string
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	i := int(p*float64(len(r.lat))+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func (r *result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// measure runs op from conc goroutines until max calls were made or limit
// passed, whichever comes first. op returns the HTTP status; want is the
// status counted as success.
func measure(ctx context.Context, name string, conc, maxCalls int, limit time.Duration, want int, op func(ctx context.Context, i int) (int, error)) *result {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	res := &result{name: name, conc: conc}
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			ok, bad := 0, 0
			first := ""
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= maxCalls {
					break
				}
				s := time.Now()
				st, err := op(ctx, i)
				d := time.Since(s)
				if ctx.Err() != nil && err != nil {
					break // cut off by the time limit: neither success nor error
				}
				if err == nil && st == want {
					ok++
					lat = append(lat, d)
					continue
				}
				bad++
				if first == "" {
					if err != nil {
						first = err.Error()
					} else {
						first = fmt.Sprintf("status %d", st)
					}
				}
			}
			mu.Lock()
			res.ok += ok
			res.errs += bad
			res.lat = append(res.lat, lat...)
			if res.firstErr == "" {
				res.firstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(t0)
	return res
}

func listPath(entity, filter, sort string, limit int) string {
	q := url.Values{}
	if filter != "" {
		q.Set("filter", filter)
	}
	if sort != "" {
		q.Set("sort", sort)
	}
	q.Set("limit", fmt.Sprint(limit))
	return "/api/v1/records/" + entity + "?" + q.Encode()
}

func httpBench(args []string, stdout, stderr io.Writer) error {
	var cfg httpConfig
	fs := newFlags("http", stderr)
	fs.StringVar(&cfg.base, "url", "http://127.0.0.1:8090", "base URL of the running server")
	fs.StringVar(&cfg.email, "email", os.Getenv("JIMU_ADMIN_EMAIL"), "e-mail to sign in with (JIMU_ADMIN_EMAIL)")
	fs.StringVar(&cfg.password, "password", os.Getenv("JIMU_ADMIN_PASSWORD"), "password (JIMU_ADMIN_PASSWORD)")
	fs.StringVar(&cfg.entity, "entity", "deal", "entity to measure (created by jimubench load)")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "length of each concurrent phase (creates, gets at -c)")
	fs.DurationVar(&cfg.phaseMax, "phase-timeout", 2*time.Minute, "upper bound of each sequential phase")
	fs.IntVar(&cfg.c, "c", 16, "concurrency of the concurrent phases")
	fs.IntVar(&cfg.n, "n", 500, "requests of each sequential phase (lists, gets at concurrency 1)")
	fs.IntVar(&cfg.maxCreates, "max-creates", 1_000_000, "upper bound on creates in the create phase")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.email == "" || cfg.password == "" {
		return errors.New("http needs -email and -password (or JIMU_ADMIN_EMAIL and JIMU_ADMIN_PASSWORD)")
	}
	if cfg.c < 1 || cfg.n < 1 || cfg.duration <= 0 {
		return errors.New("-c and -n must be ≥ 1, -duration > 0")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	c, err := newClient(cfg.base, cfg.c)
	if err != nil {
		return err
	}
	if err := c.login(ctx, cfg.email, cfg.password); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "signed in to %s as %s\n", cfg.base, cfg.email)
	if err := caughtUp(ctx, c, stderr); err != nil {
		return err
	}
	var results []*result
	phase := func(r *result) {
		fmt.Fprintf(stderr, "%-40s %6d ok %4d errors  %8.1f/s  p50 %-9s p99 %s\n", r.name, r.ok, r.errs, r.rate(),
			ms(r.pct(0.50)), ms(r.pct(0.99)))
		if r.errs > 0 {
			fmt.Fprintf(stderr, "  first error: %s\n", r.firstErr)
		}
		results = append(results, r)
	}

	// Warm up the connections and the server's caches.
	warm := measure(ctx, "warm-up", cfg.c, 4*cfg.c, 30*time.Second, http.StatusOK, func(ctx context.Context, i int) (int, error) {
		return c.do(ctx, "GET", listPath(cfg.entity, "", "", 1), nil, nil)
	})
	if warm.ok == 0 {
		return fmt.Errorf("warm-up: no list of %s succeeded: %s", cfg.entity, warm.firstErr)
	}

	// (a) creates at concurrency c.
	base := int(time.Now().UnixNano()%1_000_000_000) + 2_000_000_000
	phase(measure(ctx, fmt.Sprintf("create (POST), c=%d", cfg.c), cfg.c, cfg.maxCreates, cfg.duration, http.StatusCreated,
		func(ctx context.Context, i int) (int, error) {
			body, _ := json.Marshal(benchdata.Record(base + i))
			return c.do(ctx, "POST", "/api/v1/records/"+cfg.entity, body, nil)
		}))
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// (b) list pages, one at a time.
	for _, q := range []struct{ name, filter, sort string }{
		{"list `" + listFilter + "` sort " + listSort, listFilter, listSort},
		{"list `" + dateFilter + "` sort " + dateSort, dateFilter, dateSort},
	} {
		path := listPath(cfg.entity, q.filter, q.sort, 50)
		phase(measure(ctx, q.name+" limit 50, c=1", 1, cfg.n, cfg.phaseMax, http.StatusOK, func(ctx context.Context, i int) (int, error) {
			return c.do(ctx, "GET", path, nil, nil)
		}))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}

	// (b''') what the app asks first: a list page (default order, a
	// capped count) and a kanban board by stage (each column's first 20
	// cards and its capped count).
	for _, q := range []struct{ name, path string }{
		{"the app's list page (default order, count=true) limit 50, c=1", listPath(cfg.entity, "", "", 50) + "&count=true"},
		{"board by stage (20 cards and a count per column), c=1", "/api/v1/records/" + cfg.entity + "/board?field=stage&limit=20"},
	} {
		phase(measure(ctx, q.name, 1, cfg.n, cfg.phaseMax, http.StatusOK, func(ctx context.Context, i int) (int, error) {
			return c.do(ctx, "GET", q.path, nil, nil)
		}))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}

	// (b'') scans: a filter and sort on fields without an index, its
	// count, and group-bys over the whole entity. Fewer requests: each
	// reads every record.
	//
	// The store keeps a list or count that scans until the entity is next
	// written (findcache.go), so each request here asks a new one (the
	// same filter and a bound every deal passes, different each time):
	// the figures are of computing it. The last two phases ask the same
	// one again and again, and measure the kept answer.
	scans := max(cfg.n/25, 5)
	scanPathN := func(i int, count string) string {
		return listPath(cfg.entity, fmt.Sprintf("%s and amount != -%d", scanFilter, i+1), scanSort, 50) + count
	}
	for _, q := range []struct {
		name  string
		count string
	}{
		{"list `" + scanFilter + "` sort " + scanSort + " limit 50 (no index), c=1", ""},
		{"count=true of `" + scanFilter + "` sort " + scanSort + " (no index), c=1", "&count=true"},
	} {
		phase(measure(ctx, q.name, 1, scans, cfg.phaseMax, http.StatusOK, func(ctx context.Context, i int) (int, error) {
			return c.do(ctx, "GET", scanPathN(i, q.count), nil, nil)
		}))
	}
	for _, q := range []struct {
		name  string
		count string
	}{
		{"the same list again (kept until a write), c=1", ""},
		{"the same count=true again (kept until a write), c=1", "&count=true"},
	} {
		phase(measure(ctx, q.name, 1, cfg.n, cfg.phaseMax, http.StatusOK, func(ctx context.Context, i int) (int, error) {
			return c.do(ctx, "GET", scanPathN(-1, q.count), nil, nil)
		}))
	}
	// The store keeps an aggregate until the entity is next written; each
	// request here asks a new one (a filter every deal passes, with a
	// different bound), so the figures are of computing it. The filter is
	// on score, which has no index: a range on an indexed field that every
	// deal passes made SQLite walk that index and fetch each row by id.
	for _, g := range groupBys {
		phase(measure(ctx, "aggregate by "+g.groupBy+" ("+g.measures+"), c=1", 1, scans, cfg.phaseMax, http.StatusOK,
			func(ctx context.Context, i int) (int, error) {
				v := url.Values{"group_by": {g.groupBy}, "measures": {g.measures}, "filter": {fmt.Sprintf("score != -%d", i+1)}}
				return c.do(ctx, "GET", "/api/v1/records/"+cfg.entity+"/aggregate?"+v.Encode(), nil, nil)
			}))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// (b') the same list as a Sales Rep: their row rule (owner == user.id)
	// runs inside the same query.
	rc, _ := newClient(cfg.base, 1) // the same URL as c's
	if err := rc.login(ctx, RepEmail(0), RepPassword); err != nil {
		fmt.Fprintf(stderr, "no sales rep to sign in as (%v): skipping the rep list phase\n", err)
	} else {
		path := listPath(cfg.entity, listFilter, listSort, 50)
		phase(measure(ctx, "list as Sales Rep `"+listFilter+"` sort "+listSort+" limit 50, c=1", 1, cfg.n, cfg.phaseMax, http.StatusOK,
			func(ctx context.Context, i int) (int, error) { return rc.do(ctx, "GET", path, nil, nil) }))
	}

	// (c) reads by id, ids sampled from list pages in several orders.
	ids, err := sampleIDs(ctx, c, cfg.entity)
	if err != nil {
		return err
	}
	get := func(ctx context.Context, i int) (int, error) {
		id := ids[(i*7919)%len(ids)]
		return c.do(ctx, "GET", "/api/v1/records/"+cfg.entity+"/"+id, nil, nil)
	}
	phase(measure(ctx, "get by id, c=1", 1, cfg.n, cfg.phaseMax, http.StatusOK, get))
	phase(measure(ctx, fmt.Sprintf("get by id, c=%d", cfg.c), cfg.c, 10_000_000, cfg.duration, http.StatusOK, get))

	// (d) gets by id during a flood of counts: heavy-read admission must
	// keep them fast.
	if gets, counts, err := countFlood(ctx, cfg, get); err != nil {
		fmt.Fprintf(stderr, "count flood: %v\n", err)
	} else {
		phase(counts)
		phase(gets)
	}

	// (e) updates: a PATCH of one field of a sampled deal (no If-Match),
	// as the peer benchmark's P4 asks; last, since it changes what the
	// phases before read.
	phase(measure(ctx, fmt.Sprintf("update (PATCH amount), c=%d", cfg.c), cfg.c, 10_000_000, cfg.duration, http.StatusOK,
		func(ctx context.Context, i int) (int, error) {
			body, _ := json.Marshal(map[string]any{"amount": float64(i%100_000) + 0.5})
			return c.do(ctx, "PATCH", "/api/v1/records/"+cfg.entity+"/"+ids[(i*7919)%len(ids)], body, nil)
		}))

	fmt.Fprintf(stdout, "\n%s — %s\n\n", cfg.base, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(stdout, "| operation | concurrency | ok | errors | req/s | p50 | p99 |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Fprintf(stdout, "| %s | %d | %d | %d | %.1f | %s | %s |\n", r.name, r.conc, r.ok, r.errs, r.rate(), ms(r.pct(0.50)), ms(r.pct(0.99)))
	}
	for _, r := range results {
		if r.errs > 0 {
			return fmt.Errorf("%s: %d errors (first: %s)", r.name, r.errs, r.firstErr)
		}
	}
	return nil
}

// floodConns is how many count=true lists the flood keeps in flight at
// once, spread over the Sales Reps (10 each for 20 reps).
const floodConns = 200

// countFlood keeps floodConns count=true lists in flight — spread over the
// Sales Reps, each under their row rule, or from one user if there are
// none — while one client reads by id, for cfg.duration. Counts refused
// with 429 (a rep past their allowance of heavy reads) are the admission
// working, not errors; they are reported apart.
func countFlood(ctx context.Context, cfg httpConfig, get func(context.Context, int) (int, error)) (gets, counts *result, err error) {
	var clients []*client
	for k := range 20 {
		rc, _ := newClient(cfg.base, floodConns/20)
		if err := rc.login(ctx, RepEmail(k), RepPassword); err != nil {
			break
		}
		clients = append(clients, rc)
	}
	if len(clients) == 0 {
		rc, _ := newClient(cfg.base, floodConns)
		if err := rc.login(ctx, cfg.email, cfg.password); err != nil {
			return nil, nil, err
		}
		clients = append(clients, rc)
	}
	path := listPath(cfg.entity, listFilter, listSort, 50) + "&count=true"
	fctx, stop := context.WithCancel(ctx)
	var refused atomic.Int64
	done := make(chan *result)
	go func() {
		done <- measure(fctx, fmt.Sprintf("count=true lists (%d in flight from %d users)", floodConns, len(clients)), floodConns, 1<<30, time.Hour, http.StatusOK,
			func(ctx context.Context, i int) (int, error) {
				st, err := clients[i%len(clients)].do(ctx, "GET", path, nil, nil)
				if err == nil && st == http.StatusTooManyRequests {
					// measure counts it as an error (st is not 200),
					// whether or not the flood is ending.
					refused.Add(1)
					time.Sleep(100 * time.Millisecond) // as a client honouring Retry-After would, but sooner
				}
				return st, err
			})
	}()
	time.Sleep(time.Second) // let the flood fill the server before measuring
	gets = measure(ctx, fmt.Sprintf("get by id, c=1, during %d counts", floodConns), 1, 1<<30, cfg.duration, http.StatusOK, get)
	stop()
	counts = <-done
	// measure counted the refusals as errors; they are the admission's answer.
	counts.errs -= int(refused.Load())
	counts.name += fmt.Sprintf(", %d refused with 429", refused.Load())
	return gets, counts, nil
}

// sampleIDs collects record ids from list pages in several orders, so the
// reads spread over the table rather than the newest records.
// caughtUp waits until the workflow runner has followed the outbox to its
// end. jimubench load writes its records with no runner following, so a
// server started on its database first reads every one of their events:
// creates measured meanwhile shared the cores with that catch-up, which a
// deployment whose runner followed its writes never has.
func caughtUp(ctx context.Context, c *client, stderr io.Writer) error {
	t0 := time.Now()
	for {
		var st struct {
			CaughtUp bool `json:"caught_up"`
		}
		code, err := c.do(ctx, "GET", "/api/v1/workflows/status", nil, &st)
		switch {
		case err != nil:
			return fmt.Errorf("workflow runner status: %w", err)
		case code != http.StatusOK:
			return fmt.Errorf("workflow runner status: status %d", code)
		case st.CaughtUp:
			fmt.Fprintf(stderr, "the workflow runner had followed the outbox to its end after %.1f s\n", time.Since(t0).Seconds())
			return nil
		case time.Since(t0) > 10*time.Minute:
			return errors.New("the workflow runner did not catch up with the outbox in 10 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func sampleIDs(ctx context.Context, c *client, entity string) ([]string, error) {
	seen := map[string]bool{}
	var ids []string
	for _, q := range []struct{ filter, sort string }{
		{"", "-id"}, {"", "id"}, {"", "-amount"}, {"", "amount"}, {"", "close_date"}, {"", "-close_date"},
		{`stage == "lost"`, "-amount"}, {`stage == "qualified"`, "close_date"},
	} {
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		st, err := c.do(ctx, "GET", listPath(entity, q.filter, q.sort, 500), nil, &page)
		if err != nil {
			return nil, fmt.Errorf("sample ids: %w", err)
		}
		if st != http.StatusOK {
			return nil, fmt.Errorf("sample ids: list sorted by %s: status %d", q.sort, st)
		}
		for _, it := range page.Items {
			if !seen[it.ID] {
				seen[it.ID] = true
				ids = append(ids, it.ID)
			}
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("sample ids: %s has no records; run jimubench load first", entity)
	}
	return ids, nil
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}
