// Package servertest runs Jimu's HTTP server for tests: assembled over a
// real store as jimu serve assembles it, served on a loopback port, an
// admin signed in. The feature modules (forms, workflows, dashboards) test
// their routes with it; engine/server's own tests share its helpers.
package servertest

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

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// The admin every Env is signed in as; other users a test creates may use
// the same password.
const AdminEmail, AdminPassword = "admin@example.com", "correct horse battery"

// Env is a running Jimu and a client signed in to it.
type Env struct {
	T      testing.TB
	Base   string // http://127.0.0.1:port
	Token  string // bearer token; "" sends none
	Client *http.Client
	Deps   server.Deps
}

// Start assembles Jimu over st (server.Assemble) with the given auth
// options, lets mods change the services and add modules, serves it, and
// signs the admin in. The server stops and st closes when the test ends.
func Start(t testing.TB, st store.Store, opts auth.Options, mods ...func(*server.Deps)) *Env {
	t.Helper()
	ctx := context.Background()
	log := opts.Logger // a test that reads the log passes its own
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d, err := server.Assemble(ctx, st, server.Config{Log: log, Auth: opts, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Auth.EnsureAdmin(ctx, AdminEmail, AdminPassword); err != nil {
		t.Fatal(err)
	}
	for _, f := range mods {
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
	e := &Env{T: t, Base: "http://" + ln.Addr().String(), Deps: d}
	e.Token = e.Login(AdminEmail, AdminPassword)
	return e
}

// Login signs in and returns the bearer token.
func (e *Env) Login(email, password string) string {
	e.T.Helper()
	var login struct{ Token string }
	saved := e.Token
	e.Token = ""
	e.Do("POST", "/api/v1/auth/login", map[string]any{"email": email, "password": password}, 200, &login)
	e.Token = saved
	if !strings.HasPrefix(login.Token, "jimu_") {
		e.T.Fatalf("login token %q", login.Token)
	}
	return login.Token
}

// As is e acting with another user's token.
func (e *Env) As(email, password string) *Env {
	e.T.Helper()
	c := *e
	c.Token = e.Login(email, password)
	return &c
}

// Response is an answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the answer as an object.
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, r.Body)
	}
	return m
}

// Raw sends a request; body may be nil, a []byte, a string or a value to
// marshal. headers are name, value pairs.
func (e *Env) Raw(method, path string, body any, headers ...string) *Response {
	e.T.Helper()
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
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.Base+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.Token != "" {
		req.Header.Set("Authorization", "Bearer "+e.Token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := http.DefaultClient
	if e.Client != nil {
		client = e.Client
	}
	res, err := client.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return &Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// Do sends a request, checks the status and decodes the answer into out.
func (e *Env) Do(method, path string, body any, status int, out any, headers ...string) *Response {
	e.T.Helper()
	r := e.Raw(method, path, body, headers...)
	if r.Status != status {
		e.T.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, status, r.Body)
	}
	if out != nil {
		// Decode into a zero value: json.Unmarshal merges into maps.
		v := reflect.ValueOf(out).Elem()
		v.Set(reflect.Zero(v.Type()))
		if err := json.Unmarshal(r.Body, out); err != nil {
			e.T.Fatalf("%s %s: decode: %v: %s", method, path, err, r.Body)
		}
	}
	return r
}

// ProblemFields checks a problem+json answer and returns field → code.
func ProblemFields(t testing.TB, r *Response) map[string]string {
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

// Stores opens each backend for tests that must hold on both: SQLite in a
// temporary directory, and MongoDB (FerretDB, or JIMU_TEST_MONGO_URI; a
// test binary using it calls mongotest.Main from TestMain).
var Stores = map[string]func(t *testing.T) store.Store{
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
