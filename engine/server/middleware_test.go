package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/server"
)

// panicky is a module whose routes panic, public and behind sign-in.
type panicky struct{}

func (panicky) Routes(public, api fiber.Router) {
	public.Get("/test/panic", func(*fiber.Ctx) error { panic("boom in a public handler") })
	api.Get("/test/panic", func(*fiber.Ctx) error {
		var m map[string]int
		m["x"]++ // a nil map write: a runtime error, not a panic(string)
		return nil
	})
}

// syncBuffer is a log sink the server writes from its own goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPanicKeepsServing: a handler that panics gets a 500 problem document
// naming the request id, the stack is logged with that id, and the server
// goes on answering.
func TestPanicKeepsServing(t *testing.T) {
	var logs syncBuffer
	e, _ := startServer(t, stores["sqlite"](t), auth.Options{}, func(d *server.Deps) {
		d.Modules = append(d.Modules, panicky{})
		d.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	for _, path := range []string{"/test/panic", "/api/v1/test/panic"} {
		for range 3 {
			r := e.raw("GET", path, nil)
			if r.Status != http.StatusInternalServerError {
				t.Fatalf("%s: status %d, want 500: %s", path, r.Status, r.Body)
			}
			problemFields(t, r)
			id := r.Header.Get(server.HeaderRequestID)
			if id == "" || !strings.Contains(string(r.Body), id) {
				t.Fatalf("%s: the answer does not name its request id %q: %s", path, id, r.Body)
			}
			if strings.Contains(string(r.Body), "boom") || strings.Contains(string(r.Body), "nil map") {
				t.Fatalf("%s: the panic's text leaked into the answer: %s", path, r.Body)
			}
			log := logs.String()
			if !strings.Contains(log, "request_id="+id) || !strings.Contains(log, "goroutine") {
				t.Fatalf("%s: no stack logged with request id %s:\n%s", path, id, log)
			}
		}
	}
	e.do("GET", "/healthz", nil, 200, nil)
	e.do("GET", "/api/v1/auth/me", nil, 200, nil)
}

// TestRequestID: a proxy's request id is kept when it is a short token, and
// replaced otherwise, so a log line never carries a client's arbitrary
// text.
func TestRequestID(t *testing.T) {
	e := start(t)
	if got := e.raw("GET", "/healthz", nil, server.HeaderRequestID, "abc-123_X").Header.Get(server.HeaderRequestID); got != "abc-123_X" {
		t.Fatalf("request id %q, want the client's", got)
	}
	for _, bad := range []string{"a b", strings.Repeat("x", 65), "x\"y", "日本"} {
		got := e.raw("GET", "/healthz", nil, server.HeaderRequestID, bad).Header.Get(server.HeaderRequestID)
		if got == bad || got == "" {
			t.Fatalf("request id %q kept for client value %q", got, bad)
		}
	}
}

// TestOversizedBodyIsReadable: a body over the limit gets a 413 problem
// document that plain clients can read: Go's net/http client, which reads
// the answer while it still sends, and a client that sends the whole body
// before it reads (as Python's urllib does). Without the drain both saw a
// connection reset instead.
func TestOversizedBodyIsReadable(t *testing.T) {
	e := start(t)
	e.do("POST", "/api/v1/meta/entities", dealEntity, 201, nil)
	for _, size := range []int{2 << 20, 10 << 20} {
		body := bytes.Repeat([]byte("x"), size)
		req, err := http.NewRequest("POST", e.base+"/api/v1/records/deal", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.token)
		res, err := (&http.Client{}).Do(req)
		if err != nil {
			t.Fatalf("%d bytes, net/http: %v", size, err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatalf("%d bytes, net/http: reading the answer: %v", size, err)
		}
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(got), "larger than") {
			t.Fatalf("%d bytes, net/http: %d %s", size, res.StatusCode, got)
		}

		status, answer, err := sendAllThenRead(e.base, "/api/v1/records/deal", e.token, body)
		if err != nil {
			t.Fatalf("%d bytes, send-then-read client: %v", size, err)
		}
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(answer, "application/problem+json") {
			t.Fatalf("%d bytes, send-then-read client: status %d: %s", size, status, answer)
		}
	}
	// The server still answers on new connections.
	e.do("GET", "/api/v1/records/deal", nil, 200, nil)
}

// sendAllThenRead writes a whole request on a raw connection before it
// reads a byte of the answer.
func sendAllThenRead(base, path, token string, body []byte) (int, string, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: jimu\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, token, len(body))
	if _, err := conn.Write(append([]byte(head), body...)); err != nil {
		return 0, "", fmt.Errorf("sending: %w", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", fmt.Errorf("reading: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", fmt.Errorf("reading the body: %w", err)
	}
	return res.StatusCode, res.Header.Get("Content-Type") + " " + string(b), nil
}

// TestSecurityHeaders: every answer carries a Content-Security-Policy that
// runs no inline or eval'd script and forbids framing; HSTS only when Jimu
// is told it is reached over TLS.
func TestSecurityHeaders(t *testing.T) {
	e := start(t)
	for _, path := range []string{"/healthz", "/api/v1/auth/me", "/no/such/page"} {
		h := e.raw("GET", path, nil).Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if scripts := directive(csp, "script-src"); strings.Contains(scripts, "unsafe") {
			t.Errorf("%s: script-src allows %q", path, scripts)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, h)
		}
		if got := h.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("%s: HSTS %q on plain HTTP without --secure-cookies", path, got)
		}
	}
	tls, _ := startServer(t, stores["sqlite"](t), auth.Options{}, func(d *server.Deps) { d.HSTS = true })
	if got := tls.raw("GET", "/healthz", nil).Header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Fatalf("HSTS %q with HSTS on", got)
	}
}

func directive(csp, name string) string {
	for _, d := range strings.Split(csp, ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, name+" ") {
			return d
		}
	}
	return ""
}

// embedModule is a module whose public page relaxes the policy for
// itself, as the forms module's published pages do.
type embedModule struct{ ancestors, actions []string }

func (m embedModule) Routes(public, _ fiber.Router) {
	public.Get("/embeddable", func(c *fiber.Ctx) error {
		server.EmbedPolicy(c, m.ancestors, m.actions)
		return c.SendString("ok")
	})
}

// TestEmbedPolicy: a module's page may name who frames it and where it
// posts to; only plain origins reach the header, the rest of the policy
// stays, and every other answer keeps frame-ancestors 'none'.
func TestEmbedPolicy(t *testing.T) {
	mod := embedModule{ancestors: []string{"https://www.example.com", "https://a.example; script-src *", "http://localhost:3000"},
		actions: []string{"https://thanks.example", "'unsafe-inline'"}}
	e, _ := startServer(t, stores["sqlite"](t), auth.Options{}, func(d *server.Deps) { d.Modules = append(d.Modules, mod) })
	h := e.raw("GET", "/embeddable", nil).Header
	csp := h.Get("Content-Security-Policy")
	if got := directive(csp, "frame-ancestors"); got != "frame-ancestors https://www.example.com http://localhost:3000" {
		t.Errorf("frame-ancestors: %q", got)
	}
	if got := directive(csp, "form-action"); got != "form-action 'self' https://thanks.example" {
		t.Errorf("form-action: %q", got)
	}
	if directive(csp, "script-src") != "script-src 'self'" || h.Get("X-Frame-Options") != "" {
		t.Errorf("the rest of the policy: %q, X-Frame-Options %q", csp, h.Get("X-Frame-Options"))
	}
	if got := e.raw("GET", "/healthz", nil).Header; directive(got.Get("Content-Security-Policy"), "frame-ancestors") != "frame-ancestors 'none'" ||
		got.Get("X-Frame-Options") != "DENY" {
		t.Errorf("another answer: %v", got)
	}
	none, _ := startServer(t, stores["sqlite"](t), auth.Options{}, func(d *server.Deps) { d.Modules = append(d.Modules, embedModule{}) })
	if h := none.raw("GET", "/embeddable", nil).Header; directive(h.Get("Content-Security-Policy"), "frame-ancestors") != "frame-ancestors 'none'" ||
		h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("no origins: %v", h)
	}
	for o, want := range map[string]bool{
		"https://www.example.com": true, "http://127.0.0.1:8080": true, "https://[::1]:443": true, "https://xn--fsq.example": true,
		"https://www.example.com/": false, "https://*.example.com": false, "ftp://example.com": false, "https://": false,
		"https://a.example:99999": false, "https://user@a.example": false, "https://a.example?x": false, "https://A.example": false,
		"https://a.example;": false, "'self'": false, "https://a.example b": false, "": false, "https://[nope]": false,
	} {
		if server.ValidOrigin(o) != want {
			t.Errorf("ValidOrigin(%q) = %v", o, !want)
		}
	}
}
