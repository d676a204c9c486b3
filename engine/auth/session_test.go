package auth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

func (e *env) session(t *testing.T, email, pw string) (string, *identity.Principal) {
	t.Helper()
	ctx := context.Background()
	r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: email, Password: pw, IP: "192.0.2.1"})
	if err != nil || r.Token == "" {
		t.Fatalf("BeginLogin(%s) = %+v, %v", email, r, err)
	}
	p, err := e.svc.Authenticate(ctx, r.Token, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	return r.Token, p
}

// setRoles changes a user's roles behind the service's back (then drops
// the cache as SetAccess would).
func (e *env) setRoles(t *testing.T, id string, roles ...string) {
	t.Helper()
	ctx := context.Background()
	d, _, ud, err := e.svc.loadUser(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ud.Roles = roles
	data, _ := json.Marshal(ud)
	if err := e.st.PutDoc(ctx, &store.Doc{Kind: KindUser, ID: id, Key: d.Key, Version: d.Version + 1, Data: data}, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	e.svc.cache.dropUser(id)
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	tok, p := e.session(t, "admin@example.com", adminPW)
	if p.TokenKind != "session" || p.ReadOnly || p.Restricted != "" || p.SecondFactor {
		t.Fatalf("principal %+v", p)
	}
	// Each use slides the idle deadline.
	for range 5 {
		e.clock.Add(DefaultIdleTimeout - time.Minute)
		if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
			t.Fatalf("used within the idle timeout: %v", err)
		}
	}
	// The recorded last use is at most a tenth of the timeout stale.
	e.clock.Add(DefaultIdleTimeout / 20)
	e.svc.Authenticate(ctx, tok, "")
	e.clock.Add(DefaultIdleTimeout * 9 / 10)
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
		t.Fatalf("idle for 90%% of the timeout: %v", err)
	}
	e.clock.Add(DefaultIdleTimeout)
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != ErrUnauthenticated {
		t.Fatalf("idle session: %v", err)
	}
	if list, _ := e.svc.ListTokens(ctx, p); len(list) != 0 {
		t.Fatalf("idle session still listed: %+v", list[0])
	}

	// The cache does not outlive the idle deadline either.
	s2 := New(e.st, Options{Logger: quiet, Now: e.clock.Now, SessionIdleTimeout: 5 * time.Second})
	r, err := s2.BeginLogin(ctx, LoginRequest{Email: "admin@example.com", Password: adminPW})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Authenticate(ctx, r.Token, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(5 * time.Second)
	if _, err := s2.Authenticate(ctx, r.Token, ""); err != ErrUnauthenticated {
		t.Fatalf("cached past the idle deadline: %v", err)
	}

	// API tokens have no idle timeout; a negative option turns it off.
	api, _, err := e.svc.CreateToken(ctx, e.admin, "script", nil)
	if err != nil {
		t.Fatal(err)
	}
	s3 := New(e.st, Options{Logger: quiet, Now: e.clock.Now, SessionIdleTimeout: -1})
	r3, err := s3.BeginLogin(ctx, LoginRequest{Email: "admin@example.com", Password: adminPW})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(11 * time.Hour)
	if _, err := e.svc.Authenticate(ctx, api, ""); err != nil {
		t.Fatalf("API token after 11 idle hours: %v", err)
	}
	if _, err := s3.Authenticate(ctx, r3.Token, ""); err != nil {
		t.Fatalf("session without idle timeout: %v", err)
	}
}

func TestAbsoluteTimeout(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	tok, _ := e.session(t, "admin@example.com", adminPW)
	start := e.clock.Now()
	for e.clock.Now().Before(start.Add(DefaultSessionTTL - 10*time.Minute)) {
		e.clock.Add(10 * time.Minute)
		if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
			t.Fatalf("busy session at %v: %v", e.clock.Now().Sub(start), err)
		}
	}
	e.clock.Add(start.Add(DefaultSessionTTL).Sub(e.clock.Now()))
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != ErrUnauthenticated {
		t.Fatalf("busy session past the absolute timeout: %v", err)
	}
}

func TestSessionRotation(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "kim@example.com", "kims-password")
	old, _ := e.session(t, "admin@example.com", adminPW)
	// A login with a session in hand (another user's, even) ends it.
	r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "kim@example.com", Password: "kims-password", Held: old, Cookie: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Token == old || !r.Session.Cookie {
		t.Fatalf("result %+v", r)
	}
	if _, err := e.svc.Authenticate(ctx, old, ""); err != ErrUnauthenticated {
		t.Fatalf("held session after a login: %v", err)
	}
	p, err := e.svc.Authenticate(ctx, r.Token, "")
	if err != nil || p.UserID != u.ID {
		t.Fatalf("new session: %+v %v", p, err)
	}
	if as := e.audits(t, "auth.session_replaced"); len(as) != 1 || as[0].Actor != u.ID {
		t.Fatalf("audit %+v", as)
	}
	// An API token handed in as the held session is left alone; garbage is
	// ignored.
	api, _, _ := e.svc.CreateToken(ctx, p, "x", nil)
	for _, held := range []string{api, "jimu_garbage", ""} {
		if _, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "kim@example.com", Password: "kims-password", Held: held}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Authenticate(ctx, api, ""); err != nil {
		t.Fatalf("API token revoked as a held session: %v", err)
	}
}

func TestScopedToken(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "lee@example.com", "lees-password", "manager", "sales_rep", "admin")
	_, p := e.session(t, "lee@example.com", "lees-password")

	tok, info, err := e.svc.CreateScopedToken(ctx, p, "report", nil, &TokenScope{Roles: []string{"manager", " manager"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Roles, []string{"manager"}) || info.ReadOnly {
		t.Fatalf("info %+v", info)
	}
	tp, err := e.svc.Authenticate(ctx, tok, "")
	if err != nil || !slices.Equal(tp.Roles, []string{"manager"}) || tp.IsAdmin() || tp.TokenKind != "api" {
		t.Fatalf("scoped principal %+v, %v", tp, err)
	}
	// Only the owner's roles.
	for _, roles := range [][]string{{"superuser"}, {"manager", "auditor"}, {}, {" "}} {
		if _, _, err := e.svc.CreateScopedToken(ctx, p, "x", nil, &TokenScope{Roles: roles}); inputField(err) != "scope.roles" {
			t.Fatalf("roles %q: %v", roles, err)
		}
	}
	// A token made by a scoped principal is scoped as much, at least.
	tok2, info2, err := e.svc.CreateScopedToken(ctx, tp, "child", nil, nil)
	if err != nil || !slices.Equal(info2.Roles, []string{"manager"}) {
		t.Fatalf("child token %+v %v", info2, err)
	}
	if _, _, err := e.svc.CreateScopedToken(ctx, tp, "child", nil, &TokenScope{Roles: []string{"admin"}}); inputField(err) != "scope.roles" {
		t.Fatalf("child escalating: %v", err)
	}
	// The owner losing the role takes it from the token too: never more
	// than the owner.
	e.setRoles(t, u.ID, "sales_rep")
	for _, tk := range []string{tok, tok2} {
		tp, err := e.svc.Authenticate(ctx, tk, "")
		if err != nil || len(tp.Roles) != 0 {
			t.Fatalf("after the owner lost the role: %+v %v", tp, err)
		}
	}
	// An unscoped token follows the owner.
	e.setRoles(t, u.ID, "sales_rep", "manager")
	_, p = e.session(t, "lee@example.com", "lees-password")
	full, info3, err := e.svc.CreateScopedToken(ctx, p, "full", nil, &TokenScope{})
	if err != nil || info3.Roles != nil {
		t.Fatalf("unscoped %+v %v", info3, err)
	}
	e.setRoles(t, u.ID, "sales_rep", "manager", "auditor")
	if fp, _ := e.svc.Authenticate(ctx, full, ""); !slices.Equal(fp.Roles, []string{"sales_rep", "manager", "auditor"}) {
		t.Fatalf("unscoped token roles %v", fp.Roles)
	}

	// Read-only tokens; they may not make tokens.
	ro, info4, err := e.svc.CreateScopedToken(ctx, p, "ro", nil, &TokenScope{ReadOnly: true})
	if err != nil || !info4.ReadOnly {
		t.Fatalf("read-only %+v %v", info4, err)
	}
	rp, err := e.svc.Authenticate(ctx, ro, "")
	if err != nil || !rp.ReadOnly {
		t.Fatalf("read-only principal %+v %v", rp, err)
	}
	if _, _, err := e.svc.CreateToken(ctx, rp, "escape", nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("read-only principal made a token: %v", err)
	}
	as := e.audits(t, "token.create")
	if len(as) == 0 || as[0].Changes["read_only"] != true {
		t.Fatalf("audit %+v", as[0])
	}
}

func TestChallengeIsNoCredential(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	e.user(t, "max@example.com", "maxs-password")
	_, p := e.session(t, "max@example.com", "maxs-password")
	secret := e.enableTOTP(t, p)
	r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "max@example.com", Password: "maxs-password"})
	if err != nil || !r.SecondFactorRequired || r.Token != "" || r.Challenge == "" {
		t.Fatalf("BeginLogin = %+v, %v (secret %s)", r, err, secret)
	}
	if _, err := e.svc.Authenticate(ctx, r.Challenge, ""); err != ErrUnauthenticated {
		t.Fatalf("challenge authenticated: %v", err)
	}
	list, _ := e.svc.ListTokens(ctx, p)
	for _, tk := range list {
		if tk.Kind == tokenChallenge {
			t.Fatal("challenge listed as a token")
		}
	}
}
