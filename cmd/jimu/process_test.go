package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
)

// These tests run jimu serve as real processes: the binary is built once
// per test run (or JIMU_BIN names one).

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func jimuBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if b := os.Getenv("JIMU_BIN"); b != "" {
			binPath = b
			return
		}
		dir, err := os.MkdirTemp("", "jimu-bin-*")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "jimu")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

const procAdmin, procPassword = "admin@example.com", "a long enough password"

// node is one jimu serve process.
type node struct {
	t     *testing.T
	cmd   *exec.Cmd
	base  string
	token string
	log   *bytes.Buffer
	done  chan struct{}
	mu    sync.Mutex
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNode starts jimu serve with args and waits until it answers.
func startNode(t *testing.T, name string, args ...string) *node {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(jimuBin(t), append([]string{"serve", "--http", addr, "--node", name, "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "JIMU_ADMIN_EMAIL="+procAdmin, "JIMU_ADMIN_PASSWORD="+procPassword)
	n := &node{t: t, cmd: cmd, base: "http://" + addr, log: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &n.mu, w: n.log}, &lockedWriter{mu: &n.mu, w: n.log}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(n.done) }()
	t.Cleanup(n.kill)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-n.done:
			t.Fatalf("%s exited at start: %s", name, n.logs())
		default:
		}
		if res, err := http.Get(n.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within 60s: %s", name, n.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var login struct{ Token string }
	n.do("POST", "/api/v1/auth/login", map[string]any{"email": procAdmin, "password": procPassword}, 200, &login)
	n.token = login.Token
	return n
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (n *node) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// kill is kill -9.
func (n *node) kill() {
	if n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.done
	}
}

func (n *node) do(method, path string, body any, status int, out any) {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		n.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			n.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// count is how many records of entity a filter selects.
func (n *node) count(entity, filter string) int64 {
	n.t.Helper()
	var res struct{ Count int64 }
	n.do("GET", "/api/v1/records/"+entity+"?limit=1&count=true&filter="+url.QueryEscape(filter), nil, 200, &res)
	return res.Count
}

// all lists every record of entity.
func (n *node) all(entity string) []map[string]any {
	n.t.Helper()
	var out []map[string]any
	cursor := ""
	for {
		var page struct {
			Items      []map[string]any
			NextCursor string `json:"next_cursor"`
		}
		n.do("GET", "/api/v1/records/"+entity+"?limit=500&cursor="+url.QueryEscape(cursor), nil, 200, &page)
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

type procRun struct {
	ID      string
	Status  string
	Attempt int
	Input   struct{ At time.Time }
	Record  string `json:"record_id"`
}

// runs lists every run of a workflow.
func (n *node) runs(workflow string) []procRun {
	n.t.Helper()
	var out []procRun
	before := ""
	for {
		var page struct {
			Items      []procRun
			NextBefore string `json:"next_before"`
		}
		n.do("GET", "/api/v1/workflows/runs?limit=200&workflow="+workflow+"&before="+before, nil, 200, &page)
		out = append(out, page.Items...)
		if page.NextBefore == "" {
			return out
		}
		before = page.NextBefore
	}
}

// until polls cond until it holds, failing after limit with what the
// nodes logged.
func until(t *testing.T, limit time.Duration, what string, cond func() bool, nodes ...*node) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			for _, n := range nodes {
				t.Logf("log of %s:\n%s", n.cmd.Args[4], n.logs())
			}
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hookServer counts deliveries by Idempotency-Key; with hold set it keeps
// every request from the hold-th on waiting until release is closed.
type hookServer struct {
	URL     string
	mu      sync.Mutex
	keys    map[string]int
	total   int
	hold    int
	reached chan struct{}
	release chan struct{}
}

func newHookServer(t *testing.T, hold int) *hookServer {
	h := &hookServer{keys: map[string]int{}, hold: hold, reached: make(chan struct{}), release: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		h.mu.Lock()
		h.keys[r.Header.Get("Idempotency-Key")]++
		h.total++
		held := h.hold > 0 && h.total >= h.hold
		if h.hold > 0 && h.total == h.hold {
			close(h.reached)
		}
		h.mu.Unlock()
		if held {
			<-h.release
		}
		w.WriteHeader(200)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	h.URL = "http://" + ln.Addr().String() + "/hook"
	return h
}

func (h *hookServer) distinct() (int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.keys), h.total
}

func procDealEntity(n *node) {
	n.do("POST", "/api/v1/meta/entities", map[string]any{"name": "deal", "ownership": true, "fields": []any{
		map[string]any{"name": "name", "type": "text", "required": true},
		map[string]any{"name": "touches", "type": "integer"},
	}}, 201, nil)
}

// createDeals creates n deals through node, c at a time.
func createDeals(t *testing.T, nodes []*node, total, c int) {
	var wg sync.WaitGroup
	errs := make(chan error, c)
	next := make(chan int)
	go func() {
		for i := 0; i < total; i++ {
			next <- i
		}
		close(next)
	}()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				n := nodes[i%len(nodes)]
				b, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("Deal %04d", i)})
				req, _ := http.NewRequest("POST", n.base+"/api/v1/records/deal", bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+n.token)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 201 {
					errs <- fmt.Errorf("create: %d", res.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// checkOnce checks that every deal has exactly one effect of each of the
// rule's actions: touches 1 (set_fields), one task hanging on it
// (create_task), and one webhook key per run.
func checkOnce(t *testing.T, n *node, deals int) {
	t.Helper()
	if c := n.count("deal", "touches == 1"); c != int64(deals) {
		t.Errorf("%d deals with touches 1, want %d", c, deals)
	}
	if c := n.count("deal", "touches != 1"); c != 0 {
		t.Errorf("%d deals with touches other than 1", c)
	}
	per := map[string]int{}
	for _, task := range n.all("task") {
		per[task["parent_id"].(string)]++
	}
	for _, d := range n.all("deal") {
		if per[d["id"].(string)] != 1 {
			t.Errorf("deal %s has %d tasks", d["id"], per[d["id"].(string)])
		}
	}
	if len(per) != deals {
		t.Errorf("tasks hang on %d deals, want %d", len(per), deals)
	}
}

func onceRule(n *node, hook string) string {
	var r struct{ ID string }
	n.do("POST", "/api/v1/meta/workflows", map[string]any{"name": "once", "entity": "deal", "enabled": true,
		"trigger": map[string]any{"type": "record.created"},
		"actions": []any{
			map[string]any{"type": "set_fields", "values": map[string]any{"touches": "(record.touches ?? 0) + 1"}},
			map[string]any{"type": "create_task", "title": "Onboard {{ record.name }}"},
			map[string]any{"type": "webhook", "url": hook},
		}}, 201, &r)
	return r.ID
}

// TestKillMidRun: with 1,000 events queued, jimu serve is killed with
// SIGKILL in the middle of running them; restarted, it finishes them, and
// every effect of every rule exists exactly once per event: each deal's
// set_fields, its task, and one webhook key per run (a delivery in flight
// when the process died is sent again with the same Idempotency-Key).
func TestKillMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts jimu serve twice and runs 1,000 events")
	}
	db := "sqlite://" + filepath.Join(t.TempDir(), "jimu.db")
	hook := newHookServer(t, 300)
	args := []string{"--db", db, "--webhook-allow", "127.0.0.1", "--workflow-run-timeout", "10s", "--workflow-workers", "8"}
	n := startNode(t, "node-1", args...)
	procDealEntity(n)
	id := onceRule(n, hook.URL)
	const deals = 1000
	createDeals(t, []*node{n}, deals, 8)
	select {
	case <-hook.reached:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the runner did not get to 300 deliveries: %s", n.logs())
	}
	n.kill()
	keys, _ := hook.distinct()
	if keys >= deals {
		t.Fatalf("killed after all %d runs: not mid-run", keys)
	}
	t.Logf("killed with %d of %d webhooks delivered", keys, deals)
	close(hook.release)

	n = startNode(t, "node-1", args...) // the same node name: its orphans need no lease to pass
	until(t, 5*time.Minute, "every run to succeed", func() bool {
		rs := n.runs(id)
		if len(rs) != deals {
			return false
		}
		for _, r := range rs {
			if r.Status != "succeeded" {
				return false
			}
		}
		return true
	})
	rs := n.runs(id)
	resumed := 0
	for _, r := range rs {
		if r.Attempt > 1 {
			resumed++
		}
	}
	if resumed == 0 {
		t.Fatal("no run was taken over after the restart: the kill did not land mid-run")
	}
	checkOnce(t, n, deals)
	if keys, total := hook.distinct(); keys != deals {
		t.Fatalf("%d webhook keys (of %d deliveries), want %d", keys, total, deals)
	}
	t.Logf("%d runs resumed after the restart", resumed)
}

// twoNodes: two jimu serve processes on one store handle each event once
// and fire each scheduled time once, and when the one holding the runner
// is killed the other takes over without firing a time twice.
func twoNodes(t *testing.T, db string, deals int) {
	hook := newHookServer(t, 0)
	args := []string{"--db", db, "--webhook-allow", "127.0.0.1", "--workflow-run-timeout", "30s"}
	a := startNode(t, "node-a", args...)
	procDealEntity(a)
	a.do("POST", "/api/v1/meta/entities", map[string]any{"name": "beat", "fields": []any{
		map[string]any{"name": "name", "type": "text"}}}, 201, nil)
	a.do("POST", "/api/v1/records/beat", map[string]any{"name": "the one"}, 201, nil)
	id := onceRule(a, hook.URL)
	var sch struct{ ID string }
	a.do("POST", "/api/v1/meta/workflows", map[string]any{"name": "every 2 s", "entity": "beat", "enabled": true,
		"trigger": map[string]any{"type": "schedule", "cron": "*/2 * * * * *"},
		"actions": []any{map[string]any{"type": "webhook", "url": hook.URL}}}, 201, &sch)
	b := startNode(t, "node-b", args...) // after the metadata: its catalog loads at start
	nodes := []*node{a, b}
	createDeals(t, nodes, deals, 4)
	until(t, 5*time.Minute, "every event's run", func() bool {
		rs := a.runs(id)
		counts := map[string]int{}
		for _, r := range rs {
			counts[r.Status]++
		}
		for _, r := range rs {
			if r.Status == "failed" || r.Status == "dead" {
				var full map[string]any
				a.do("GET", "/api/v1/workflows/runs/"+r.ID, nil, 200, &full)
				b, _ := json.Marshal(full)
				t.Fatalf("run %s ended %s: %s", r.ID, r.Status, b)
			}
		}
		return len(rs) == deals && counts["succeeded"] == deals
	}, a, b)
	checkOnce(t, a, deals)
	until(t, time.Minute, "three scheduled times", func() bool { return len(a.runs(sch.ID)) >= 3 })

	// Kill whichever node holds the runner; the other takes over.
	var st struct{ Holder string }
	a.do("GET", "/api/v1/workflows/status", nil, 200, &st)
	holder, other := a, b
	if st.Holder == "node-b" {
		holder, other = b, a
	}
	before := len(other.runs(sch.ID))
	holder.kill()
	until(t, time.Minute, "the other node to take over the schedule", func() bool { return len(other.runs(sch.ID)) >= before+3 })
	var st2 struct{ Holder string }
	other.do("GET", "/api/v1/workflows/status", nil, 200, &st2)
	if st2.Holder == st.Holder {
		t.Fatalf("the runner is still held by the killed node %s", st.Holder)
	}
	seen := map[time.Time]int{}
	for _, r := range other.runs(sch.ID) {
		seen[r.Input.At.UTC()]++
	}
	for at, n := range seen {
		if n != 1 {
			t.Errorf("scheduled time %v fired %d times", at, n)
		}
	}
	if keys, total := hook.distinct(); keys != total {
		t.Logf("%d deliveries for %d keys (a repeat is allowed only for a delivery cut by the kill)", total, keys)
	}
}

func TestTwoNodesSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two jimu serve processes")
	}
	twoNodes(t, "sqlite://"+filepath.Join(t.TempDir(), "jimu.db"), 200)
}

func TestTwoNodesMongo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two jimu serve processes")
	}
	// FerretDB v1 reads a whole collection per query: fewer events.
	twoNodes(t, mongotest.URI(t), 60)
}
