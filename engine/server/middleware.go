package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/problem"
)

// HeaderRequestID carries a request's id, in the answer and in every log
// line about the request, so an operator can find the log of what a user
// reports.
const HeaderRequestID = "X-Request-ID"

const localRequestID = "request_id"

// requestID gives each request an id: the client's X-Request-ID when it is
// a short token (a proxy's), otherwise a new one.
func requestID(c *fiber.Ctx) error {
	id := c.Get(HeaderRequestID)
	if !validRequestID(id) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Locals(localRequestID, id)
	c.Set(HeaderRequestID, id)
	return c.Next()
}

// validRequestID accepts what is safe to echo and to log: up to 64
// letters, digits, '-' and '_'.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func reqID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// recoverPanics turns a panic in a handler into a 500 problem document, and
// logs the stack with the request id. Neither Fiber nor fasthttp recovers,
// so without this one request could end the process for everyone.
func (s *Server) recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r)
		}
		s.Log.Error("panic serving a request", "request_id", reqID(c), "method", c.Method(), "path", c.Path(),
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		err = problem.New(http.StatusInternalServerError, "internal error (request %s)", reqID(c))
	}()
	return c.Next()
}

// contentSecurityPolicy holds for every answer: scripts, styles and data
// only from Jimu itself, no plugins, no framing. Styles allow inline
// attributes because chart and layout libraries set element styles; scripts
// never run inline or from eval.
const contentSecurityPolicy = cspBase + "; form-action 'self'; frame-ancestors 'none'"

const cspBase = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; " +
	"base-uri 'none'"

// EmbedPolicy relaxes, for one answer, the two directives a page a module
// serves to the public may need: the origins allowed to frame it
// (frame-ancestors; none given: nobody) and the origins its forms may post
// and redirect to besides Jimu itself (form-action). Everything else of
// the policy stays. Origins that are not a plain scheme://host[:port]
// (ValidOrigin) are dropped, so a stored value can never add a directive.
// Call it from the handler: the middleware has set the default already.
func EmbedPolicy(c *fiber.Ctx, frameAncestors, formAction []string) {
	clean := func(list []string) string {
		var b strings.Builder
		for _, o := range list {
			if ValidOrigin(o) {
				b.WriteString(" " + o)
			}
		}
		return b.String()
	}
	ancestors := clean(frameAncestors)
	if ancestors == "" {
		ancestors = " 'none'"
	} else {
		// X-Frame-Options cannot name origins; frame-ancestors decides.
		c.Response().Header.Del("X-Frame-Options")
	}
	c.Set("Content-Security-Policy", cspBase+"; form-action 'self'"+clean(formAction)+"; frame-ancestors"+ancestors)
}

// ValidOrigin reports whether s is an origin a policy may name:
// http or https, a host (letters, digits, '.', '-', or an IPv6 literal)
// and an optional port, nothing else — no path, no wildcard, no quote,
// space or semicolon.
func ValidOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || len(s) > 200 {
		return false
	}
	if s != u.Scheme+"://"+u.Host {
		return false
	}
	host, port := u.Hostname(), u.Port()
	if strings.Contains(u.Host, "[") {
		if _, err := netip.ParseAddr(host); err != nil {
			return false
		}
	} else {
		for _, r := range host {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
				return false
			}
		}
	}
	if host == "" || strings.HasSuffix(u.Host, ":") {
		return false
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return true
}

// hstsMaxAge is a year, the usual value for a site served only over TLS.
const hstsMaxAge = "max-age=31536000"

func (s *Server) secureHeaders(c *fiber.Ctx) error {
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("Cache-Control", "no-store")
	c.Set("Content-Security-Policy", contentSecurityPolicy)
	// Over TLS, or behind a TLS-terminating proxy the operator vouched for
	// with --secure-cookies, browsers should never come back over HTTP.
	if s.HSTS || c.Context().IsTLS() {
		c.Set("Strict-Transport-Security", hstsMaxAge)
	}
	return c.Next()
}
