package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/workflows/webhook"
)

func loopback() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }

// TestRefusedAtDial: without an allowlist a receiver on loopback is
// refused when the connection is made — after DNS, so "localhost" is
// caught as well as 127.0.0.1 — the request never reaches it, and the
// delivery fails at once without retries.
func TestRefusedAtDial(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	var waits atomic.Int32
	c := webhook.New(&webhook.Guard{})
	c.Sleep = func(context.Context, time.Duration) error { waits.Add(1); return nil }
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/x", "http://[::ffff:127.0.0.1]:" + port + "/"} {
		res, err := c.Deliver(context.Background(), &webhook.Request{URL: u, Body: []byte(`{}`)})
		var we *webhook.Error
		if !errors.As(err, &we) || !we.Permanent || !webhook.IsRefused(err) {
			t.Fatalf("%s: %v (%+v)", u, err, res)
		}
	}
	if hits.Load() != 0 || waits.Load() != 0 {
		t.Fatalf("a refused target was reached (%d) or retried (%d)", hits.Load(), waits.Load())
	}
	g := &webhook.Guard{}
	for _, a := range []string{"10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.100.100.200", "0.0.0.0", "::1", "fd00:ec2::254", "fe80::1", "::ffff:10.0.0.1"} {
		if err := g.Check(netip.MustParseAddr(a)); !webhook.IsRefused(err) {
			t.Errorf("%s is not refused", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "2606:4700::1111"} {
		if err := g.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s refused: %v", a, err)
		}
	}
	allowed := &webhook.Guard{Allow: loopback()}
	if err := allowed.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatalf("allowlisted loopback refused: %v", err)
	}
	if err := allowed.Check(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Fatal("the allowlist let more through than it names")
	}
	if _, err := webhook.ParseAllow("10.0.0.0/8, 127.0.0.1,, ::1"); err != nil {
		t.Fatal(err)
	}
	if _, err := webhook.ParseAllow("10.0.0.0/33"); err == nil {
		t.Fatal("a bad network accepted")
	}
}

// TestRetries: a 5xx or a timeout is tried again with growing waits, each
// attempt with the same Idempotency-Key; a 4xx is not.
func TestRetries(t *testing.T) {
	var n atomic.Int32
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		switch n.Add(1) {
		case 1, 2:
			w.WriteHeader(503)
		default:
			w.WriteHeader(204)
		}
	}))
	defer srv.Close()
	var waits []time.Duration
	c := webhook.New(&webhook.Guard{Allow: loopback()})
	c.Backoff = 100 * time.Millisecond
	c.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	res, err := c.Deliver(context.Background(), &webhook.Request{URL: srv.URL, Body: []byte(`{}`), Key: "run.0.post"})
	if err != nil || res.Status != 204 || res.Attempts != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	if len(waits) != 2 || waits[0] < 50*time.Millisecond || waits[0] > 100*time.Millisecond || waits[1] < 100*time.Millisecond || waits[1] > 200*time.Millisecond {
		t.Fatalf("waits %v: want ~100ms then ~200ms, each with jitter", waits)
	}
	for _, k := range keys {
		if k != "run.0.post" {
			t.Fatalf("keys %v", keys)
		}
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(422) }))
	defer bad.Close()
	waits = nil
	res, err = c.Deliver(context.Background(), &webhook.Request{URL: bad.URL, Body: []byte(`{}`)})
	var we *webhook.Error
	if !errors.As(err, &we) || !we.Permanent || res.Status != 422 || len(waits) != 0 {
		t.Fatalf("a 422 is final: %+v %v %v", res, err, waits)
	}

	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer func() { close(block); slow.Close() }()
	c.Timeout, c.Attempts, waits = 200*time.Millisecond, 2, nil
	_, err = c.Deliver(context.Background(), &webhook.Request{URL: slow.URL, Body: []byte(`{}`)})
	if !errors.As(err, &we) || we.Permanent || len(waits) != 1 {
		t.Fatalf("a timeout is retried, then fails as temporary: %v %v", err, waits)
	}
}

// TestRedirects: a redirect within the host is followed, one to another
// host is not.
func TestRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
		case "/away":
			http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/x", http.StatusTemporaryRedirect)
		default:
			w.WriteHeader(200)
		}
	}))
	defer srv.Close()
	c := webhook.New(&webhook.Guard{Allow: loopback()})
	c.Sleep = func(context.Context, time.Duration) error { return nil }
	if res, err := c.Deliver(context.Background(), &webhook.Request{URL: srv.URL + "/same", Body: []byte(`{}`)}); err != nil || res.Status != 200 {
		t.Fatalf("same host: %+v %v", res, err)
	}
	_, err := c.Deliver(context.Background(), &webhook.Request{URL: srv.URL + "/away", Body: []byte(`{}`)})
	var we *webhook.Error
	if !errors.As(err, &we) || !we.Permanent || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("another host: %v", err)
	}
}

// TestSign: the signature is HMAC-SHA256 of "<timestamp>.<body>".
func TestSign(t *testing.T) {
	got := webhook.Sign("key", 1700000000, []byte(`{"a":1}`))
	// Computed with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
	want := "t=1700000000,v1=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
	if got != want {
		t.Fatalf("signature %q, want %q", got, want)
	}
	if webhook.Sign("key", 1700000000, []byte(`{"a":2}`)) == got || webhook.Sign("other", 1700000000, []byte(`{"a":1}`)) == got {
		t.Fatal("the signature does not depend on the body and the key")
	}
}
