package auth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// A deactivation ends sessions, API tokens and pending logins for good: a
// reactivation used to bring them all back (issue 13 item 6).
func TestReactivationRevivesNothing(t *testing.T) {
	onBackends(t, func(t *testing.T, e *env, _ func() store.Store) {
		e.withAdmin(t)
		ctx := context.Background()
		u := e.user(t, "ivy@example.com", "ivys-password")
		sess, p := e.session(t, "ivy@example.com", "ivys-password")
		api, _, err := e.svc.CreateToken(ctx, p, "script", nil)
		if err != nil {
			t.Fatal(err)
		}
		// A second node has the session cached.
		other := e.node(e.st)
		if _, err := other.Authenticate(ctx, sess, ""); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetActive(ctx, e.admin, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetActive(ctx, e.admin, u.ID, true); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(cacheTTL) // the other node's cache lapses
		for name, tok := range map[string]string{"session": sess, "API token": api} {
			for i, svc := range []*Service{e.svc, other} {
				if _, err := svc.Authenticate(ctx, tok, ""); err != ErrUnauthenticated {
					t.Fatalf("old %s on node %d after reactivation: %v", name, i, err)
				}
			}
		}
		if list, err := e.svc.ListTokens(ctx, &identity.Principal{UserID: u.ID}); err != nil || len(list) != 0 {
			t.Fatalf("dead tokens listed: %+v %v", list, err)
		}
		// New credentials work.
		sess2, p2 := e.session(t, "ivy@example.com", "ivys-password")
		api2, _, err := e.svc.CreateToken(ctx, p2, "script 2", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{sess2, api2} {
			if _, err := other.Authenticate(ctx, tok, ""); err != nil {
				t.Fatalf("new credential: %v", err)
			}
		}
		// Pruning removes the dead ones, keeps the new ones.
		if n, err := e.svc.PruneTokens(ctx); err != nil || n != 2 {
			t.Fatalf("pruned %d (%v), want the 2 dead tokens", n, err)
		}
		if _, err := e.svc.Authenticate(ctx, api2, ""); err != nil {
			t.Fatalf("after pruning: %v", err)
		}
	})
}

// A deactivation also ends a login waiting for its second factor, and one
// racing with it: a session opened for the user as read before the
// deactivation is of the old generation.
func TestDeactivationEndsPendingLogin(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "jay@example.com", "jays-password")
	_, p := e.session(t, "jay@example.com", "jays-password")
	secret := e.enableTOTP(t, p)
	r, err := e.svc.BeginLogin(ctx, LoginRequest{Email: "jay@example.com", Password: "jays-password"})
	if err != nil || !r.SecondFactorRequired {
		t.Fatalf("BeginLogin %+v %v", r, err)
	}
	if err := e.svc.SetActive(ctx, e.admin, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetActive(ctx, e.admin, u.ID, true); err != nil {
		t.Fatal(err)
	}
	e.nextStep()
	if _, err := e.svc.CompleteLogin(ctx, SecondFactorRequest{Challenge: r.Challenge, Code: e.code(t, secret)}); err != ErrUnauthenticated {
		t.Fatalf("challenge from before the deactivation: %v", err)
	}
	stale, err := e.svc.GetUser(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	stale.credGen--
	lr, err := e.svc.openSession(ctx, stale, "", "", false, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, lr.Token, ""); err != ErrUnauthenticated {
		t.Fatalf("session opened from a pre-deactivation read: %v", err)
	}
}

// A password change ends every other session of the user and any pending
// login, keeps the one it was made with and the API tokens, and is
// audited.
func TestChangePassword(t *testing.T) {
	onBackends(t, func(t *testing.T, e *env, _ func() store.Store) {
		e.withAdmin(t)
		ctx := context.Background()
		u := e.user(t, "kim@example.com", "kims-password")
		mine, p := e.session(t, "kim@example.com", "kims-password")
		other, _ := e.session(t, "kim@example.com", "kims-password")
		api, _, err := e.svc.CreateToken(ctx, p, "script", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.ChangePassword(ctx, p, "kims-password", "kims-new-password"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Authenticate(ctx, mine, ""); err != nil {
			t.Fatalf("the changing session: %v", err)
		}
		if _, err := e.svc.Authenticate(ctx, other, ""); err != ErrUnauthenticated {
			t.Fatalf("the other session: %v", err)
		}
		if _, err := e.svc.Authenticate(ctx, api, ""); err != nil {
			t.Fatalf("API token: %v", err)
		}
		if err := e.login("kim@example.com", "kims-password", ""); err != ErrInvalidCredentials {
			t.Fatalf("old password: %v", err)
		}
		if err := e.login("kim@example.com", "kims-new-password", ""); err != nil {
			t.Fatalf("new password: %v", err)
		}
		as := e.audits(t, "user.password_change")
		if len(as) != 1 || as[0].Actor != u.ID || as[0].RecordID != u.ID || as[0].Changes["other_sessions_ended"] != true {
			t.Fatalf("audit %+v", as)
		}
		b, _ := json.Marshal(as)
		if strings.Contains(string(b), "kims-") {
			t.Fatalf("audit holds a password: %s", b)
		}
	})
}

func TestChangePasswordRefusals(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	e.user(t, "lou@example.com", "lous-password")
	_, p := e.session(t, "lou@example.com", "lous-password")
	api, _, _ := e.svc.CreateToken(ctx, p, "script", nil)
	pa, _ := e.svc.Authenticate(ctx, api, "")
	if err := e.svc.ChangePassword(ctx, pa, "lous-password", "lous-new-password"); !errors.Is(err, ErrSessionOnly) {
		t.Fatalf("with an API token: %v", err)
	}
	ro := *p
	ro.ReadOnly = true
	if err := e.svc.ChangePassword(ctx, &ro, "lous-password", "lous-new-password"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("read-only: %v", err)
	}
	if err := e.svc.ChangePassword(ctx, nil, "lous-password", "lous-new-password"); err != ErrUnauthenticated {
		t.Fatalf("nil principal: %v", err)
	}
	for _, c := range []struct{ current, next, field string }{
		{"", "lous-new-password", "current_password"},
		{"lous-password", "short", "new_password"},
		{"lous-password", strings.Repeat("x", MaxPasswordLen+1), "new_password"},
		{"lous-password", "lous-password", "new_password"},
	} {
		if err := e.svc.ChangePassword(ctx, p, c.current, c.next); inputField(err) != c.field {
			t.Fatalf("ChangePassword(%q, %q) = %v, want an error on %s", c.current, c.next, err, c.field)
		}
	}
	// A wrong current password is a failed sign-in: audited, throttled.
	for range pairFree {
		if err := e.svc.ChangePassword(ctx, p, "not-lous-password", "lous-new-password"); err != ErrWrongPassword {
			t.Fatalf("wrong current password: %v", err)
		}
	}
	if n := len(e.audits(t, "auth.password_change_failed")); n != pairFree {
		t.Fatalf("%d failures audited", n)
	}
	throttledFor(t, e.svc.ChangePassword(ctx, p, "lous-password", "lous-new-password"), ScopeAccountAddress)
	// Nothing changed.
	if err := e.login("lou@example.com", "lous-password", "198.51.100.1"); err != nil {
		t.Fatalf("the old password after refused changes: %v", err)
	}
}

// An admin's reset ends every session of the user.
func TestResetPassword(t *testing.T) {
	onBackends(t, func(t *testing.T, e *env, _ func() store.Store) {
		e.withAdmin(t)
		ctx := context.Background()
		u := e.user(t, "max@example.com", "maxs-password")
		sess, p := e.session(t, "max@example.com", "maxs-password")
		if err := e.svc.ResetPassword(ctx, p, u.ID, "maxs-new-password"); !errors.Is(err, ErrForbidden) {
			t.Fatalf("non-admin reset: %v", err)
		}
		if err := e.svc.ResetPassword(ctx, e.admin, e.admin.UserID, "admins-new-password"); inputField(err) != "password" {
			t.Fatalf("own reset: %v", err)
		}
		if err := e.svc.ResetPassword(ctx, e.admin, u.ID, "short"); inputField(err) != "password" {
			t.Fatalf("short password: %v", err)
		}
		if err := e.svc.ResetPassword(ctx, e.admin, "nope", "maxs-new-password"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
		if _, err := e.svc.Authenticate(ctx, sess, ""); err != nil {
			t.Fatalf("refused resets changed something: %v", err)
		}
		if err := e.svc.ResetPassword(ctx, e.admin, u.ID, "maxs-new-password"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Authenticate(ctx, sess, ""); err != ErrUnauthenticated {
			t.Fatalf("session after reset: %v", err)
		}
		if err := e.login("max@example.com", "maxs-new-password", ""); err != nil {
			t.Fatal(err)
		}
		if as := e.audits(t, "user.password_reset"); len(as) != 1 || as[0].Actor != e.admin.UserID || as[0].RecordID != u.ID {
			t.Fatalf("audit %+v", as)
		}
	})
}

// API tokens written without an expiry (by a version before default
// lifetimes) get one at their first use or at the hourly prune: the
// default lifetime from then.
func TestLegacyTokenExpiry(t *testing.T) {
	onBackends(t, func(t *testing.T, e *env, _ func() store.Store) {
		e.withAdmin(t)
		ctx := context.Background()
		legacy := func(name string) (string, string) {
			t.Helper()
			plain, hash, err := newSecret()
			if err != nil {
				t.Fatal(err)
			}
			// As main wrote it: no expiry, no generations.
			data, _ := json.Marshal(map[string]any{"user_id": e.admin.UserID, "name": name, "kind": "api",
				"created_at": e.clock.Now().Add(-400 * 24 * time.Hour), "revoked": false})
			d := &store.Doc{Kind: KindToken, ID: store.NewID(), Key: hash, Version: 1, Data: data}
			if err := e.st.PutDoc(ctx, d, store.Sides{}); err != nil {
				t.Fatal(err)
			}
			return plain, d.ID
		}
		used, usedID := legacy("used")
		_, idleID := legacy("idle")
		expiry := func(id string) *time.Time {
			t.Helper()
			d, err := e.st.GetDoc(ctx, KindToken, id)
			if err != nil {
				t.Fatal(err)
			}
			td, _ := decodeToken(d)
			return td.ExpiresAt
		}
		want := e.clock.Now().Add(DefaultTokenTTL)
		if _, err := e.svc.Authenticate(ctx, used, ""); err != nil {
			t.Fatalf("legacy token: %v", err)
		}
		if got := expiry(usedID); got == nil || !got.Equal(want) {
			t.Fatalf("used token expires %v, want %v", got, want)
		}
		if got := expiry(idleID); got != nil {
			t.Fatalf("unused token expires %v before the prune", got)
		}
		e.clock.Add(time.Hour)
		if _, err := e.svc.PruneTokens(ctx); err != nil {
			t.Fatal(err)
		}
		if got := expiry(idleID); got == nil || !got.Equal(want.Add(time.Hour)) {
			t.Fatalf("unused token expires %v after the prune, want %v", got, want.Add(time.Hour))
		}
		if got := expiry(usedID); !got.Equal(want) {
			t.Fatalf("the prune moved the used token's expiry to %v", got)
		}
		if n := len(e.audits(t, "token.expiry_set")); n != 2 {
			t.Fatalf("%d token.expiry_set entries", n)
		}
		e.clock.Add(DefaultTokenTTL - time.Hour)
		if _, err := e.svc.Authenticate(ctx, used, ""); err != ErrUnauthenticated {
			t.Fatalf("legacy token after the default lifetime: %v", err)
		}
	})
}

func TestTokenLifetimeOptions(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	svc := New(e.st, Options{Logger: quiet, Now: e.clock.Now, TokenTTL: time.Hour, TokenMaxTTL: 2 * time.Hour})
	tok, _, err := svc.Login(ctx, "admin@example.com", adminPW, "")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := svc.Authenticate(ctx, tok, "")
	_, meta, err := svc.CreateToken(ctx, p, "hourly", nil)
	if err != nil || !meta.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("token %+v %v", meta, err)
	}
	late := e.clock.Now().Add(2*time.Hour + time.Second)
	if _, _, err := svc.CreateToken(ctx, p, "late", &late); inputField(err) != "expires_at" || !strings.Contains(err.Error(), "2h0m0s") {
		t.Fatalf("past the maximum: %v", err)
	}
	// The maximum is never below the default.
	if s := New(e.st, Options{TokenTTL: 48 * time.Hour, TokenMaxTTL: time.Hour}); s.TokenMaxTTL() != 48*time.Hour || s.TokenTTL() != 48*time.Hour {
		t.Fatalf("lifetimes %v %v", s.TokenTTL(), s.TokenMaxTTL())
	}
	if s := New(e.st, Options{}); s.TokenTTL() != DefaultTokenTTL || s.TokenMaxTTL() != DefaultTokenMaxTTL {
		t.Fatalf("default lifetimes %v %v", s.TokenTTL(), s.TokenMaxTTL())
	}
}
