package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client delivers webhooks.
type Client struct {
	Guard *Guard
	// Timeout bounds one attempt (connect, send, answer); 0: 10 s.
	Timeout time.Duration
	// Attempts is how many times a delivery is tried before the step
	// fails (0: 3); Backoff is the wait before the second (0: 1 s),
	// doubled for each later one, with jitter.
	Attempts int
	Backoff  time.Duration
	// Sleep waits between attempts (nil: a timer); tests count the waits
	// instead of taking them.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now stamps the signature (nil: time.Now).
	Now func() time.Time

	http *http.Client
}

// New returns a client that dials through g.
func New(g *Guard) *Client {
	c := &Client{Guard: g}
	d := &net.Dialer{Timeout: 10 * time.Second, Control: g.control}
	c.http = &http.Client{
		Transport: &http.Transport{
			// No proxy: the guard must see the address really dialled.
			Proxy:                 nil,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		},
		CheckRedirect: sameHost,
	}
	return c
}

// sameHost follows a redirect only to the host the request was sent to:
// a receiver cannot bounce a signed delivery to another party.
func sameHost(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("webhook: more than 5 redirects")
	}
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		return &redirectError{to: req.URL.Host}
	}
	return nil
}

type redirectError struct{ to string }

func (e *redirectError) Error() string {
	return fmt.Sprintf("webhook: a redirect to another host (%s) is not followed", e.to)
}

// Request is one delivery.
type Request struct {
	URL    string
	Secret string // empty: not signed
	Body   []byte // JSON
	// Key is the Idempotency-Key: the same on every attempt and every
	// retry of the run, so the receiver can tell a repeat.
	Key     string
	Headers map[string]string
}

// Response is what the receiver answered (the last attempt's).
type Response struct {
	Status   int    `json:"status"`
	Body     string `json:"body,omitempty"` // the first 2 KiB
	Attempts int    `json:"attempts"`
}

// Error is a delivery that failed; Permanent ones (a refused target, a
// redirect elsewhere, a 4xx answer) are not worth another run attempt.
type Error struct {
	Permanent bool
	Response  *Response
	Err       error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Sign is the X-Jimu-Signature of a body sent at ts: "t=<unix
// seconds>,v1=<hex HMAC-SHA256 of "<ts>.<body>">". A receiver recomputes
// it with the shared secret and refuses old timestamps (replays).
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", ts)
	mac.Write(body)
	return fmt.Sprintf("t=%d,v1=%s", ts, hex.EncodeToString(mac.Sum(nil)))
}

// CheckURL validates a target URL when a rule is saved.
func (c *Client) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("the URL must be http or https, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("the URL has no host")
	}
	if u.User != nil {
		return errors.New("the URL must not carry a user name or password; sign with the secret instead")
	}
	return c.Guard.CheckHost(ctx, u.Hostname())
}

// Headers are the headers a delivery sends (for a dry run, and Deliver).
func (c *Client) Headers(r *Request, ts int64) map[string]string {
	h := map[string]string{"Content-Type": "application/json", "User-Agent": "Jimu-Webhook/1", "X-Jimu-Timestamp": strconv.FormatInt(ts, 10)}
	if r.Key != "" {
		h["Idempotency-Key"] = r.Key
	}
	if r.Secret != "" {
		h["X-Jimu-Signature"] = Sign(r.Secret, ts, r.Body)
	}
	for k, v := range r.Headers {
		h[k] = v
	}
	return h
}

// Deliver posts the request, retrying what may pass later (a network
// failure, a timeout, 408, 429, 5xx) with exponential backoff and jitter.
// A refused target fails at once.
func (c *Client) Deliver(ctx context.Context, r *Request) (*Response, error) {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	var last *Error
	for i := 1; i <= attempts; i++ {
		if i > 1 {
			if err := c.sleep(ctx, c.wait(i-1)); err != nil {
				return last.Response, last
			}
		}
		res, err := c.once(ctx, r)
		if res != nil {
			res.Attempts = i
		}
		if err == nil {
			return res, nil
		}
		if err.Permanent || ctx.Err() != nil {
			return res, err
		}
		last = err
	}
	return last.Response, last
}

// wait is the backoff before attempt n+1: Backoff·2^(n-1), then a random
// half to whole of it, so many failed deliveries do not retry in step.
func (c *Client) wait(n int) time.Duration {
	base := c.Backoff
	if base <= 0 {
		base = time.Second
	}
	d := base << (n - 1)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) once(ctx context.Context, r *Request) (*Response, *Error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, &Error{Permanent: true, Err: fmt.Errorf("webhook: %w", err)}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	for k, v := range c.Headers(r, now().Unix()) {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		var re *redirectError
		return nil, &Error{Permanent: IsRefused(err) || errors.As(err, &re), Err: fmt.Errorf("webhook %s: %w", redact(r.URL), err)}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 2<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20)) // lets the connection be reused
	out := &Response{Status: res.StatusCode, Body: string(b)}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return out, nil
	case res.StatusCode == http.StatusRequestTimeout || res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return out, &Error{Response: out, Err: fmt.Errorf("webhook %s answered %d", redact(r.URL), res.StatusCode)}
	}
	return out, &Error{Permanent: true, Response: out, Err: fmt.Errorf("webhook %s answered %d", redact(r.URL), res.StatusCode)}
}

// redact leaves a URL's query out of messages (it may carry a token).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}
