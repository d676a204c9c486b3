package server_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/auth"
)

// Throttle figures as the README states them: five failures of one address
// against one account, then 1 s, 2 s, 4 s …; twenty against one account
// from anywhere, then each failing address waits the account's delay.
const pairFree, acctFree = 5, 20

// from is the env without a token whose requests come from the loopback
// address ip (Linux answers on all of 127.0.0.0/8), so that the server sees
// another client.
func (e *authEnv) from(ip string) *env {
	a := *e.env
	a.token = ""
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	a.httpClient = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	return &a
}

func login(email, pw string) map[string]any { return map[string]any{"email": email, "password": pw} }

// wantThrottled checks a 429 with Retry-After (seconds) and a problem
// document.
func wantThrottled(t *testing.T, r *response, retry int, what string) {
	t.Helper()
	wantStatus(t, r, 429, what)
	if got := r.Header.Get("Retry-After"); got != fmt.Sprint(retry) {
		t.Fatalf("%s: Retry-After %q, want %d", what, got, retry)
	}
	unit := "seconds"
	if retry == 1 {
		unit = "second"
	}
	if m := r.JSON(t); !strings.Contains(fmt.Sprint(m["detail"]), fmt.Sprintf("try again in %d %s", retry, unit)) {
		t.Fatalf("%s: detail %v", what, m["detail"])
	}
}

func (e *authEnv) user(email, pw string) string {
	e.t.Helper()
	var u struct{ ID string }
	e.do("POST", "/api/v1/users", map[string]any{"email": email, "password": pw, "roles": []string{"sales_rep"}}, 201, &u)
	return u.ID
}

// A guesser is slowed and audited; the owner signing in from elsewhere
// during the attack gets in (issue 13 item 5: five failures from anywhere
// used to lock the account, the admin's included, with no Retry-After).
func TestLoginThrottleHTTP(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startAuthOn(t, open(t), auth.Options{})
			attacker := e.from("127.0.0.2")
			for i := range pairFree {
				wantStatus(t, attacker.raw("POST", "/api/v1/auth/login", login(adminEmail, "guess")), 401, fmt.Sprintf("guess %d", i+1))
			}
			wantThrottled(t, attacker.raw("POST", "/api/v1/auth/login", login(adminEmail, adminPass)), 1, "right password from the guesser")
			e.clock.Add(time.Second)
			wantStatus(t, attacker.raw("POST", "/api/v1/auth/login", login(adminEmail, "guess")), 401, "guess after waiting")
			wantThrottled(t, attacker.raw("POST", "/api/v1/auth/login", login(adminEmail, "guess")), 2, "the delay doubles")
			if n := len(e.audits("auth.login_failed")); n != pairFree+1 {
				t.Fatalf("%d failures audited", n)
			}
			th := e.audits("auth.login_throttled")
			if len(th) == 0 || th[0].IP != "127.0.0.2" || th[0].Changes["scope"] != auth.ScopeAccountAddress ||
				th[0].Changes["step"] != "password" || th[0].Changes["email"] != adminEmail {
				t.Fatalf("auth.login_throttled %+v", th)
			}

			// The owner, from another address, signs in.
			var ok struct{ Token string }
			e.from("127.0.0.3").do("POST", "/api/v1/auth/login", login(adminEmail, adminPass), 200, &ok)
			e.bearer(ok.Token).do("GET", "/api/v1/auth/me", nil, 200, nil)
		})
	}
}

// A guesser spread over many addresses is still slowed for the account;
// the owner, with the right password and second factor, gets in.
func TestDistributedThrottleHTTP(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startAuthOn(t, open(t), auth.Options{})
			var setup struct{ Secret string }
			e.do("POST", "/api/v1/auth/totp/setup", nil, 200, &setup)
			e.do("POST", "/api/v1/auth/totp/enable", map[string]any{"code": e.code(setup.Secret)}, 200, nil)
			e.clock.nextStep()
			for i := range acctFree {
				r := e.from(fmt.Sprintf("127.0.1.%d", i+1)).raw("POST", "/api/v1/auth/login", login(adminEmail, "guess"))
				wantStatus(t, r, 401, fmt.Sprintf("first guess from address %d", i+1))
			}
			// A second guess from any of them waits the account's delay.
			wantThrottled(t, e.from("127.0.1.1").raw("POST", "/api/v1/auth/login", login(adminEmail, "guess")), 1, "second guess")
			// The owner, with password and code, from an address of their own.
			owner := e.from("127.0.0.9")
			var ch challengeAnswer
			owner.do("POST", "/api/v1/auth/login", login(adminEmail, adminPass), 200, &ch)
			if !ch.SecondFactorRequired {
				t.Fatalf("no challenge: %+v", ch)
			}
			var done struct{ Token string }
			owner.do("POST", "/api/v1/auth/login/totp", map[string]any{"challenge": ch.Challenge, "code": e.code(setup.Secret)}, 200, &done)
			e.bearer(done.Token).do("GET", "/api/v1/auth/me", nil, 200, nil)
		})
	}
}

// A deactivation ends the user's sessions and API tokens for good: a
// reactivation used to bring them all back (issue 13 item 6).
func TestReactivationHTTP(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startAuthOn(t, open(t), auth.Options{})
			id := e.user("rep@example.com", "reps-password")
			b := e.cookieLogin("rep@example.com", "reps-password")
			var sess struct{ Token string }
			e.anon().do("POST", "/api/v1/auth/login", login("rep@example.com", "reps-password"), 200, &sess)
			var api struct{ Token string }
			e.bearer(sess.Token).do("POST", "/api/v1/auth/tokens", map[string]any{"name": "script"}, 201, &api)

			e.do("PATCH", "/api/v1/users/"+id, map[string]any{"active": false}, 200, nil)
			e.do("PATCH", "/api/v1/users/"+id, map[string]any{"active": true}, 200, nil)
			wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 401, "old session cookie after reactivation")
			wantStatus(t, e.bearer(sess.Token).raw("GET", "/api/v1/auth/me", nil), 401, "old bearer session after reactivation")
			wantStatus(t, e.bearer(api.Token).raw("GET", "/api/v1/auth/me", nil), 401, "old API token after reactivation")
			if a := e.audits("user.update"); len(a) != 2 || a[1].Changes["sessions_and_tokens_ended"] != true {
				t.Fatalf("audit %+v", a)
			}
			b2 := e.cookieLogin("rep@example.com", "reps-password")
			wantStatus(t, b2.req("GET", "/api/v1/auth/me", nil), 200, "new session")
		})
	}
}

// A password change ends every other session of the user, keeps the
// current one and the API tokens; an admin's reset ends them all.
func TestPasswordChangeHTTP(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startAuthOn(t, open(t), auth.Options{})
			id := e.user("rep@example.com", "reps-password")
			b := e.cookieLogin("rep@example.com", "reps-password")
			var other struct{ Token string }
			e.anon().do("POST", "/api/v1/auth/login", login("rep@example.com", "reps-password"), 200, &other)
			var api struct{ Token string }
			e.bearer(other.Token).do("POST", "/api/v1/auth/tokens", map[string]any{"name": "script"}, 201, &api)

			change := map[string]any{"current_password": "reps-password", "new_password": "reps-new-password"}
			wantStatus(t, e.bearer(api.Token).raw("POST", "/api/v1/auth/password", change), 403, "change with an API token")
			wantStatus(t, b.req("POST", "/api/v1/auth/password", change), 403, "change without the CSRF token")
			wantStatus(t, b.send("POST", "/api/v1/auth/password", change), 204, "change")
			wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 200, "the changing session")
			wantStatus(t, e.bearer(other.Token).raw("GET", "/api/v1/auth/me", nil), 401, "the other session")
			wantStatus(t, e.bearer(api.Token).raw("GET", "/api/v1/auth/me", nil), 200, "the API token")
			wantStatus(t, e.anon().raw("POST", "/api/v1/auth/login", login("rep@example.com", "reps-password")), 401, "old password")
			wantStatus(t, e.anon().raw("POST", "/api/v1/auth/login", login("rep@example.com", "reps-new-password")), 200, "new password")
			if a := e.audits("user.password_change"); len(a) != 1 || a[0].Actor != id || a[0].Changes["other_sessions_ended"] != true {
				t.Fatalf("audit %+v", a)
			}

			// The admin's reset ends every session, the current one too.
			wantStatus(t, b.send("POST", "/api/v1/users/"+id+"/password", map[string]any{"password": "whatever-password"}), 403, "reset by a non-admin")
			var me struct{ ID string }
			e.do("GET", "/api/v1/auth/me", nil, 200, &me)
			r := e.raw("POST", "/api/v1/users/"+me.ID+"/password", map[string]any{"password": "admins-new-password"})
			wantStatus(t, r, 422, "an admin's reset of their own password")
			if f := problemFields(t, r); f["password"] != "forbidden" {
				t.Fatalf("fields %v", f)
			}
			e.do("POST", "/api/v1/users/"+id+"/password", map[string]any{"password": "reps-reset-password"}, 204, nil)
			wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 401, "session after the reset")
			wantStatus(t, e.anon().raw("POST", "/api/v1/auth/login", login("rep@example.com", "reps-reset-password")), 200, "reset password")
			if a := e.audits("user.password_reset"); len(a) != 1 || a[0].RecordID != id {
				t.Fatalf("audit %+v", a)
			}
		})
	}
}

// Bad input to the password endpoints changes nothing and names the field.
func TestPasswordChangeBadInput(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startAuthOn(t, open(t), auth.Options{})
			id := e.user("rep@example.com", "reps-password")
			b := e.cookieLogin("rep@example.com", "reps-password")
			for _, c := range []struct {
				body   any
				status int
				field  string
			}{
				{`{"current_password": "reps-password", "new_password": "reps-new-password", "x": 1}`, 400, "body"},
				{`{"current_password": `, 400, "body"},
				{map[string]any{"new_password": "reps-new-password"}, 422, "current_password"},
				{map[string]any{"current_password": "reps-password"}, 422, "new_password"},
				{map[string]any{"current_password": "reps-password", "new_password": "short"}, 422, "new_password"},
				{map[string]any{"current_password": "reps-password", "new_password": strings.Repeat("p", 257)}, 422, "new_password"},
				{map[string]any{"current_password": "reps-password", "new_password": "reps-password"}, 422, "new_password"},
				{map[string]any{"current_password": "wrong-password", "new_password": "reps-new-password"}, 422, "current_password"},
			} {
				r := b.send("POST", "/api/v1/auth/password", c.body)
				wantStatus(t, r, c.status, fmt.Sprint(c.body))
				if f := problemFields(t, r); f[c.field] == "" {
					t.Fatalf("%v: fields %v, want %s", c.body, f, c.field)
				}
			}
			if n := len(e.audits("auth.password_change_failed")); n != 1 {
				t.Fatalf("%d failed changes audited", n)
			}
			for _, c := range []struct {
				body   any
				status int
				field  string
			}{
				{map[string]any{"password": "short"}, 422, "password"},
				{map[string]any{}, 422, "password"},
				{`{"password": 5}`, 400, "body"},
			} {
				r := e.raw("POST", "/api/v1/users/"+id+"/password", c.body)
				wantStatus(t, r, c.status, fmt.Sprint(c.body))
				if f := problemFields(t, r); f[c.field] == "" {
					t.Fatalf("%v: fields %v, want %s", c.body, f, c.field)
				}
			}
			wantStatus(t, e.raw("POST", "/api/v1/users/nope/password", map[string]any{"password": "long-enough-password"}), 404, "unknown user")
			// Nothing changed.
			wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 200, "session after refused changes")
			wantStatus(t, e.anon().raw("POST", "/api/v1/auth/login", login("rep@example.com", "reps-password")), 200, "old password after refused changes")
		})
	}
}

// API tokens asked for without an expiry get the default lifetime, and an
// expiry past the maximum is refused (issue 13 item 11).
func TestTokenExpiryHTTP(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := startAuthOn(t, open(t), auth.Options{})
			var tok struct {
				Token string
				Info  struct {
					ExpiresAt time.Time `json:"expires_at"`
				}
			}
			e.do("POST", "/api/v1/auth/tokens", map[string]any{"name": "ci"}, 201, &tok)
			if want := e.clock.Now().Add(auth.DefaultTokenTTL); !tok.Info.ExpiresAt.Equal(want) {
				t.Fatalf("expires_at %v, want %v", tok.Info.ExpiresAt, want)
			}
			late := e.clock.Now().Add(auth.DefaultTokenMaxTTL + time.Hour)
			r := e.raw("POST", "/api/v1/auth/tokens", map[string]any{"name": "late", "expires_at": late})
			wantStatus(t, r, 422, "expiry past the maximum")
			if f := problemFields(t, r); f["expires_at"] != "too_far" {
				t.Fatalf("fields %v", f)
			}
			e.clock.Add(auth.DefaultTokenTTL)
			wantStatus(t, e.bearer(tok.Token).raw("GET", "/api/v1/auth/me", nil), 401, "token past the default lifetime")
		})
	}
}

// TestInputErrorCodes: refusals of sign-in data name a code and its
// numbers, so the app says "at least 12 characters" in the person's
// language rather than showing the English text.
func TestInputErrorCodes(t *testing.T) {
	e := start(t)
	r := e.raw("POST", "/api/v1/users", map[string]any{"email": "x@example.com", "password": "short"})
	var p struct {
		Errors []struct {
			Field, Code string
			Params      map[string]any
		}
	}
	if err := json.Unmarshal(r.Body, &p); err != nil || r.Status != 422 || len(p.Errors) != 1 ||
		p.Errors[0].Code != "too_short" || p.Errors[0].Params["min"] != float64(auth.MinPasswordLen) {
		t.Fatalf("a short password: %d %s", r.Status, r.Body)
	}
	if f := problemFields(t, e.raw("POST", "/api/v1/users", map[string]any{"email": "not an address", "password": adminPass})); f["email"] != "format" {
		t.Fatalf("a malformed e-mail: %v", f)
	}
}
