package server_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/server/servertest"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// env is a running Jimu: a real SQLite file, the real HTTP server on a
// loopback port, and an admin signed in.
type env struct {
	t          testing.TB
	base       string
	token      string
	st         store.Store
	httpClient *http.Client // nil: http.DefaultClient
}

const adminEmail, adminPass = servertest.AdminEmail, servertest.AdminPassword

func start(t testing.TB) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, st)
}

// stores opens each backend for tests that must hold on both.
var stores = servertest.Stores

func TestMain(m *testing.M) { mongotest.Main(m) }

func startWith(t testing.TB, st store.Store) *env {
	t.Helper()
	e, _ := startServer(t, st, auth.Options{})
	return e
}

// startServer assembles Jimu on st as cmd/jimu does (servertest.Start),
// with the given auth options (the roles supply what opts leaves unset),
// serves it on a loopback port and signs the admin in.
func startServer(t testing.TB, st store.Store, opts auth.Options, deps ...func(*server.Deps)) (*env, *auth.Service) {
	t.Helper()
	se := servertest.Start(t, st, opts, deps...)
	return &env{t: t, base: se.Base, token: se.Token, st: st}, se.Deps.Auth
}

type response = servertest.Response

func (e *env) client() *servertest.Env {
	return &servertest.Env{T: e.t, Base: e.base, Token: e.token, Client: e.httpClient}
}

// raw sends a request; body may be nil, a []byte, a string or a value to
// marshal.
func (e *env) raw(method, path string, body any, headers ...string) *response {
	e.t.Helper()
	return e.client().Raw(method, path, body, headers...)
}

// do sends a request, checks the status and decodes the answer into out.
func (e *env) do(method, path string, body any, status int, out any, headers ...string) *response {
	e.t.Helper()
	return e.client().Do(method, path, body, status, out, headers...)
}

// problemFields checks a problem+json answer and returns field → code.
func problemFields(t *testing.T, r *response) map[string]string {
	t.Helper()
	return servertest.ProblemFields(t, r)
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
