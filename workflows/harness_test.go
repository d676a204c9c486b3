package workflows_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/server/servertest"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/workflows"
	"github.com/jimu-crm/jimu/workflows/mail"
	"github.com/jimu-crm/jimu/workflows/mailtest"
	"github.com/jimu-crm/jimu/workflows/webhook"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mailtest.Stop()
	mongotest.Stop()
	os.Exit(code)
}

var stores = servertest.Stores

// clock is the workflow service's time, moved by the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// env is Jimu with the workflow module, its runner driven by the test.
type env struct {
	*servertest.Env
	t     testing.TB
	wf    *workflows.Service
	clock *clock
	ctx   context.Context
	hooks *webhook.Client
}

type option func(*workflows.Config)

// loop is the option that runs the runner's own loop on the real clock,
// as jimu serve does, instead of the test driving it.
var loop option = func(c *workflows.Config) { c.Now = nil }

func withLimits(l workflows.Limits) option { return func(c *workflows.Config) { c.Limits = l } }

func withMail(m *mailtest.Server) option {
	return func(c *workflows.Config) {
		ml, err := mail.New(mail.Config{Host: m.Host, Port: m.Port, From: "Jimu <crm@example.com>", TLS: "none"})
		if err != nil {
			panic(err)
		}
		c.Mail = ml
	}
}

// start serves Jimu over st with the workflow module. The runner is
// driven by drain; webhooks may reach loopback (the test's servers).
func start(t testing.TB, st store.Store, opts ...option) *env {
	t.Helper()
	ck := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
	hooks := webhook.New(&webhook.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	hooks.Timeout = 5 * time.Second
	hooks.Sleep = func(context.Context, time.Duration) error { return nil }
	var wf *workflows.Service
	looping := false
	e := servertest.Start(t, st, auth.Options{}, func(d *server.Deps) {
		cfg := workflows.Config{Store: d.Store, Catalog: d.Catalog, Records: d.Records, Activities: d.Activities,
			Auth: d.Auth, Access: d.Access, Webhooks: hooks, Node: "test-node", Now: ck.Now,
			Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			Limits: workflows.Limits{Backoff: time.Minute, Workers: 4}}
		for _, o := range opts {
			o(&cfg)
		}
		looping = cfg.Now == nil
		wf = workflows.New(cfg)
		if err := wf.Ensure(context.Background()); err != nil {
			t.Fatal(err)
		}
		d.Modules = append(d.Modules, &workflows.Module{Service: wf})
	})
	ctx, cancel := context.WithCancel(context.Background())
	if looping {
		wf.Start(ctx)
	} else {
		wf.StartWorkers(ctx)
	}
	t.Cleanup(func() { cancel(); wf.Wait() })
	return &env{Env: e, t: t, wf: wf, clock: ck, ctx: ctx, hooks: hooks}
}

// drain runs the runner until nothing is due.
func (e *env) drain() {
	e.t.Helper()
	if err := e.wf.Drain(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// rule saves a rule and returns its id.
func (e *env) rule(r map[string]any) string {
	e.t.Helper()
	var out struct{ ID string }
	e.Do("POST", "/api/v1/meta/workflows", r, 201, &out)
	return out.ID
}

// run is a run as the log shows it.
type run struct {
	ID        string
	Workflow  string
	Version   int64 `json:"workflow_version"`
	Trigger   string
	RecordID  string `json:"record_id"`
	Status    string
	Attempt   int
	Depth     int
	Note      string
	Error     string
	Reason    string
	Missed    string
	DueAt     time.Time `json:"due_at"`
	Touched   []string
	Condition *struct {
		Result bool
		Error  string
	}
	Input struct {
		Record  map[string]any
		Old     map[string]any
		Payload any
	}
	Steps []struct {
		Index    int
		Type     string
		Status   string
		Output   map[string]any
		Error    string
		Reason   string
		Attempts int
		Effects  []string
	}
}

func (e *env) runs(query string) []run {
	e.t.Helper()
	var out struct{ Items []run }
	e.Do("GET", "/api/v1/workflows/runs?"+query, nil, 200, &out)
	return out.Items
}

// deals defines the walk-through's deal entity and a finance team.
func (e *env) deals() {
	e.t.Helper()
	e.Do("POST", "/api/v1/meta/entities", map[string]any{"name": "deal", "label": "Deal", "ownership": true, "fields": []any{
		map[string]any{"name": "name", "type": "text", "required": true},
		map[string]any{"name": "amount", "type": "currency", "min": 0},
		map[string]any{"name": "stage", "type": "select", "options": []any{
			map[string]any{"value": "lead"}, map[string]any{"value": "qualified"}, map[string]any{"value": "won"}, map[string]any{"value": "lost"}}},
		map[string]any{"name": "close_date", "type": "date"},
		map[string]any{"name": "score", "type": "integer"},
		map[string]any{"name": "touches", "type": "integer"},
		map[string]any{"name": "email", "type": "email"},
	}}, 201, nil)
}

func (e *env) deal(body map[string]any) map[string]any {
	e.t.Helper()
	var out map[string]any
	e.Do("POST", "/api/v1/records/deal", body, 201, &out)
	return out
}

func (e *env) me() string {
	e.t.Helper()
	var me struct{ ID string }
	e.Do("GET", "/api/v1/auth/me", nil, 200, &me)
	return me.ID
}

// receiver is a webhook receiver on loopback that records what it gets;
// answer decides the status of each request (nil: 200).
type receiver struct {
	URL    string
	mu     sync.Mutex
	got    []received
	answer func(n int, r *http.Request) int
}

type received struct {
	Header http.Header
	Body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{Header: r.Header.Clone(), Body: b})
		n, answer := len(rc.got), rc.answer
		rc.mu.Unlock()
		status := 200
		if answer != nil {
			status = answer(n, r)
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"ok": status < 300})
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rc.URL = "http://" + ln.Addr().String() + "/hook"
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}
