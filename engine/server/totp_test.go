package server_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/server"
)

func (e *authEnv) code(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCode(secret, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// otherCode is a six-digit code other than c.
func otherCode(c string) string { return c[:5] + string(rune('0'+(c[5]-'0'+1)%10)) }

type challengeAnswer struct {
	SecondFactorRequired bool `json:"second_factor_required"`
	Challenge            string
	ExpiresAt            time.Time `json:"expires_at"`
	Token                *string
}

func TestTOTPFlowHTTP(t *testing.T) {
	e := startAuth(t, auth.Options{})

	// Setup answers a secret and its otpauth:// URL; nothing changes yet.
	var setup struct {
		Secret string
		URL    string `json:"otpauth_url"`
		Digits int
		Period int
	}
	e.do("POST", "/api/v1/auth/totp/setup", nil, 200, &setup)
	u, err := url.Parse(setup.URL)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != setup.Secret || setup.Digits != 6 || setup.Period != 30 {
		t.Fatalf("setup %+v", setup)
	}
	var st map[string]any
	e.do("GET", "/api/v1/auth/totp", nil, 200, &st)
	if st["enabled"] != false || st["pending"] != true {
		t.Fatalf("state %v", st)
	}
	e.anon().do("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass}, 200, nil)

	// Enable: a wrong code is refused; the right one answers 10 recovery
	// codes.
	r := e.raw("POST", "/api/v1/auth/totp/enable", map[string]any{"code": otherCode(e.code(setup.Secret))})
	if r.Status != 422 || problemFields(t, r)["code"] == "" {
		t.Fatalf("wrong code: %d %s", r.Status, r.Body)
	}
	var en struct {
		Enabled       bool
		RecoveryCodes []string `json:"recovery_codes"`
	}
	e.do("POST", "/api/v1/auth/totp/enable", map[string]any{"code": e.code(setup.Secret)}, 200, &en)
	if !en.Enabled || len(en.RecoveryCodes) != 10 {
		t.Fatalf("enable %+v", en)
	}
	wantStatus(t, e.raw("POST", "/api/v1/auth/totp/setup", nil), 409, "setup while enabled")

	// Login: first the password, then the code.
	var ch challengeAnswer
	e.anon().do("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass}, 200, &ch)
	if !ch.SecondFactorRequired || ch.Challenge == "" || ch.Token != nil || !ch.ExpiresAt.Equal(e.clock.Now().Add(5*time.Minute)) {
		t.Fatalf("first step %+v", ch)
	}
	wantStatus(t, e.bearer(ch.Challenge).raw("GET", "/api/v1/auth/me", nil), 401, "challenge as a bearer token")
	// The code that enabled is spent: replay refused.
	r = e.anon().raw("POST", "/api/v1/auth/login/totp", map[string]any{"challenge": ch.Challenge, "code": e.code(setup.Secret)})
	wantStatus(t, r, 401, "replayed code")
	e.clock.nextStep()
	code := e.code(setup.Secret)
	var done struct {
		Token string
		User  map[string]any
	}
	e.anon().do("POST", "/api/v1/auth/login/totp", map[string]any{"challenge": ch.Challenge, "code": code}, 200, &done)
	if !strings.HasPrefix(done.Token, auth.TokenPrefix) || done.User["email"] != adminEmail {
		t.Fatalf("second step %+v", done)
	}
	wantStatus(t, e.bearer(done.Token).raw("GET", "/api/v1/meta/entities", nil), 200, "two-factor session")
	wantStatus(t, e.anon().raw("POST", "/api/v1/auth/login/totp", map[string]any{"challenge": ch.Challenge, "code": code}), 401, "challenge reused")
	if as := e.audits("auth.totp_failed"); len(as) != 2 {
		t.Fatalf("%d failed codes audited, want 2", len(as))
	}

	// A recovery code, once; the second step can make a cookie session.
	e.anon().do("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass, "session": "cookie"}, 200, &ch)
	b := &browser{e: e}
	b.take(b.req("POST", "/api/v1/auth/login/totp", map[string]any{"challenge": ch.Challenge, "recovery_code": en.RecoveryCodes[0]}), 200)
	wantStatus(t, b.req("GET", "/api/v1/auth/me", nil), 200, "cookie session after a recovery code")
	e.anon().do("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass}, 200, &ch)
	wantStatus(t, e.anon().raw("POST", "/api/v1/auth/login/totp", map[string]any{"challenge": ch.Challenge, "recovery_code": en.RecoveryCodes[0]}), 401, "recovery code reused")
	wantStatus(t, e.anon().raw("POST", "/api/v1/auth/login/totp", map[string]any{"challenge": ch.Challenge, "code": "1", "recovery_code": "2"}), 422, "both code kinds")
	e.do("GET", "/api/v1/auth/totp", nil, 200, &st)
	if st["recovery_codes_left"].(float64) != 9 {
		t.Fatalf("state %v", st)
	}

	// Disable with a code.
	e.clock.nextStep()
	wantStatus(t, e.raw("POST", "/api/v1/auth/totp/disable", map[string]any{"code": otherCode(e.code(setup.Secret))}), 422, "disable, wrong code")
	e.do("POST", "/api/v1/auth/totp/disable", map[string]any{"code": e.code(setup.Secret)}, 204, nil)
	var plain struct{ Token string }
	e.anon().do("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass}, 200, &plain)
	if plain.Token == "" {
		t.Fatal("no token after disabling TOTP")
	}
}

func TestTOTPThrottleHTTP(t *testing.T) {
	e := startAuth(t, auth.Options{})
	var setup struct{ Secret string }
	e.do("POST", "/api/v1/auth/totp/setup", nil, 200, &setup)
	e.do("POST", "/api/v1/auth/totp/enable", map[string]any{"code": e.code(setup.Secret)}, 200, nil)
	e.clock.nextStep()
	var ch challengeAnswer
	e.anon().do("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass}, 200, &ch)
	for i := range 5 {
		r := e.anon().raw("POST", "/api/v1/auth/login/totp", map[string]any{"challenge": ch.Challenge, "code": otherCode(e.code(setup.Secret))})
		wantStatus(t, r, 401, "wrong code "+string(rune('1'+i)))
	}
	r := e.anon().raw("POST", "/api/v1/auth/login/totp", map[string]any{"challenge": ch.Challenge, "code": e.code(setup.Secret)})
	wantStatus(t, r, 429, "right code after 5 wrong ones")
	wantStatus(t, e.anon().raw("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass}), 429, "password after 5 wrong codes")
	if n := len(e.audits("auth.totp_failed")); n != 5 {
		t.Fatalf("%d failures audited", n)
	}
}

func TestRequiredSecondFactorHTTP(t *testing.T) {
	e := startAuth(t, auth.Options{RequireSecondFactor: func(roles []string) bool { return slices.Contains(roles, "admin") }})
	// start signed the admin in: a session restricted to the TOTP setup.
	var login map[string]any
	e.anon().do("POST", "/api/v1/auth/login", map[string]any{"email": adminEmail, "password": adminPass}, 200, &login)
	if login["second_factor_setup_required"] != true || login["token"] == nil {
		t.Fatalf("login %v", login)
	}
	restricted := e.bearer(login["token"].(string))
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/meta/entities"}, {"GET", "/api/v1/records/deal"}, {"GET", "/api/v1/auth/tokens"},
		{"POST", "/api/v1/auth/tokens"}, {"GET", "/api/v1/users"}, {"GET", "/api/v1/audit"}, {"GET", "/api/v1/openapi.json"},
		{"GET", "/api/v1/auth/me/../tokens"}, {"GET", "/api/v1/auth/totp/%2e%2e/tokens"}, {"GET", "/api/v1/AUTH/TOKENS"},
	} {
		r := restricted.raw(c.method, c.path, map[string]any{"name": "x"})
		wantStatus(t, r, 403, "restricted "+c.method+" "+c.path)
	}
	wantStatus(t, restricted.raw("GET", "/api/v1/auth/me", nil), 200, "restricted /auth/me")
	wantStatus(t, restricted.raw("GET", "/api/v1/auth/me/", nil), 200, "restricted /auth/me/")
	var st map[string]any
	restricted.do("GET", "/api/v1/auth/totp", nil, 200, &st)
	if st["required"] != true {
		t.Fatalf("state %v", st)
	}
	var setup struct{ Secret string }
	restricted.do("POST", "/api/v1/auth/totp/setup", nil, 200, &setup)
	var en struct {
		RecoveryCodes []string `json:"recovery_codes"`
		Token         string
	}
	restricted.do("POST", "/api/v1/auth/totp/enable", map[string]any{"code": e.code(setup.Secret)}, 200, &en)
	if len(en.RecoveryCodes) != 10 || en.Token == "" {
		t.Fatalf("enable %+v", en)
	}
	wantStatus(t, restricted.raw("GET", "/api/v1/auth/me", nil), 401, "restricted session after enable")
	full := e.bearer(en.Token)
	wantStatus(t, full.raw("GET", "/api/v1/meta/entities", nil), 200, "full session")
	e.clock.nextStep()
	r := full.raw("POST", "/api/v1/auth/totp/disable", map[string]any{"code": e.code(setup.Secret)})
	wantStatus(t, r, 403, "disable a required factor")

	// In a browser: the restricted session is a cookie, and so is the full
	// one.
	e.clock.Add(20 * time.Minute)
	if _, err := e.au.CreateUser(t.Context(), adminPrincipalOf(t, e, en.Token), auth.NewUser{Email: "tia@example.com", Password: "tias-password", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	b := &browser{e: e}
	m := b.take(b.req("POST", "/api/v1/auth/login", map[string]any{"email": "tia@example.com", "password": "tias-password", "session": "cookie"}), 200)
	if m["second_factor_setup_required"] != true {
		t.Fatalf("login %v", m)
	}
	wantStatus(t, b.send("POST", "/api/v1/auth/tokens", map[string]any{"name": "x"}), 403, "restricted cookie session")
	var bs struct{ Secret string }
	r = b.send("POST", "/api/v1/auth/totp/setup", nil)
	wantStatus(t, r, 200, "setup")
	bs.Secret = r.JSON(t)["secret"].(string)
	old := *b
	b.take(b.send("POST", "/api/v1/auth/totp/enable", map[string]any{"code": e.code(bs.Secret)}), 200)
	if b.session == old.session {
		t.Fatal("session not replaced")
	}
	wantStatus(t, old.req("GET", "/api/v1/auth/me", nil), 401, "restricted cookie after enable")
	wantStatus(t, b.req("GET", "/api/v1/meta/entities", nil), 200, "full cookie session")
	if c := cookies(b.req("GET", "/api/v1/auth/me", nil))[server.SessionCookie]; c != nil {
		t.Fatalf("cookie set on a plain request: %v", c)
	}
}

func adminPrincipalOf(t *testing.T, e *authEnv, tok string) *identity.Principal {
	t.Helper()
	p, err := e.au.Authenticate(t.Context(), tok, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
