package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// env is a running Jimu: a real SQLite file, the real HTTP server on a
// loopback port, and an admin signed in.
type env struct {
	t      testing.TB
	base   string
	token  string
	st     store.Store
	client *http.Client // nil: http.DefaultClient
}

const adminEmail, adminPass = "admin@example.com", "correct horse battery"

func start(t testing.TB) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, st)
}

// stores opens each backend for tests that must hold on both: SQLite, and
// MongoDB (FerretDB, or JIMU_TEST_MONGO_URI).
var stores = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	},
	"mongo": func(t *testing.T) store.Store {
		st, err := mongo.Open(context.Background(), mongotest.URI(t))
		if err != nil {
			t.Fatal(err)
		}
		return st
	},
}

func TestMain(m *testing.M) { mongotest.Main(m) }

func startWith(t testing.TB, st store.Store) *env {
	t.Helper()
	e, _ := startServer(t, st, auth.Options{})
	return e
}

// startServer assembles Jimu on st as cmd/jimu does, with the given auth
// options (the roles supply RequireSecondFactor unless opts does), serves
// it on a loopback port and signs the admin in.
func startServer(t testing.TB, st store.Store, opts auth.Options, deps ...func(*server.Deps)) (*env, *auth.Service) {
	t.Helper()
	ctx := context.Background()
	log := opts.Logger // a test that reads the log passes its own
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cat := catalog.New(st, log)
	if err := cat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	roles := access.NewRoles(st, cat)
	if err := roles.Load(ctx); err != nil {
		t.Fatal(err)
	}
	opts.Logger = log
	if opts.RequireSecondFactor == nil {
		opts.RequireSecondFactor = roles.RequireSecondFactor
	}
	if opts.AdminRoles == nil {
		opts.AdminRoles = roles.AdminRoles
	}
	au := auth.New(st, opts)
	if _, _, err := au.EnsureAdmin(ctx, adminEmail, adminPass); err != nil {
		t.Fatal(err)
	}
	policy := &access.Policy{Roles: roles, Dir: access.NewDirectory(st, au), St: st, Log: log}
	d := server.Deps{Store: st, Catalog: cat, Records: records.New(st, cat, policy, log), Auth: au,
		Access: policy, Log: log, Version: "test"}
	for _, f := range deps {
		f(&d)
	}
	srv := server.New(d)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		// Go's client dials ahead and may park a connection that never
		// carries a request; Shutdown would wait the server's read timeout
		// (30 s) for it.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		srv.Shutdown(context.Background())
		st.Close()
	})
	e := &env{t: t, base: "http://" + ln.Addr().String(), st: st}
	var login struct{ Token string }
	e.do("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass}, 200, &login)
	if !strings.HasPrefix(login.Token, "jimu_") {
		t.Fatalf("login token %q", login.Token)
	}
	e.token = login.Token
	return e, au
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.Body)
	}
	return m
}

// raw sends a request; body may be nil, a []byte, a string or a value to
// marshal.
func (e *env) raw(method, path string, body any, headers ...string) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := http.DefaultClient
	if e.client != nil {
		client = e.client
	}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// do sends a request, checks the status and decodes the answer into out.
func (e *env) do(method, path string, body any, status int, out any, headers ...string) *response {
	e.t.Helper()
	r := e.raw(method, path, body, headers...)
	if r.Status != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, status, r.Body)
	}
	if out != nil {
		// Decode into a zero value: json.Unmarshal merges into maps.
		v := reflect.ValueOf(out).Elem()
		v.Set(reflect.Zero(v.Type()))
		if err := json.Unmarshal(r.Body, out); err != nil {
			e.t.Fatalf("%s %s: decode: %v: %s", method, path, err, r.Body)
		}
	}
	return r
}

// problemFields checks a problem+json answer and returns field → code.
func problemFields(t *testing.T, r *response) map[string]string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q, want application/problem+json: %s", ct, r.Body)
	}
	var p struct {
		Status int
		Detail string
		Errors []struct{ Field, Code, Message string }
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != r.Status {
		t.Fatalf("problem status %d, HTTP status %d", p.Status, r.Status)
	}
	out := map[string]string{}
	for _, e := range p.Errors {
		if e.Message == "" {
			t.Fatalf("error without a message: %s", r.Body)
		}
		out[e.Field] = e.Code
	}
	return out
}

// dealEntity is the example entity.
var dealEntity = map[string]any{"name": "deal", "label": "Deal", "ownership": true, "fields": []any{
	map[string]any{"name": "name", "type": "text", "required": true, "max_length": 200},
	map[string]any{"name": "amount", "type": "currency", "min": 0, "indexed": true},
	map[string]any{"name": "stage", "type": "select", "indexed": true,
		"options": []any{map[string]any{"value": "lead"}, map[string]any{"value": "qualified"}, map[string]any{"value": "won"}, map[string]any{"value": "lost"}}},
	map[string]any{"name": "close_date", "type": "date"},
	map[string]any{"name": "email", "type": "email", "unique": true},
}, "rules": []any{map[string]any{"name": "close_after_creation", "field": "close_date",
	"expression": "close_date == nil or close_date >= created_at", "message": "Close date cannot be before creation"}}}
