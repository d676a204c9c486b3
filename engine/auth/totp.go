package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// KindTOTP is the document kind of a user's TOTP state; its id is the
// user's.
const KindTOTP = "totp"

// TOTP parameters: RFC 6238 with the values every authenticator app
// supports.
const (
	totpPeriod         = 30 // seconds
	totpDigits         = otp.DigitsSix
	totpSkew           = 1  // steps either side accepted, for clock drift
	totpSecretBytes    = 20 // 160 bits, as RFC 4226 recommends
	RecoveryCodeCount  = 10
	recoveryCodeBytes  = 10 // 80 bits: 16 base32 characters
	maxFactorInputSize = 64
)

// TOTP errors.
var (
	ErrTOTPEnabled    = errors.New("a second factor is already enabled; disable it first")
	ErrTOTPNotEnabled = errors.New("no second factor is enabled")
	ErrTOTPNotSetUp   = errors.New("no second factor is being set up; call setup first")
	// ErrSecondFactorMandatory refuses to disable a second factor that the
	// user's roles require. It wraps ErrForbidden.
	ErrSecondFactorMandatory = fmt.Errorf("%w: your roles require a second factor", ErrForbidden)
	// ErrSessionOnly refuses second-factor management and password changes
	// with an API token. It wraps ErrForbidden.
	ErrSessionOnly = fmt.Errorf("%w: only a signed-in session (not an API token) can change its password or second factor", ErrForbidden)
)

// totpDoc is a user's TOTP state (Doc.Data of kind KindTOTP, id the user's).
// The secret must be readable to check codes, so it is stored as is, like
// the rest of the store's data; it never leaves the service after setup.
type totpDoc struct {
	Enabled   bool       `json:"enabled"`
	Secret    string     `json:"secret,omitempty"` // base32, while enabled
	EnabledAt *time.Time `json:"enabled_at,omitempty"`
	// Pending is the secret being set up, until enabled.
	Pending   string     `json:"pending_secret,omitempty"`
	PendingAt *time.Time `json:"pending_at,omitempty"`
	// LastStep is the last time step (unix time / 30 s) whose code was
	// accepted: a code is accepted only for a later step (no replay).
	LastStep int64 `json:"last_step,omitempty"`
	// Recovery holds the SHA-256 of the unused recovery codes.
	Recovery []string `json:"recovery,omitempty"`
}

// TOTPSetup is what SetupTOTP returns: the secret to enter in an
// authenticator app, also as an otpauth:// URL (for a QR code).
type TOTPSetup struct {
	Secret    string `json:"secret"`
	URL       string `json:"otpauth_url"`
	Issuer    string `json:"issuer"`
	Account   string `json:"account"`
	Algorithm string `json:"algorithm"`
	Digits    int    `json:"digits"`
	Period    int    `json:"period"`
}

// TOTPStatus is a user's second-factor state.
type TOTPStatus struct {
	Enabled           bool       `json:"enabled"`
	EnabledAt         *time.Time `json:"enabled_at,omitempty"`
	Pending           bool       `json:"pending"`
	RecoveryCodesLeft int        `json:"recovery_codes_left"`
	// Required: the user's roles require a second factor.
	Required bool `json:"required"`
}

// TOTPEnabled is what EnableTOTP returns.
type TOTPEnabled struct {
	// RecoveryCodes are shown only here; each works once instead of a code.
	RecoveryCodes []string
	// Session replaces the restricted session the call came with, if it
	// did (identity.RestrictedTOTPSetup): a full session opened with the
	// second factor just proven.
	Session *LoginResult
}

func (s *Service) loadTOTP(ctx context.Context, userID string) (*totpDoc, *store.Doc, error) {
	d, err := s.st.GetDoc(ctx, KindTOTP, userID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var tf totpDoc
	if err := json.Unmarshal(d.Data, &tf); err != nil {
		return nil, nil, fmt.Errorf("auth: totp %s: corrupt document: %w", d.ID, err)
	}
	return &tf, d, nil
}

// errNoWrite makes changeTOTP write nothing and return nil.
var errNoWrite = errors.New("no write")

// changeTOTP applies fn to the user's TOTP state (zero if none) and writes
// it with the audit entry fn returns, retrying on concurrent changes, so
// that what fn checks (a time step, a recovery code) is used once.
func (s *Service) changeTOTP(ctx context.Context, userID string, fn func(tf *totpDoc, now time.Time) (*store.AuditEntry, error)) error {
	for attempt := 0; ; attempt++ {
		tf, d, err := s.loadTOTP(ctx, userID)
		if err != nil {
			return err
		}
		var version int64
		if d != nil {
			version = d.Version
		} else {
			tf = &totpDoc{}
		}
		a, err := fn(tf, s.clock())
		if errors.Is(err, errNoWrite) {
			return nil
		}
		if err != nil {
			return err
		}
		data, err := json.Marshal(tf)
		if err != nil {
			return err
		}
		nd := &store.Doc{Kind: KindTOTP, ID: userID, Version: version + 1, Data: data}
		err = s.st.PutDoc(ctx, nd, store.Sides{Audit: a})
		if (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists)) && attempt < 5 {
			continue
		}
		return err
	}
}

// manager checks that p may manage its own second factor and returns its
// user.
func (s *Service) manager(ctx context.Context, p *identity.Principal) (*User, error) {
	if p == nil || p.UserID == "" {
		return nil, ErrUnauthenticated
	}
	if p.ReadOnly {
		return nil, ErrForbidden
	}
	if p.TokenKind != tokenSession {
		return nil, ErrSessionOnly
	}
	u, err := s.activeUser(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// TOTPState returns the principal's second-factor state.
func (s *Service) TOTPState(ctx context.Context, p *identity.Principal) (*TOTPStatus, error) {
	if p == nil || p.UserID == "" {
		return nil, ErrUnauthenticated
	}
	_, u, _, err := s.loadUser(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	tf, _, err := s.loadTOTP(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	st := &TOTPStatus{Required: s.sess.requires(u.Roles)}
	if tf != nil {
		st.Enabled, st.EnabledAt, st.Pending, st.RecoveryCodesLeft = tf.Enabled, tf.EnabledAt, tf.Pending != "", len(tf.Recovery)
	}
	return st, nil
}

// SetupTOTP starts setting up TOTP for the principal's user: it makes a new
// secret, kept pending (not yet asked at login) until EnableTOTP proves the
// user's app has it. Calling it again replaces the pending secret. Only a
// session (not an API token) may, and not once TOTP is enabled
// (ErrTOTPEnabled).
func (s *Service) SetupTOTP(ctx context.Context, p *identity.Principal) (*TOTPSetup, error) {
	u, err := s.manager(ctx, p)
	if err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.sess.issuer, AccountName: u.Email, Period: totpPeriod,
		SecretSize: totpSecretBytes, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	err = s.changeTOTP(ctx, u.ID, func(tf *totpDoc, now time.Time) (*store.AuditEntry, error) {
		if tf.Enabled {
			return nil, ErrTOTPEnabled
		}
		tf.Pending, tf.PendingAt = key.Secret(), &now
		return s.audit(now, p.UserID, p.IP, "auth.totp_setup", KindUser, u.ID, nil), nil
	})
	if err != nil {
		return nil, err
	}
	return &TOTPSetup{Secret: key.Secret(), URL: key.URL(), Issuer: s.sess.issuer, Account: u.Email,
		Algorithm: "SHA1", Digits: totpDigits.Length(), Period: totpPeriod}, nil
}

// EnableTOTP turns on the pending TOTP secret, if code is its current code,
// and returns RecoveryCodeCount recovery codes (stored only as hashes).
// Wrong codes count as failed logins. If the principal came with a session
// restricted to this setup, that session is replaced by a full one.
func (s *Service) EnableTOTP(ctx context.Context, p *identity.Principal, code string) (*TOTPEnabled, error) {
	u, err := s.manager(ctx, p)
	if err != nil {
		return nil, err
	}
	codes, hashes, err := newRecoveryCodes(u.ID)
	if err != nil {
		return nil, err
	}
	_, err = s.verifyFactor(ctx, factorCheck{user: u, code: code, ip: p.IP, purpose: "enable", pending: true,
		action: "auth.totp_enabled", apply: func(tf *totpDoc, now time.Time) {
			tf.Enabled, tf.Secret, tf.EnabledAt = true, tf.Pending, &now
			tf.Pending, tf.PendingAt = "", nil
			tf.Recovery = hashes
		}})
	if err != nil {
		return nil, err
	}
	out := &TOTPEnabled{RecoveryCodes: codes}
	if p.Restricted == identity.RestrictedTOTPSetup {
		cookie := false
		if d, err := s.st.GetDoc(ctx, KindToken, p.TokenID); err == nil {
			if td, err := decodeToken(d); err == nil {
				cookie = td.Cookie
			}
		}
		r, err := s.openSession(ctx, u, p.IP, "", cookie, "totp", "")
		if err != nil {
			// TOTP is on: the recovery codes must reach the user all the
			// same. The restricted session stays; signing in again works.
			s.log.Warn("auth: opening the session after enabling TOTP", "user", u.ID, "err", err)
			return out, nil
		}
		s.revokeSession(ctx, u.ID, p.IP, p.TokenID, "auth.session_replaced")
		out.Session = r
	}
	return out, nil
}

// DisableTOTP turns TOTP off, given a current code or an unused recovery
// code, unless the user's roles require a second factor
// (ErrSecondFactorMandatory). Wrong codes count as failed logins.
func (s *Service) DisableTOTP(ctx context.Context, p *identity.Principal, code, recoveryCode string) error {
	u, err := s.manager(ctx, p)
	if err != nil {
		return err
	}
	if s.sess.requires(u.Roles) {
		return ErrSecondFactorMandatory
	}
	_, err = s.verifyFactor(ctx, factorCheck{user: u, code: code, recovery: recoveryCode, ip: p.IP, purpose: "disable",
		action: "auth.totp_disabled", apply: func(tf *totpDoc, _ time.Time) {
			*tf = totpDoc{LastStep: tf.LastStep}
		}})
	return err
}

// ResetTOTP turns a user's TOTP off without a code (an admin helping a user
// who lost the device); the user's sessions stay.
func (s *Service) ResetTOTP(ctx context.Context, admin *identity.Principal, userID string) error {
	if !admin.IsAdmin() || admin.ReadOnly || admin.Restricted != "" {
		return ErrForbidden
	}
	if _, _, _, err := s.loadUser(ctx, userID); err != nil {
		return err
	}
	return s.changeTOTP(ctx, userID, func(tf *totpDoc, now time.Time) (*store.AuditEntry, error) {
		if !tf.Enabled && tf.Pending == "" {
			return nil, errNoWrite
		}
		*tf = totpDoc{LastStep: tf.LastStep}
		return s.audit(now, admin.UserID, admin.IP, "auth.totp_reset", KindUser, userID, nil), nil
	})
}

// factorCheck is one check of a second factor.
type factorCheck struct {
	user     *User
	code     string // a TOTP code
	recovery string // or a recovery code (not with pending)
	ip       string
	purpose  string // login, enable, disable: for the audit
	// pending checks the code against the secret being set up.
	pending bool
	// clear: a success is a complete login and clears the address's failed
	// attempts against the account (otherwise it only takes back its own).
	clear bool
	// action audits the success ("" for none, but the use of a recovery
	// code is always audited); apply changes the state with it.
	action string
	apply  func(tf *totpDoc, now time.Time)
}

// verifyFactor checks a TOTP code (each time step once) or a recovery code
// (each once), throttled with the logins of the user's e-mail and the
// address: an address that failed too often gets a *ThrottledError, and a
// wrong code is a failure, audited "auth.totp_failed", giving
// ErrInvalidCode. A right one commits fc.apply with the step or the spent
// code. It returns the method used: "totp" or "recovery_code".
func (s *Service) verifyFactor(ctx context.Context, fc factorCheck) (string, error) {
	try, err := s.beginAttempt(ctx, accountKey(fc.user.Email), fc.ip)
	if err != nil {
		return "", err
	}
	method := "totp"
	if fc.recovery != "" && !fc.pending {
		method = "recovery_code"
	}
	ok, reason := false, ""
	err = s.changeTOTP(ctx, fc.user.ID, func(tf *totpDoc, now time.Time) (*store.AuditEntry, error) {
		ok, reason = false, "wrong_code"
		switch {
		case fc.pending && tf.Pending == "":
			return nil, ErrTOTPNotSetUp
		case fc.pending && tf.Enabled:
			return nil, ErrTOTPEnabled
		case !fc.pending && !tf.Enabled:
			return nil, ErrTOTPNotEnabled
		}
		var changes map[string]any
		switch {
		case method == "recovery_code":
			ok = tf.spendRecovery(fc.user.ID, fc.recovery)
			changes = map[string]any{"purpose": fc.purpose, "recovery_codes_left": len(tf.Recovery)}
		default:
			secret := tf.Secret
			if fc.pending {
				secret = tf.Pending
			}
			step, matched := matchStep(secret, fc.code, now)
			switch {
			case !matched:
			case step <= tf.LastStep:
				reason = "replayed_code"
			default:
				ok, tf.LastStep = true, step
			}
		}
		if !ok {
			return nil, errNoWrite
		}
		if fc.apply != nil {
			fc.apply(tf, now)
		}
		action := fc.action
		if action == "" && method == "recovery_code" {
			action = "auth.recovery_code_used"
		}
		if action == "" {
			return nil, nil
		}
		if method == "recovery_code" && action != "auth.recovery_code_used" {
			changes["via"] = method
		}
		return s.audit(now, fc.user.ID, fc.ip, action, KindUser, fc.user.ID, changes), nil
	})
	if err != nil {
		try.abort(ctx) // not a guess
		return "", err
	}
	if !ok {
		try.fail(ctx)
		a := s.audit(s.clock(), fc.user.ID, fc.ip, "auth.totp_failed", KindUser, fc.user.ID,
			map[string]any{"purpose": fc.purpose, "method": method, "reason": reason})
		if err := s.st.AppendAudit(ctx, a); err != nil {
			s.log.Warn("auth: audit of a failed second factor", "err", err)
		}
		return "", ErrInvalidCode
	}
	if fc.clear {
		try.succeed(ctx)
	} else {
		try.abort(ctx)
	}
	return method, nil
}

// matchStep finds the time step, within totpSkew of now, whose code is
// code; of several (which would be a coincidence) the latest.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	code = strings.Join(strings.Fields(code), "")
	if secret == "" || len(code) != totpDigits.Length() || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	opts := hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	best, found := int64(0), false
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if step < 0 {
			continue
		}
		if ok, err := hotp.ValidateCustom(code, uint64(step), secret, opts); err == nil && ok {
			best, found = step, true
		}
	}
	return best, found
}

// newRecoveryCodes makes RecoveryCodeCount recovery codes, formatted
// xxxx-xxxx-xxxx-xxxx, and their hashes.
func newRecoveryCodes(userID string) (codes, hashes []string, err error) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for range RecoveryCodeCount {
		b := make([]byte, recoveryCodeBytes)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("auth: recovery code: %w", err)
		}
		c := strings.ToLower(enc.EncodeToString(b))
		codes = append(codes, c[0:4]+"-"+c[4:8]+"-"+c[8:12]+"-"+c[12:16])
		hashes = append(hashes, recoveryHash(userID, c))
	}
	return codes, hashes, nil
}

// recoveryHash is what is stored of a recovery code: the SHA-256 of the
// user id and the code without separators. The codes carry 80 random bits,
// so a fast hash is enough.
func recoveryHash(userID, normalized string) string {
	sum := sha256.Sum256([]byte("jimu recovery code\x00" + userID + "\x00" + normalized))
	return hex.EncodeToString(sum[:])
}

// spendRecovery removes the recovery code if it is one of the unused ones.
func (tf *totpDoc) spendRecovery(userID, code string) bool {
	if len(code) > maxFactorInputSize {
		return false
	}
	c := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(code)))
	if len(c) != 16 {
		return false
	}
	h := recoveryHash(userID, c)
	i := slices.Index(tf.Recovery, h)
	if i < 0 {
		return false
	}
	tf.Recovery = slices.Delete(slices.Clone(tf.Recovery), i, i+1)
	return true
}
