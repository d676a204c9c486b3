package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

func (e *env) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextStep moves the clock to the start of the next TOTP time step.
func (e *env) nextStep() {
	now := e.clock.Now()
	e.clock.Add(time.Duration(totpPeriod-now.Unix()%totpPeriod)*time.Second - time.Duration(now.Nanosecond()))
}

// enableTOTP sets up and enables TOTP for p's user and returns the secret.
func (e *env) enableTOTP(t *testing.T, p *identity.Principal) string {
	t.Helper()
	ctx := context.Background()
	st, err := e.svc.SetupTOTP(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.EnableTOTP(ctx, p, e.code(t, st.Secret)); err != nil {
		t.Fatal(err)
	}
	e.nextStep() // the code just used is spent
	return st.Secret
}

func TestTOTPFlow(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "nina@example.com", "ninas-password")
	_, p := e.session(t, "nina@example.com", "ninas-password")

	// Setup: a pending secret, not yet asked at login.
	st, err := e.svc.SetupTOTP(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	ku, err := url.Parse(st.URL)
	if err != nil || ku.Scheme != "otpauth" || ku.Host != "totp" || ku.Query().Get("secret") != st.Secret ||
		ku.Query().Get("issuer") != DefaultTOTPIssuer || !strings.Contains(ku.Path, "nina@example.com") || len(st.Secret) != 32 {
		t.Fatalf("setup %+v", st)
	}
	if r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "nina@example.com", Password: "ninas-password"}); err != nil || r.Token == "" {
		t.Fatalf("login with a pending secret: %+v %v", r, err)
	}
	if s, _ := e.svc.TOTPState(ctx, p); s.Enabled || !s.Pending {
		t.Fatalf("state %+v", s)
	}
	// A second setup replaces the pending secret.
	st2, _ := e.svc.SetupTOTP(ctx, p)
	if st2.Secret == st.Secret {
		t.Fatal("same secret twice")
	}
	if _, err := e.svc.EnableTOTP(ctx, p, e.code(t, st.Secret)); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("code of the replaced secret: %v", err)
	}
	for _, bad := range []string{"", "1234567", "abcdef", strings.Repeat("9", 100)} {
		if _, err := e.svc.EnableTOTP(ctx, p, bad); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("code %q: %v", bad, err)
		}
	}
	e.clock.Add(maxThrottleDelay) // wait out those failures
	en, err := e.svc.EnableTOTP(ctx, p, e.code(t, st2.Secret))
	if err != nil {
		t.Fatal(err)
	}
	if len(en.RecoveryCodes) != RecoveryCodeCount || en.Session != nil {
		t.Fatalf("enabled %+v", en)
	}
	if _, err := e.svc.SetupTOTP(ctx, p); !errors.Is(err, ErrTOTPEnabled) {
		t.Fatalf("setup while enabled: %v", err)
	}
	// Stored: the secret (it must be), recovery codes only hashed. Audit
	// entries hold neither.
	d, _ := e.st.GetDoc(ctx, KindTOTP, u.ID)
	for _, c := range en.RecoveryCodes {
		if bytes.Contains(d.Data, []byte(strings.ReplaceAll(c, "-", ""))) || bytes.Contains(d.Data, []byte(c)) {
			t.Fatal("recovery code stored in clear")
		}
	}
	as, _ := e.st.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	b, _ := json.Marshal(as)
	if bytes.Contains(b, []byte(st2.Secret)) || bytes.Contains(b, []byte(en.RecoveryCodes[0])) {
		t.Fatal("audit leaks the secret or a recovery code")
	}
	if len(e.audits(t, "auth.totp_enabled")) != 1 || len(e.audits(t, "auth.totp_setup")) != 2 {
		t.Fatal("setup/enable not audited")
	}

	// Login now takes two steps.
	r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "nina@example.com", Password: "ninas-password", IP: "198.51.100.2"})
	if err != nil || !r.SecondFactorRequired || r.Token != "" || r.Session != nil || !r.ChallengeExpiresAt.Equal(e.clock.Now().Add(ChallengeTTL)) {
		t.Fatalf("first step %+v %v", r, err)
	}
	if _, _, err := e.svc.Login(ctx, "nina@example.com", "ninas-password", ""); err != ErrSecondFactorRequired {
		t.Fatalf("one-step Login: %v", err)
	}
	// The code used to enable is spent (same time step): replay refused.
	code := e.code(t, st2.Secret)
	if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r.Challenge, Code: code}); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("replayed code: %v", err)
	}
	if a := e.audits(t, "auth.totp_failed"); len(a) == 0 || a[0].Changes["reason"] != "replayed_code" {
		t.Fatalf("failure audit %+v", a)
	}
	e.nextStep()
	code = e.code(t, st2.Secret)
	done, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r.Challenge, Code: code, IP: "198.51.100.2"})
	if err != nil || done.Token == "" || !done.Session.SecondFactor {
		t.Fatalf("second step %+v %v", done, err)
	}
	sp, err := e.svc.Authenticate(ctx, done.Token, "")
	if err != nil || !sp.SecondFactor || sp.UserID != u.ID {
		t.Fatalf("principal %+v %v", sp, err)
	}
	// The challenge is used up; the code too, even with a new challenge.
	if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r.Challenge, Code: code}); err != ErrUnauthenticated {
		t.Fatalf("challenge reused: %v", err)
	}
	r2, _ := e.svc.BeginLogin(ctx, LoginRequest{Email: "nina@example.com", Password: "ninas-password"})
	if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r2.Challenge, Code: code}); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("code reused: %v", err)
	}
	// In the next step the code is still within the accepted drift, but its
	// step is used: refused.
	e.nextStep()
	e.clock.Add(5 * time.Second)
	if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r2.Challenge, Code: code}); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("code of an already used step: %v", err)
	}
	if as := e.audits(t, "auth.login"); as[0].Changes["second_factor"] != "totp" {
		t.Fatalf("login audit %+v", as[0])
	}

	// Recovery codes: each once, in any spelling.
	rc := strings.ToUpper(strings.ReplaceAll(en.RecoveryCodes[3], "-", " "))
	done, err = e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r2.Challenge, RecoveryCode: rc})
	if err != nil || !done.Session.SecondFactor {
		t.Fatalf("recovery code: %+v %v", done, err)
	}
	r3, _ := e.svc.BeginLogin(ctx, LoginRequest{Email: "nina@example.com", Password: "ninas-password"})
	if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r3.Challenge, RecoveryCode: en.RecoveryCodes[3]}); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("recovery code reused: %v", err)
	}
	if s, _ := e.svc.TOTPState(ctx, p); s.RecoveryCodesLeft != RecoveryCodeCount-1 {
		t.Fatalf("state %+v", s)
	}
	if a := e.audits(t, "auth.recovery_code_used"); len(a) != 1 || a[0].Changes["recovery_codes_left"] != float64(RecoveryCodeCount-1) {
		t.Fatalf("recovery audit %+v", a)
	}

	// The challenge expires.
	e.clock.Add(ChallengeTTL)
	e.nextStep()
	if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r3.Challenge, Code: e.code(t, st2.Secret)}); err != ErrUnauthenticated {
		t.Fatalf("expired challenge: %v", err)
	}

	// Disabling takes a current code or a recovery code, from a session.
	e.clock.Add(maxThrottleDelay)
	np := e.login2(t, "nina@example.com", "ninas-password", st2.Secret)
	api, _, _ := e.svc.CreateToken(ctx, np, "script", nil)
	ap, _ := e.svc.Authenticate(ctx, api, "")
	e.nextStep()
	if err := e.svc.DisableTOTP(ctx, ap, e.code(t, st2.Secret), ""); !errors.Is(err, ErrSessionOnly) {
		t.Fatalf("disable with an API token: %v", err)
	}
	if _, err := e.svc.SetupTOTP(ctx, ap); !errors.Is(err, ErrSessionOnly) {
		t.Fatalf("setup with an API token: %v", err)
	}
	if err := e.svc.DisableTOTP(ctx, np, wrongCode(e.code(t, st2.Secret)), ""); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("disable with a wrong code: %v", err)
	}
	if err := e.svc.DisableTOTP(ctx, np, "", en.RecoveryCodes[0]); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.svc.TOTPState(ctx, np); s.Enabled || s.Pending || s.RecoveryCodesLeft != 0 {
		t.Fatalf("state after disable %+v", s)
	}
	if len(e.audits(t, "auth.totp_disabled")) != 1 {
		t.Fatal("disable not audited")
	}
	if _, _, err := e.svc.Login(ctx, "nina@example.com", "ninas-password", ""); err != nil {
		t.Fatalf("one-step login after disable: %v", err)
	}
	if err := e.svc.DisableTOTP(ctx, np, e.code(t, st2.Secret), ""); !errors.Is(err, ErrTOTPNotEnabled) {
		t.Fatalf("disable twice: %v", err)
	}
}

// wrongCode is a six-digit code other than c.
func wrongCode(c string) string {
	return c[:5] + string(rune('0'+(c[5]-'0'+1)%10))
}

// login2 signs in with password and TOTP.
func (e *env) login2(t *testing.T, email, pw, secret string) *identity.Principal {
	t.Helper()
	ctx := context.Background()
	r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: email, Password: pw})
	if err != nil || !r.SecondFactorRequired {
		t.Fatalf("BeginLogin %+v %v", r, err)
	}
	e.nextStep()
	done, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r.Challenge, Code: e.code(t, secret)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.Authenticate(ctx, done.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTOTPThrottle(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	e.user(t, "olga@example.com", "olgas-password")
	_, p := e.session(t, "olga@example.com", "olgas-password")
	secret := e.enableTOTP(t, p)
	begin := func() string {
		t.Helper()
		r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "olga@example.com", Password: "olgas-password", IP: "203.0.113.5"})
		if err != nil || !r.SecondFactorRequired {
			t.Fatalf("BeginLogin %+v %v", r, err)
		}
		return r.Challenge
	}
	wrong := func(ch string) {
		t.Helper()
		_, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: ch, Code: wrongCode(e.code(t, secret)), IP: "203.0.113.5"})
		if !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	// The right password between guesses does not reset the count.
	const ip, owner = "203.0.113.5", "198.51.100.20"
	ch := begin()
	for range pairFree - 1 {
		wrong(ch)
	}
	ch = begin()
	wrong(ch)
	_, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: ch, Code: e.code(t, secret), IP: ip})
	if throttledFor(t, err, ScopeAccountAddress) != time.Second {
		t.Fatalf("right code after %d wrong ones: %v", pairFree, err)
	}
	_, err = e.svc.BeginLogin(ctx, LoginRequest{Email: "olga@example.com", Password: "olgas-password", IP: ip})
	throttledFor(t, err, ScopeAccountAddress)
	if n := len(e.audits(t, "auth.totp_failed")); n != pairFree {
		t.Fatalf("%d failures audited", n)
	}
	// The owner elsewhere, with the right password and code, gets in.
	r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "olga@example.com", Password: "olgas-password", IP: owner})
	if err != nil || !r.SecondFactorRequired {
		t.Fatalf("owner's password: %+v %v", r, err)
	}
	e.nextStep()
	if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r.Challenge, Code: e.code(t, secret), IP: owner}); err != nil {
		t.Fatalf("owner's code: %v", err)
	}
	// The counter expires; a complete login clears the count.
	e.clock.Add(pairTTL)
	ch = begin()
	wrong(ch)
	e.nextStep()
	if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: ch, Code: e.code(t, secret), IP: ip}); err != nil {
		t.Fatal(err)
	}
	for range pairFree - 1 {
		wrong(begin())
	}
	if _, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "olga@example.com", Password: "olgas-password", IP: ip}); err != nil {
		t.Fatalf("count not cleared by the complete login: %v", err)
	}
	// Recovery-code guesses count the same.
	e.clock.Add(pairTTL)
	ch = begin()
	for range pairFree {
		if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: ch, RecoveryCode: "aaaa-bbbb-cccc-dddd", IP: ip}); !errors.Is(err, ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	_, err = e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: ch, RecoveryCode: "aaaa-bbbb-cccc-dddd", IP: ip})
	throttledFor(t, err, ScopeAccountAddress)
}

func TestRequireSecondFactor(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	var asked [][]string
	e.svc = New(e.st, Options{Logger: quiet, Now: e.clock.Now, RequireSecondFactor: func(roles []string) bool {
		asked = append(asked, roles)
		return slices.Contains(roles, AdminRole)
	}})
	e.user(t, "pat@example.com", "pats-password")
	if _, _, err := e.svc.Login(ctx, "pat@example.com", "pats-password", ""); err != nil {
		t.Fatalf("a role without the requirement: %v", err)
	}
	if _, _, err := e.svc.Login(ctx, "admin@example.com", adminPW, ""); err != ErrSecondFactorRequired {
		t.Fatalf("one-step login of an admin: %v", err)
	}
	r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "admin@example.com", Password: adminPW, Cookie: true})
	if err != nil || !r.SetupRequired || r.Token == "" || r.Session.Restricted != identity.RestrictedTOTPSetup ||
		!r.Session.ExpiresAt.Equal(e.clock.Now().Add(RestrictedSessionTTL)) {
		t.Fatalf("BeginLogin %+v %v", r, err)
	}
	rp, err := e.svc.Authenticate(ctx, r.Token, "")
	if err != nil || rp.Restricted != identity.RestrictedTOTPSetup || rp.IsAdmin() || len(rp.Roles) != 0 {
		t.Fatalf("restricted principal %+v %v", rp, err)
	}
	if _, _, err := e.svc.CreateToken(ctx, rp, "escape", nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("restricted session made a token: %v", err)
	}
	if s, _ := e.svc.TOTPState(ctx, rp); !s.Required || s.Enabled {
		t.Fatalf("state %+v", s)
	}
	st, err := e.svc.SetupTOTP(ctx, rp)
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.svc.EnableTOTP(ctx, rp, e.code(t, st.Secret))
	if err != nil || en.Session == nil || en.Session.Token == "" || !en.Session.Session.SecondFactor || !en.Session.Session.Cookie {
		t.Fatalf("enable %+v %v", en, err)
	}
	if _, err := e.svc.Authenticate(ctx, r.Token, ""); err != ErrUnauthenticated {
		t.Fatalf("restricted session after enable: %v", err)
	}
	fp, err := e.svc.Authenticate(ctx, en.Session.Token, "")
	if err != nil || !fp.IsAdmin() || !fp.SecondFactor || fp.Restricted != "" {
		t.Fatalf("full session %+v %v", fp, err)
	}
	e.nextStep()
	if err := e.svc.DisableTOTP(ctx, fp, e.code(t, st.Secret), ""); !errors.Is(err, ErrSecondFactorMandatory) || !errors.Is(err, ErrForbidden) {
		t.Fatalf("disable a required factor: %v", err)
	}
	// From now on, the admin signs in with the code.
	if r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "admin@example.com", Password: adminPW}); err != nil || !r.SecondFactorRequired {
		t.Fatalf("login after enable: %+v %v", r, err)
	}
	// The restricted session times out on its own.
	e.user(t, "quinn@example.com", "quinns-password", AdminRole)
	r, _ = e.svc.BeginLogin(ctx, LoginRequest{Email: "quinn@example.com", Password: "quinns-password"})
	e.clock.Add(RestrictedSessionTTL)
	if _, err := e.svc.Authenticate(ctx, r.Token, ""); err != ErrUnauthenticated {
		t.Fatalf("restricted session past its TTL: %v", err)
	}
	if len(asked) == 0 {
		t.Fatal("hook not asked")
	}
}

func TestResetTOTP(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "rosa@example.com", "rosas-password")
	_, p := e.session(t, "rosa@example.com", "rosas-password")
	e.enableTOTP(t, p)
	if err := e.svc.ResetTOTP(ctx, p, u.ID); !errors.Is(err, ErrForbidden) {
		t.Fatalf("non-admin reset: %v", err)
	}
	if err := e.svc.ResetTOTP(ctx, e.admin, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reset of nobody: %v", err)
	}
	if err := e.svc.ResetTOTP(ctx, e.admin, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Login(ctx, "rosa@example.com", "rosas-password", ""); err != nil {
		t.Fatalf("login after reset: %v", err)
	}
	if as := e.audits(t, "auth.totp_reset"); len(as) != 1 || as[0].Actor != e.admin.UserID || as[0].RecordID != u.ID {
		t.Fatalf("audit %+v", as)
	}
}
