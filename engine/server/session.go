package server

// Browser sessions, CSRF and token restrictions.
//
// A login asks for a browser session with "session": "cookie". It then gets
// two cookies instead of a token in the answer (the session token never
// reaches JavaScript):
//
//   - jimu_session: the session token. HttpOnly, SameSite=Lax, Path=/,
//     Max-Age the session's absolute lifetime.
//   - jimu_csrf: the session's CSRF token, readable by the page (not
//     HttpOnly), also in the answer as "csrf_token".
//
// Both are Secure, except on a plain-HTTP request made directly (no proxy
// headers) from a loopback address to a loopback host name (localhost,
// 127.0.0.0/8, [::1]) and, when the browser names its origin, from such an
// origin: browsers other than Chromium and Firefox drop Secure cookies there,
// and development on http://localhost must work. auth.Options.
// AlwaysSecureCookies makes them Secure there too. Behind a proxy that
// terminates TLS the proxy headers, or the browser's Origin, make them
// Secure.
//
// CSRF: a request that authenticates with the cookie (a request with an
// Authorization header never does; bearer tokens are not ambient
// credentials and need no CSRF token) and uses an unsafe method (anything
// but GET, HEAD, OPTIONS) must
//
//   - not be cross-origin by Sec-Fetch-Site (anything but same-origin or
//     none) or, without it, by an Origin whose host is not the Host
//     (net/http.CrossOriginProtection's rules);
//   - carry the header X-CSRF-Token equal to the session's CSRF token.
//
// The CSRF token is HMAC-SHA256 keyed with the session token over a fixed
// label: bound to the session, new with every session, and computable only
// from the session token, so the server stores nothing and an attacker who
// can plant cookies (a sibling subdomain) cannot forge it. Otherwise the
// answer is 403 and an "auth.csrf_denied" audit entry. The sign-in
// endpoints apply the same cross-origin check (no login CSRF).
//
// A read-only token may use only the safe methods; a session restricted to
// setting up a second factor only the routes in restrictedRoutes.

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
)

// Cookie and header names.
const (
	SessionCookie = "jimu_session"
	CSRFCookie    = "jimu_csrf"
	CSRFHeader    = "X-CSRF-Token"
)

// localCookie marks (in Locals) a request authenticated by the cookie.
const localCookie = "session_cookie"

// restrictedRoutes are all a session restricted to setting up a second
// factor may call (paths as the router matches them: lower case, no
// trailing slash).
var restrictedRoutes = map[string]bool{
	"/api/v1/auth/me":           true,
	"/api/v1/auth/logout":       true,
	"/api/v1/auth/totp":         true,
	"/api/v1/auth/totp/setup":   true,
	"/api/v1/auth/totp/enable":  true,
	"/api/v1/auth/totp/disable": true,
}

func sessionMode(v string) (cookie bool, err error) {
	switch v {
	case "", "bearer":
		return false, nil
	case "cookie":
		return true, nil
	}
	return false, problem.Invalid(problem.FieldError{Field: "session", Code: "enum", Message: `must be "bearer" or "cookie"`})
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

func viaCookie(c *fiber.Ctx) bool { v, _ := c.Locals(localCookie).(bool); return v }

// csrfToken is the CSRF token of a session: HMAC-SHA256(session token,
// label), base64url.
func csrfToken(session string) string {
	m := hmac.New(sha256.New, []byte(session))
	m.Write([]byte("jimu csrf token v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var originCheck = http.NewCrossOriginProtection()

// sameOrigin refuses a cross-origin browser request with an unsafe method,
// by net/http's rules (Sec-Fetch-Site, else Origin against Host).
func sameOrigin(c *fiber.Ctx) error {
	if crossOrigin(c) {
		return problem.New(http.StatusForbidden, "cross-site request refused")
	}
	return nil
}

func crossOrigin(c *fiber.Ctx) bool {
	req := &http.Request{Method: c.Method(), Host: string(c.Request().Host()), Header: http.Header{}}
	for _, h := range []string{"Sec-Fetch-Site", fiber.HeaderOrigin} {
		if v := c.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	return originCheck.Check(req) != nil
}

// checkCSRF applies the CSRF rules to a request authenticated by the
// session cookie whose value is session.
func (s *Server) checkCSRF(c *fiber.Ctx, p *identity.Principal, session string) error {
	if safeMethod(c.Method()) {
		return nil
	}
	reason := ""
	switch h := c.Get(CSRFHeader); {
	case crossOrigin(c):
		reason = "cross_origin"
	case h == "":
		reason = "missing_token"
	case subtle.ConstantTimeCompare([]byte(h), []byte(csrfToken(session))) != 1:
		reason = "wrong_token"
	default:
		return nil
	}
	s.Auth.AuditDenial(c.UserContext(), p, "auth.csrf_denied", map[string]any{"method": c.Method(), "path": c.Path(), "reason": reason})
	if reason == "cross_origin" {
		return problem.New(http.StatusForbidden, "cross-site request refused")
	}
	return problem.New(http.StatusForbidden, "missing or wrong CSRF token: send the %s header with the csrf_token of the sign-in (also in the %s cookie)", CSRFHeader, CSRFCookie)
}

// guard enforces the principal's token restrictions on the route.
func guard(c *fiber.Ctx, p *identity.Principal) error {
	if p.Restricted != "" {
		path := strings.ToLower(strings.TrimRight(c.Path(), "/"))
		if !restrictedRoutes[path] {
			return problem.New(http.StatusForbidden, "set up a second factor first: this session may only use /api/v1/auth/totp/*, /api/v1/auth/me and /api/v1/auth/logout")
		}
	}
	if p.ReadOnly && !safeMethod(c.Method()) && !readOverPost(c) {
		return problem.New(http.StatusForbidden, "this token is read-only")
	}
	return nil
}

// readOverPost reports the routes that read although they are POSTs, because
// their parameters may not fit a URL (POST /api/v1/records/{entity}/query,
// POST /api/v1/expressions/check).
func readOverPost(c *fiber.Ctx) bool {
	if c.Method() != fiber.MethodPost {
		return false
	}
	if c.Path() == "/api/v1/expressions/check" {
		return true
	}
	rest, ok := strings.CutPrefix(c.Path(), "/api/v1/records/")
	entity, tail, _ := strings.Cut(rest, "/")
	return ok && entity != "" && tail == "query"
}

// secureCookies decides the Secure attribute (see the top of the file).
func (s *Server) secureCookies(c *fiber.Ctx) bool {
	return s.Auth.AlwaysSecureCookies() || !plainLoopback(c)
}

// plainLoopback reports a plain-HTTP request made directly from a loopback
// address to a loopback host (and from a loopback origin, if named).
func plainLoopback(c *fiber.Ctx) bool {
	if c.Context().IsTLS() || !c.Context().RemoteIP().IsLoopback() {
		return false
	}
	for _, h := range []string{fiber.HeaderXForwardedFor, fiber.HeaderXForwardedProto, fiber.HeaderXForwardedHost,
		fiber.HeaderForwarded, "X-Forwarded-Ssl", "X-Real-Ip"} {
		if c.Get(h) != "" {
			return false
		}
	}
	if !loopbackHost(string(c.Request().Host())) {
		return false
	}
	if o := c.Get(fiber.HeaderOrigin); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Scheme != "http" || !loopbackHost(u.Host) {
			return false
		}
	}
	return true
}

func loopbackHost(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// setSessionCookies sets the cookies of a new browser session and returns
// its CSRF token.
func (s *Server) setSessionCookies(c *fiber.Ctx, token string, t *auth.Token) string {
	maxAge := 0
	if t != nil && t.ExpiresAt != nil {
		maxAge = max(1, int(t.ExpiresAt.Sub(t.CreatedAt)/time.Second))
	}
	secure := s.secureCookies(c)
	csrf := csrfToken(token)
	c.Cookie(&fiber.Cookie{Name: SessionCookie, Value: token, Path: "/", MaxAge: maxAge, Secure: secure, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	c.Cookie(&fiber.Cookie{Name: CSRFCookie, Value: csrf, Path: "/", MaxAge: maxAge, Secure: secure, HTTPOnly: false, SameSite: fiber.CookieSameSiteLaxMode})
	return csrf
}

// clearSessionCookies tells the browser to drop the session cookies.
func (s *Server) clearSessionCookies(c *fiber.Ctx) {
	secure := s.secureCookies(c)
	for _, n := range []string{SessionCookie, CSRFCookie} {
		c.Cookie(&fiber.Cookie{Name: n, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(1, 0), Secure: secure,
			HTTPOnly: n == SessionCookie, SameSite: fiber.CookieSameSiteLaxMode})
	}
}

// loginAnswer answers a sign-in step:
//   - second factor due: {"second_factor_required": true, "challenge",
//     "expires_at", "methods"} (no session);
//   - otherwise {"user", "expires_at"} and the session: "token" (bearer) or
//     the cookies and "csrf_token" (cookie, with "session": "cookie");
//     with "second_factor_setup_required": true the session may only set
//     up a second factor.
func (s *Server) loginAnswer(c *fiber.Ctx, r *auth.LoginResult, cookie bool) error {
	if r.SecondFactorRequired {
		return c.JSON(fiber.Map{"second_factor_required": true, "challenge": r.Challenge, "expires_at": r.ChallengeExpiresAt,
			"methods": []string{"totp", "recovery_code"}})
	}
	m := fiber.Map{"user": r.User}
	s.sessionAnswer(c, m, r, cookie)
	if r.SetupRequired {
		m["second_factor_setup_required"] = true
	}
	return c.JSON(m)
}

// sessionAnswer hands a new session to the client in m (and cookies).
func (s *Server) sessionAnswer(c *fiber.Ctx, m fiber.Map, r *auth.LoginResult, cookie bool) {
	if r.Session != nil && r.Session.ExpiresAt != nil {
		m["expires_at"] = *r.Session.ExpiresAt
	}
	if cookie {
		m["session"] = "cookie"
		m["csrf_token"] = s.setSessionCookies(c, r.Token, r.Session)
		return
	}
	m["token"] = r.Token
	if c.Cookies(SessionCookie) != "" {
		// The session the browser held was revoked at the sign-in.
		s.clearSessionCookies(c)
	}
}
