package server_test

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// TestAppFiles: the app's files with their types and cache lifetimes,
// index.html for the app's own routes, and never the app for the server's
// paths or for a missing file.
func TestAppFiles(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	index := `<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body></body></html>`
	files := fstest.MapFS{
		"index.html":              {Data: []byte(index)},
		"favicon.svg":             {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		"assets/index-abc123.js":  {Data: []byte(`console.log(1)`)},
		"assets/index-def456.css": {Data: []byte(`body{}`)},
	}
	e, _ := startServer(t, st, auth.Options{}, func(d *server.Deps) { d.UI = files })
	get := func(path string, headers ...string) *response {
		t.Helper()
		return e.raw("GET", path, nil, headers...)
	}

	for _, c := range []struct{ path, ctype, cache string }{
		{"/", "text/html", "no-cache"},
		{"/e/deal/0190", "text/html", "no-cache"},
		{"/admin/roles/sales_rep", "text/html", "no-cache"},
		{"/assets/index-abc123.js", "text/javascript", "public, max-age=31536000, immutable"},
		{"/assets/index-def456.css", "text/css", "public, max-age=31536000, immutable"},
		{"/favicon.svg", "image/svg+xml", "no-cache"},
	} {
		r := get(c.path)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), c.ctype) || r.Header.Get("Cache-Control") != c.cache {
			t.Errorf("%s: %d %q %q, want 200 %s %q", c.path, r.Status, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"), c.ctype, c.cache)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s: security headers missing: %v", c.path, r.Header)
		}
		if c.ctype == "text/html" && string(r.Body) != index {
			t.Errorf("%s: not index.html: %.60s", c.path, r.Body)
		}
	}
	// Never the app: the server's own paths and files that are not there.
	for _, p := range []string{"/api/v1/nothing", "/api/v1", "/healthz/more", "/readyz/x", "/f/a-form", "/assets/old-999.js", "/robots.txt"} {
		r := get(p)
		if r.Status < 400 || bytes.Contains(r.Body, []byte("<html")) {
			t.Errorf("%s: %d %.80s, want an error that is not the app", p, r.Status, r.Body)
		}
	}
	// A path that climbs out is cleaned to one inside: at most the app.
	if r := get("/../../etc/passwd"); bytes.Contains(r.Body, []byte("root:")) || (r.Status == 200 && string(r.Body) != index) {
		t.Errorf("/../../etc/passwd: %d %.80s", r.Status, r.Body)
	}
	if r := get("/healthz"); r.Status != 200 || bytes.Contains(r.Body, []byte("<html")) {
		t.Errorf("/healthz: %d %s", r.Status, r.Body)
	}
	// index.html revalidates by its ETag.
	tag := get("/").Header.Get("ETag")
	if r := get("/e/deal", "If-None-Match", tag); tag == "" || r.Status != http.StatusNotModified {
		t.Errorf("revalidating index.html with ETag %q: %d", tag, r.Status)
	}
	if r := e.raw("HEAD", "/assets/index-abc123.js", nil); r.Status != 200 {
		t.Errorf("HEAD of an asset: %d", r.Status)
	}
}

// TestNoApp: a server without the app answers / with a 404 problem, as
// before the app existed.
func TestNoApp(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := startServer(t, st, auth.Options{})
	if r := e.raw("GET", "/", nil); r.Status != 404 || !strings.Contains(r.Header.Get("Content-Type"), "problem+json") {
		t.Errorf("/ without an app: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
}
