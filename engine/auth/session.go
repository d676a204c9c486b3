package auth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// Session timeouts.
const (
	// DefaultIdleTimeout ends a session unused this long, unless Options
	// say otherwise.
	DefaultIdleTimeout = 30 * time.Minute
	// ChallengeTTL is how long the second step of a login may wait.
	ChallengeTTL = 5 * time.Minute
	// RestrictedSessionTTL bounds a session restricted to setting up a
	// second factor.
	RestrictedSessionTTL = 15 * time.Minute
	// DefaultTOTPIssuer names the instance in authenticator apps.
	DefaultTOTPIssuer = "Jimu"
)

// sessionConfig is what Options say about sessions and second factors.
type sessionConfig struct {
	idle         time.Duration // 0: no idle timeout
	requireSF    func(roles []string) bool
	issuer       string
	alwaysSecure bool
}

func newSessionConfig(o Options) sessionConfig {
	c := sessionConfig{idle: o.SessionIdleTimeout, requireSF: o.RequireSecondFactor, issuer: o.TOTPIssuer,
		alwaysSecure: o.AlwaysSecureCookies}
	switch {
	case c.idle == 0:
		c.idle = DefaultIdleTimeout
	case c.idle < 0:
		c.idle = 0
	}
	if c.issuer == "" {
		c.issuer = DefaultTOTPIssuer
	}
	return c
}

// idleSeconds is the idle timeout a new session records (0: none).
func (c sessionConfig) idleSeconds() int64 {
	if c.idle <= 0 {
		return 0
	}
	return max(1, int64((c.idle+time.Second-1)/time.Second))
}

// requires reports whether users with these roles must use a second factor.
func (c sessionConfig) requires(roles []string) bool {
	return c.requireSF != nil && c.requireSF(slices.Clone(roles))
}

// AlwaysSecureCookies reports Options.AlwaysSecureCookies (for the HTTP
// layer).
func (s *Service) AlwaysSecureCookies() bool { return s.sess.alwaysSecure }

// SecondFactorRequired reports whether Options.RequireSecondFactor asks a
// second factor of users holding these roles.
func (s *Service) SecondFactorRequired(roles []string) bool { return s.sess.requires(roles) }

// end is when the token stops working by itself: the earlier of its
// absolute expiry and its idle deadline (the last use, or the creation,
// plus the idle timeout). ok is false if it never does.
func (t *tokenDoc) end() (end time.Time, ok bool) {
	if t.ExpiresAt != nil {
		end, ok = *t.ExpiresAt, true
	}
	if t.IdleSeconds > 0 {
		last := t.CreatedAt
		if t.LastUsedAt != nil && t.LastUsedAt.After(last) {
			last = *t.LastUsedAt
		}
		idle := last.Add(time.Duration(t.IdleSeconds) * time.Second)
		if !ok || idle.Before(end) {
			end, ok = idle, true
		}
	}
	return end, ok
}

// touchEvery is how stale the recorded last use may get: at most a tenth of
// the idle timeout, so that the timeout slides with use (a session is idle
// for at least 90% of the timeout before it ends).
func (t *tokenDoc) touchEvery() time.Duration {
	if t.IdleSeconds > 0 {
		return min(touchInterval, time.Duration(t.IdleSeconds)*time.Second/10)
	}
	return touchInterval
}

// applyToken narrows a principal built from the token's owner to what the
// token allows: the intersection of the owner's current roles with the
// token's, read-only, restricted to a purpose (then with no roles at all).
func applyToken(p *identity.Principal, td *tokenDoc) {
	p.TokenKind = td.Kind
	p.ReadOnly = td.ReadOnly
	p.SecondFactor = td.SecondFactor
	p.Restricted = td.Restricted
	if td.Roles != nil {
		p.Roles = intersect(p.Roles, td.Roles)
	}
	if td.Restricted != "" {
		p.Roles = []string{}
	}
}

// intersect returns the elements of a that are in b, in a's order.
func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// AuditDenial records a refused request of an authenticated principal (a
// CSRF failure: action "auth.csrf_denied") with details such as the method
// and path. Best effort: a failure to write is logged.
func (s *Service) AuditDenial(ctx context.Context, p *identity.Principal, action string, details map[string]any) {
	if p == nil {
		return
	}
	a := s.audit(s.clock(), p.UserID, p.IP, action, KindToken, p.TokenID, details)
	if err := s.st.AppendAudit(ctx, a); err != nil {
		s.log.Warn("auth: audit of a denial", "action", action, "err", err)
	}
}

// revokeHeld revokes the session whose token the client handed in (a
// browser's old session cookie) unless it is keep, so that a login always
// starts a fresh session id. Any user's session is revoked: the client
// holds its token. It reports whether a live session was revoked.
func (s *Service) revokeHeld(ctx context.Context, actor, ip, held, keep string) bool {
	tok := parseBearer(held)
	if tok == "" {
		return false
	}
	d, err := s.st.GetDocByKey(ctx, KindToken, hashToken(tok))
	if err != nil || d.ID == keep {
		return false
	}
	return s.revokeSession(ctx, actor, ip, d.ID, "auth.session_replaced")
}

// revokeSession revokes a live session by id (nothing else), reporting
// whether it did.
func (s *Service) revokeSession(ctx context.Context, actor, ip, id, action string) bool {
	live := false
	err := s.revoke(ctx, &identity.Principal{UserID: actor, IP: ip}, id, action, func(td *tokenDoc) error {
		if td.Kind != tokenSession {
			return errSkip
		}
		live = td.usable(s.clock())
		return nil
	})
	if err != nil && !errorsIsAny(err, errSkip, store.ErrNotFound) {
		s.log.Warn("auth: revoking a replaced session", "token", id, "err", err)
	}
	return err == nil && live
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
