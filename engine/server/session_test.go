package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// testClock is a settable clock for auth.Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// nextStep moves the clock to the start of the next TOTP time step.
func (c *testClock) nextStep() {
	now := c.Now()
	c.Add(time.Duration(30-now.Unix()%30)*time.Second - time.Duration(now.Nanosecond()))
}

// authEnv is a running Jimu like start's, with auth options of the test's
// and a clock; the admin is signed in with a bearer token unless a second
// factor is required.
type authEnv struct {
	*env
	au    *auth.Service
	clock *testClock
}

func startAuth(t *testing.T, opts auth.Options) *authEnv {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	return startAuthOn(t, st, opts)
}

// startAuthOn is startAuth on the given store.
func startAuthOn(t *testing.T, st store.Store, opts auth.Options) *authEnv {
	t.Helper()
	clk := &testClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	opts.Now = clk.Now
	e, au := startServer(t, st, opts)
	return &authEnv{env: e, au: au, clock: clk}
}

// anon is the env without the admin's bearer token.
func (e *authEnv) anon() *env {
	a := *e.env
	a.token = ""
	return &a
}

// bearer is the env with another bearer token.
func (e *authEnv) bearer(tok string) *env {
	a := *e.env
	a.token = tok
	return &a
}

// browser is a client holding session cookies.
type browser struct {
	e       *authEnv
	session string
	csrf    string
}

// cookieLogin signs in with "session": "cookie" and checks the answer.
func (e *authEnv) cookieLogin(email, pw string) *browser {
	e.t.Helper()
	b := &browser{e: e}
	r := b.req("POST", "/api/v1/auth/login", map[string]any{"email": email, "password": pw, "session": "cookie"})
	b.take(r, 200)
	return b
}

// take checks a sign-in answer and keeps its cookies.
func (b *browser) take(r *response, status int) map[string]any {
	t := b.e.t
	t.Helper()
	if r.Status != status {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if _, ok := m["token"]; ok {
		t.Fatalf("cookie sign-in answers the token: %s", r.Body)
	}
	cs := cookies(r)
	sc, cc := cs[server.SessionCookie], cs[server.CSRFCookie]
	if sc == nil || cc == nil || m["csrf_token"] != cc.Value || m["session"] != "cookie" {
		t.Fatalf("cookies %v, answer %s", cs, r.Body)
	}
	b.session, b.csrf = sc.Value, cc.Value
	return m
}

// cleared reports a Set-Cookie that deletes the cookie.
func cleared(c *http.Cookie) bool {
	return c != nil && c.Value == "" && (c.MaxAge < 0 || !c.Expires.IsZero() && c.Expires.Before(time.Now()))
}

func cookies(r *response) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		out[c.Name] = c
	}
	return out
}

// req sends a request with the session cookie (and nothing else but
// headers).
func (b *browser) req(method, path string, body any, headers ...string) *response {
	b.e.t.Helper()
	if b.session != "" {
		headers = append(headers, "Cookie", server.SessionCookie+"="+b.session+"; "+server.CSRFCookie+"="+b.csrf)
	}
	return b.e.anon().raw(method, path, body, headers...)
}

// send is req with the CSRF header.
func (b *browser) send(method, path string, body any, headers ...string) *response {
	b.e.t.Helper()
	return b.req(method, path, body, append(headers, server.CSRFHeader, b.csrf)...)
}

func (e *authEnv) audits(action string) []*store.AuditEntry {
	e.t.Helper()
	as, err := e.st.ListAudit(context.Background(), store.AuditQuery{Action: action, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

func wantStatus(t *testing.T, r *response, status int, what string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d, want %d: %s", what, r.Status, status, r.Body)
	}
	if status >= 400 {
		problemFields(t, r)
	}
}

func TestCookieLogin(t *testing.T) {
	e := startAuth(t, auth.Options{})
	b := &browser{e: e}
	r := b.req("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass, "session": "cookie"})
	m := b.take(r, 200)
	if m["user"].(map[string]any)["email"] != adminEmail || m["expires_at"] == nil {
		t.Fatalf("answer %v", m)
	}
	cs := cookies(r)
	sc, cc := cs[server.SessionCookie], cs[server.CSRFCookie]
	for _, c := range []*http.Cookie{sc, cc} {
		if c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.MaxAge != int(auth.DefaultSessionTTL/time.Second) {
			t.Errorf("cookie %s: %+v", c.Name, c)
		}
		// Plain HTTP from and to loopback: development, not Secure.
		if c.Secure {
			t.Errorf("cookie %s Secure on http://127.0.0.1", c.Name)
		}
	}
	if !sc.HttpOnly || cc.HttpOnly || !strings.HasPrefix(sc.Value, auth.TokenPrefix) {
		t.Errorf("HttpOnly: session %v, csrf %v", sc.HttpOnly, cc.HttpOnly)
	}
	wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 200, "me with the cookie")

	// Anything that is not a direct plain-HTTP loopback request gets Secure
	// cookies.
	for _, h := range [][]string{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-For", "203.0.113.1"}, {"Forwarded", "proto=https"}} {
		r := e.anon().raw("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass, "session": "cookie"}, h...)
		wantStatus(t, r, 200, "login behind a proxy")
		for _, c := range cookies(r) {
			if !c.Secure || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("%v: cookie %s %+v", h, c.Name, c)
			}
		}
	}
	// And with AlwaysSecureCookies, all.
	e2 := startAuth(t, auth.Options{AlwaysSecureCookies: true})
	r = e2.anon().raw("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass, "session": "cookie"})
	for _, c := range cookies(r) {
		if !c.Secure {
			t.Errorf("AlwaysSecureCookies: cookie %s not Secure", c.Name)
		}
	}

	// A bearer login sets no cookie.
	r = e.anon().raw("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass})
	if r.JSON(t)["token"] == nil || len(cookies(r)) != 0 {
		t.Fatalf("bearer login: %v %s", r.Header, r.Body)
	}
	r = e.anon().raw("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass, "session": "jar"})
	wantStatus(t, r, 422, "unknown session mode")
	// A cross-site sign-in is refused (no login CSRF).
	r = e.anon().raw("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass, "session": "cookie"},
		"Sec-Fetch-Site", "cross-site")
	wantStatus(t, r, 403, "cross-site login")
	if len(cookies(r)) != 0 {
		t.Fatal("cross-site login set cookies")
	}
}

func TestSessionRotated(t *testing.T) {
	e := startAuth(t, auth.Options{})
	b := e.cookieLogin(adminEmail, adminPass)
	old := *b
	// Signing in again with the cookie in hand: a new session, the old one
	// revoked.
	b.take(b.req("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass, "session": "cookie"}), 200)
	if b.session == old.session || b.csrf == old.csrf {
		t.Fatal("session not rotated")
	}
	r := old.req("GET", "/api/v1/auth/me", nil)
	wantStatus(t, r, 401, "old session cookie")
	if c := cookies(r)[server.SessionCookie]; !cleared(c) {
		t.Fatalf("refused cookie not cleared: %v", r.Header["Set-Cookie"])
	}
	wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 200, "new session cookie")
	if len(e.audits("auth.session_replaced")) != 1 {
		t.Fatal("rotation not audited")
	}
	// A bearer sign-in from the browser also ends the cookie session, and
	// clears the cookies.
	r = b.req("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass})
	wantStatus(t, r, 200, "bearer login with a cookie")
	if c := cookies(r)[server.SessionCookie]; !cleared(c) {
		t.Fatalf("cookies not cleared: %v", r.Header["Set-Cookie"])
	}
	wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 401, "cookie after a bearer login")
}

func TestSessionTimeouts(t *testing.T) {
	e := startAuth(t, auth.Options{})
	b := e.cookieLogin(adminEmail, adminPass)
	// Idle: each use slides the 30 minutes.
	for range 4 {
		e.clock.Add(auth.DefaultIdleTimeout - time.Minute)
		wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 200, "within the idle timeout")
	}
	e.clock.Add(auth.DefaultIdleTimeout)
	wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 401, "idle session")

	// Absolute: 12 hours, however busy.
	b = e.cookieLogin(adminEmail, adminPass)
	start := e.clock.Now()
	for e.clock.Now().Before(start.Add(auth.DefaultSessionTTL - 20*time.Minute)) {
		e.clock.Add(20 * time.Minute)
		wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 200, "busy session")
	}
	e.clock.Add(start.Add(auth.DefaultSessionTTL).Sub(e.clock.Now()))
	wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 401, "session past 12 hours")

	// Custom timeouts.
	e2 := startAuth(t, auth.Options{SessionIdleTimeout: time.Minute, SessionTTL: time.Hour})
	b = e2.cookieLogin(adminEmail, adminPass)
	if c := cookies(b.req("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass, "session": "cookie"}))[server.SessionCookie]; c.MaxAge != 3600 {
		t.Fatalf("Max-Age %d", c.MaxAge)
	}
	e2.clock.Add(time.Minute)
	wantStatus(t, e2.anon().raw("GET", "/api/v1/auth/me", nil, "Cookie", server.SessionCookie+"="+b.session), 401, "past a 1-minute idle timeout")
}

func TestLogoutCookie(t *testing.T) {
	e := startAuth(t, auth.Options{})
	b := e.cookieLogin(adminEmail, adminPass)
	wantStatus(t, b.req("POST", "/api/v1/auth/logout", nil), 403, "logout without the CSRF token")
	r := b.send("POST", "/api/v1/auth/logout", nil)
	wantStatus(t, r, 204, "logout")
	cs := cookies(r)
	for _, n := range []string{server.SessionCookie, server.CSRFCookie} {
		if c := cs[n]; !cleared(c) || c.Path != "/" {
			t.Fatalf("cookie %s not cleared: %v", n, r.Header["Set-Cookie"])
		}
	}
	wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 401, "cookie after logout")
	// The admin's bearer session is untouched.
	e.do("GET", "/api/v1/auth/me", nil, 200, nil)
}

func TestCSRF(t *testing.T) {
	e := startAuth(t, auth.Options{})
	b := e.cookieLogin(adminEmail, adminPass)
	tok := map[string]any{"name": "script"}

	// Reads need no CSRF token.
	wantStatus(t, b.req("GET", "/api/v1/auth/tokens", nil), 200, "cookie GET")
	// Writes do.
	r := b.req("POST", "/api/v1/auth/tokens", tok)
	wantStatus(t, r, 403, "cookie POST without the header")
	if !strings.Contains(string(r.Body), "missing or wrong CSRF token") {
		t.Fatalf("answer %s", r.Body)
	}
	as := e.audits("auth.csrf_denied")
	if len(as) != 1 || as[0].Changes["reason"] != "missing_token" || as[0].Changes["method"] != "POST" ||
		as[0].Changes["path"] != "/api/v1/auth/tokens" || as[0].Actor == "" || as[0].IP == "" {
		t.Fatalf("audit %+v", as)
	}
	wantStatus(t, b.req("POST", "/api/v1/auth/tokens", tok, server.CSRFHeader, forge(b.csrf)), 403, "wrong CSRF token")
	wantStatus(t, b.req("DELETE", "/api/v1/auth/tokens/x", nil, server.CSRFHeader, strings.ToUpper(b.csrf)), 403, "wrong CSRF token on DELETE")
	// Another session's token is wrong too.
	other := e.cookieLogin(adminEmail, adminPass)
	wantStatus(t, b.req("POST", "/api/v1/auth/tokens", tok, server.CSRFHeader, other.csrf), 403, "CSRF token of another session")
	if n := len(e.audits("auth.csrf_denied")); n != 4 {
		t.Fatalf("%d denials audited, want 4", n)
	}
	wantStatus(t, b.send("POST", "/api/v1/auth/tokens", tok), 201, "right CSRF token")
	wantStatus(t, b.send("POST", "/api/v1/auth/tokens", tok, "Sec-Fetch-Site", "same-origin"), 201, "same-origin")

	// Cross-origin writes are refused even with the token.
	wantStatus(t, b.send("POST", "/api/v1/auth/tokens", tok, "Sec-Fetch-Site", "cross-site"), 403, "cross-site")
	wantStatus(t, b.send("POST", "/api/v1/auth/tokens", tok, "Sec-Fetch-Site", "same-site"), 403, "same-site, other origin")
	wantStatus(t, b.send("POST", "/api/v1/auth/tokens", tok, "Origin", "https://evil.example"), 403, "foreign Origin")
	wantStatus(t, b.send("POST", "/api/v1/auth/tokens", tok, "Origin", e.base), 201, "own Origin")
	if as := e.audits("auth.csrf_denied"); as[0].Changes["reason"] != "cross_origin" {
		t.Fatalf("audit %+v", as[0])
	}

	// Bearer requests are exempt, even with a session cookie alongside.
	e.do("POST", "/api/v1/auth/tokens", tok, 201, nil)
	e.do("POST", "/api/v1/auth/tokens", tok, 201, nil, "Cookie", server.SessionCookie+"="+b.session)
}

func TestForgedSessionCookie(t *testing.T) {
	e := startAuth(t, auth.Options{})
	b := e.cookieLogin(adminEmail, adminPass)
	for _, v := range []string{"jimu_forged", auth.TokenPrefix + strings.Repeat("A", 43), b.session + "x", b.csrf} {
		r := e.anon().raw("GET", "/api/v1/auth/me", nil, "Cookie", server.SessionCookie+"="+v)
		wantStatus(t, r, 401, "forged cookie "+v)
	}
	// The admin's bearer token works as a cookie value too (it is a
	// session), but as a cookie it needs the CSRF token to write.
	r := e.anon().raw("POST", "/api/v1/auth/tokens", map[string]any{"name": "x"}, "Cookie", server.SessionCookie+"="+e.token)
	wantStatus(t, r, 403, "bearer token as a cookie, without CSRF")
	// An API token is a credential too.
	var created struct{ Token string }
	e.do("POST", "/api/v1/auth/tokens", map[string]any{"name": "x"}, 201, &created)
	wantStatus(t, e.bearer(created.Token).raw("GET", "/api/v1/auth/me", nil), 200, "API token")
}

func TestScopedTokens(t *testing.T) {
	e := startAuth(t, auth.Options{})
	ctx := context.Background()
	u, err := e.au.CreateUser(ctx, adminPrincipal(t, e), auth.NewUser{Email: "sam@example.com", Password: "sams-password", Roles: []string{"admin", "manager"}})
	if err != nil {
		t.Fatal(err)
	}
	var login struct{ Token string }
	e.anon().do("POST", "/api/v1/auth/login", map[string]any{"email": "sam@example.com", "password": "sams-password"}, 200, &login)
	sam := e.bearer(login.Token)

	var tok struct {
		Token string
		Info  map[string]any
	}
	// Only the owner's roles.
	r := sam.raw("POST", "/api/v1/auth/tokens", map[string]any{"name": "x", "scope": map[string]any{"roles": []string{"superuser"}}})
	if r.Status != 422 || problemFields(t, r)["scope.roles"] == "" {
		t.Fatalf("foreign role: %d %s", r.Status, r.Body)
	}
	wantStatus(t, sam.raw("POST", "/api/v1/auth/tokens", map[string]any{"name": "x", "scope": map[string]any{"colour": "red"}}), 400, "unknown scope key")
	// A manager-only token is no admin.
	sam.do("POST", "/api/v1/auth/tokens", map[string]any{"name": "m", "scope": map[string]any{"roles": []string{"manager"}}}, 201, &tok)
	if rs := tok.Info["roles"].([]any); len(rs) != 1 || rs[0] != "manager" {
		t.Fatalf("info %v", tok.Info)
	}
	mgr := e.bearer(tok.Token)
	wantStatus(t, mgr.raw("GET", "/api/v1/meta/entities", nil), 403, "manager token on an admin route")
	wantStatus(t, mgr.raw("GET", "/api/v1/auth/me", nil), 200, "manager token")
	// An admin-scoped token is, until the owner is no admin any more.
	sam.do("POST", "/api/v1/auth/tokens", map[string]any{"name": "a", "scope": map[string]any{"roles": []string{"admin"}}}, 201, &tok)
	adm := e.bearer(tok.Token)
	wantStatus(t, adm.raw("GET", "/api/v1/meta/entities", nil), 200, "admin token")
	setRoles(t, e, u.ID, "manager")
	wantStatus(t, adm.raw("GET", "/api/v1/meta/entities", nil), 403, "admin token of a demoted owner")

	// Read-only tokens read and nothing else.
	sam.do("POST", "/api/v1/auth/tokens", map[string]any{"name": "ro", "scope": map[string]any{"read_only": true}}, 201, &tok)
	if tok.Info["read_only"] != true {
		t.Fatalf("info %v", tok.Info)
	}
	ro := e.bearer(tok.Token)
	wantStatus(t, ro.raw("GET", "/api/v1/auth/tokens", nil), 200, "read-only GET")
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		r := ro.raw(m, "/api/v1/records/deal/0190b5d0-0000-7000-8000-000000000000", map[string]any{"name": "x"})
		wantStatus(t, r, 403, "read-only "+m)
		if !strings.Contains(string(r.Body), "read-only") {
			t.Fatalf("answer %s", r.Body)
		}
	}
	wantStatus(t, ro.raw("POST", "/api/v1/auth/tokens", map[string]any{"name": "escape"}), 403, "read-only token making a token")
}

// adminPrincipal is the admin as the auth service sees it through the
// bearer token.
func adminPrincipal(t *testing.T, e *authEnv) *identity.Principal {
	t.Helper()
	p, err := e.au.Authenticate(context.Background(), e.token, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// setRoles changes a user's roles in the store, behind the service, and
// waits out the token cache (on the auth clock).
func setRoles(t *testing.T, e *authEnv, id string, roles ...string) {
	t.Helper()
	ctx := context.Background()
	d, err := e.st.GetDoc(ctx, auth.KindUser, id)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(d.Data, &m); err != nil {
		t.Fatal(err)
	}
	m["roles"] = roles
	d.Data, _ = json.Marshal(m)
	d.Version++
	if err := e.st.PutDoc(ctx, d, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
}

// forge changes a token's first character, always to another one (a
// token that began with the replacement would otherwise stay right).
func forge(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}
