package auth

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// Login errors besides ErrInvalidCredentials and ErrThrottled.
var (
	// ErrSecondFactorRequired is Login's answer for a user who must sign in
	// with a second factor (or set one up): use BeginLogin.
	ErrSecondFactorRequired = errors.New("a second factor is required")
	// ErrInvalidCode is a wrong, reused or malformed TOTP or recovery code.
	ErrInvalidCode = errors.New("invalid or already used code")
)

// LoginRequest is the first step of a login: e-mail and password.
type LoginRequest struct {
	Email    string
	Password string
	IP       string
	// Held is a session token the client already holds (a browser's session
	// cookie). It is revoked when the new session opens, so that a login
	// always starts under a new session id.
	Held string
	// Cookie records that the session travels in a browser cookie (token
	// listings show it).
	Cookie bool
}

// SecondFactorRequest is the second step of a login: the challenge from
// the first and a TOTP code or a recovery code.
type SecondFactorRequest struct {
	Challenge    string
	Code         string
	RecoveryCode string
	IP           string
	Held         string
	Cookie       bool
}

// LoginResult is the outcome of a login step.
type LoginResult struct {
	User *User
	// Token is the new session's bearer token, Session describes it. Both
	// are empty when SecondFactorRequired.
	Token   string
	Session *Token
	// SecondFactorRequired: the password was right and the user has a
	// second factor; finish with CompleteLogin(Challenge, code) before
	// ChallengeExpiresAt.
	SecondFactorRequired bool
	Challenge            string
	ChallengeExpiresAt   time.Time
	// SetupRequired: the user's roles require a second factor and the user
	// has none. Token is a session restricted to setting one up
	// (identity.RestrictedTOTPSetup); enabling TOTP with it replaces it with
	// a full session.
	SetupRequired bool
}

// Login checks an e-mail and password and opens a session, returning its
// bearer token. It is BeginLogin for callers that cannot go on to a second
// factor: a user who has one, or must set one up, gets
// ErrSecondFactorRequired (and no session).
func (s *Service) Login(ctx context.Context, email, password, ip string) (string, *User, error) {
	r, err := s.beginLogin(ctx, LoginRequest{Email: email, Password: password, IP: ip}, false)
	if err != nil {
		return "", nil, err
	}
	if r.Token == "" {
		return "", r.User, ErrSecondFactorRequired
	}
	return r.Token, r.User, nil
}

// BeginLogin checks an e-mail and password (see checkCredentials for the
// failures, throttling and audit). Then:
//   - a user with TOTP enabled gets a challenge, valid ChallengeTTL, for
//     CompleteLogin, and no session; failed attempts stay counted until the
//     second factor is right too;
//   - a user whose roles require a second factor (Options.RequireSecondFactor)
//     and who has none gets a session restricted to setting it up;
//   - anyone else gets a session.
func (s *Service) BeginLogin(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	return s.beginLogin(ctx, req, true)
}

func (s *Service) beginLogin(ctx context.Context, req LoginRequest, secondStep bool) (*LoginResult, error) {
	c, err := s.checkCredentials(ctx, req.Email, req.Password, req.IP)
	if err != nil {
		return nil, err
	}
	if c.rehash {
		if v := s.rehash(ctx, c.d.ID, req.Password); v > 0 {
			c.u.Version = v
		}
	}
	tf, _, err := s.loadTOTP(ctx, c.d.ID)
	if err != nil {
		c.try.abort(ctx)
		return nil, err
	}
	switch {
	case tf != nil && tf.Enabled:
		// The password alone does not clear the failures: a password holder
		// must not be able to reset the count between guesses of the code.
		c.try.abort(ctx)
		if !secondStep {
			return &LoginResult{User: c.u}, nil
		}
		now := s.clock()
		exp := now.Add(ChallengeTTL)
		td := &tokenDoc{UserID: c.d.ID, Name: "login challenge", Kind: tokenChallenge, CreatedAt: now, ExpiresAt: &exp, Cookie: req.Cookie,
			CredGen: c.u.credGen, SessGen: c.u.sessGen}
		plain, _, err := s.insertTokenDoc(ctx, td, s.audit(now, c.d.ID, req.IP, "auth.login_challenge", KindUser, c.d.ID, nil))
		if err != nil {
			return nil, err
		}
		return &LoginResult{User: c.u, SecondFactorRequired: true, Challenge: plain, ChallengeExpiresAt: exp}, nil
	case s.sess.requires(c.u.Roles):
		c.try.succeed(ctx) // the password is all this user has
		if !secondStep {
			return &LoginResult{User: c.u}, nil
		}
		r, err := s.openSession(ctx, c.u, req.IP, req.Held, req.Cookie, "", identity.RestrictedTOTPSetup)
		if err != nil {
			return nil, err
		}
		r.SetupRequired = true
		return r, nil
	default:
		c.try.succeed(ctx)
		return s.openSession(ctx, c.u, req.IP, req.Held, req.Cookie, "", "")
	}
}

// CompleteLogin is the second step of a login: the challenge BeginLogin
// returned and a current TOTP code or an unused recovery code. A wrong
// code counts as a failed login (throttled the same way, audited
// "auth.totp_failed") and leaves the challenge usable until it expires; a
// right one consumes the challenge and opens a session marked as opened
// with a second factor. A TOTP code is accepted once: a code of a time step
// already used is refused. An unknown, used or expired challenge gives
// ErrUnauthenticated.
func (s *Service) CompleteLogin(ctx context.Context, req SecondFactorRequest) (*LoginResult, error) {
	tok := parseBearer(req.Challenge)
	if tok == "" {
		return nil, ErrUnauthenticated
	}
	d, td, err := s.tokenByKey(ctx, hashToken(tok))
	if err != nil {
		return nil, err
	}
	if td.Kind != tokenChallenge || !td.usable(s.clock()) {
		return nil, ErrUnauthenticated
	}
	u, err := s.tokenUser(ctx, td)
	if err != nil {
		return nil, err
	}
	method, err := s.verifyFactor(ctx, factorCheck{user: u, code: req.Code, recovery: req.RecoveryCode, ip: req.IP,
		purpose: "login", clear: true})
	if errors.Is(err, ErrTOTPNotEnabled) {
		return nil, ErrUnauthenticated // turned off meanwhile: sign in again
	}
	if err != nil {
		return nil, err
	}
	// The challenge is single-use: of two completions racing with it, one
	// deletes it.
	if err := s.st.DeleteDoc(ctx, KindToken, d.ID, store.Sides{}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		return nil, err
	}
	return s.openSession(ctx, u, req.IP, req.Held, req.Cookie || td.Cookie, method, "")
}

// openSession opens a session for u with an "auth.login" audit entry and
// revokes the session the client held, if any. secondFactor names the
// second factor used ("totp", "recovery_code"), restricted the session's
// restriction.
func (s *Service) openSession(ctx context.Context, u *User, ip, held string, cookie bool, secondFactor, restricted string) (*LoginResult, error) {
	now := s.clock()
	exp := now.Add(s.ttl)
	if r := now.Add(RestrictedSessionTTL); restricted != "" && r.Before(exp) {
		exp = r
	}
	td := &tokenDoc{UserID: u.ID, Name: "session", Kind: tokenSession, CreatedAt: now, ExpiresAt: &exp,
		IdleSeconds: s.sess.idleSeconds(), SecondFactor: secondFactor != "", Cookie: cookie, Restricted: restricted,
		CredGen: u.credGen, SessGen: u.sessGen}
	changes := map[string]any{}
	if secondFactor != "" {
		changes["second_factor"] = secondFactor
	}
	if restricted != "" {
		changes["restricted"] = restricted
	}
	if cookie {
		changes["cookie"] = true
	}
	plain, t, err := s.insertTokenDoc(ctx, td, s.audit(now, u.ID, ip, "auth.login", KindUser, u.ID, changes))
	if err != nil {
		return nil, err
	}
	s.revokeHeld(ctx, u.ID, ip, held, t.ID)
	return &LoginResult{User: u, Token: plain, Session: t}, nil
}

// maxLoginPasswordBytes bounds what a login hashes; no stored password can
// be longer, so longer input is refused without hashing.
const maxLoginPasswordBytes = MaxPasswordLen * utf8.UTFMax

// credentials are a user whose password checked out at a login.
type credentials struct {
	d      *store.Doc
	u      *User
	ud     *userDoc
	rehash bool     // the hash's parameters are outdated
	try    *attempt // the throttled attempt, still open
}

// checkCredentials checks an e-mail and password, the first step of every
// login. An unknown e-mail, a wrong password and an inactive account all
// return ErrInvalidCredentials, after the same amount of hashing and the
// same throttle writes (and an "auth.login_failed" audit entry). An
// address that failed too often for the e-mail, or at all, gets a
// *ThrottledError (see throttle.go) before the password is looked at. On
// success the attempt is still open: the caller ends it with c.try.succeed
// (a complete login) or c.try.abort (a second factor is still due, so the
// failures stay counted).
func (s *Service) checkCredentials(ctx context.Context, email, password, ip string) (*credentials, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	try, err := s.beginAttempt(ctx, accountKey(email), ip)
	if err != nil {
		return nil, err
	}
	s.maybePrune(ctx)

	var (
		d  *store.Doc
		u  *User
		ud *userDoc
	)
	if e, err := normalizeEmail(email); err == nil {
		d, err = s.st.GetDocByKey(ctx, KindUser, e)
		if err == nil {
			u, ud, err = decodeUser(d)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			try.abort(ctx) // not the caller's failure
			return nil, err
		}
	}
	encoded := s.dummy()
	if ud != nil {
		encoded = ud.PasswordHash
	}
	ok, rehash := false, false
	if len(password) <= maxLoginPasswordBytes {
		var err error
		ok, rehash, err = s.verify(ctx, encoded, password)
		if err != nil {
			if ctx.Err() != nil {
				try.abort(ctx)
				return nil, ctx.Err()
			}
			s.log.Error("auth: stored password hash unreadable", "email", email, "err", err)
			ok = false
		}
	}
	now := s.clock()
	if ud == nil || !ok || !ud.Active {
		try.fail(ctx)
		reason := "bad_password"
		actor, recID := "", ""
		switch {
		case ud == nil:
			reason = "unknown_user"
		case ok && !ud.Active:
			reason = "inactive"
		}
		if ud != nil {
			actor, recID = d.ID, d.ID
		}
		a := s.audit(now, actor, ip, "auth.login_failed", KindUser, recID,
			map[string]any{"email": accountKey(email), "reason": reason})
		if err := s.st.AppendAudit(ctx, a); err != nil {
			s.log.Warn("auth: audit of failed login", "err", err)
		}
		return nil, ErrInvalidCredentials
	}
	return &credentials{d: d, u: u, ud: ud, rehash: rehash, try: try}, nil
}
