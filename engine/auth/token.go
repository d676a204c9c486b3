package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// Token kinds. Only sessions and API tokens are credentials; a challenge
// is the pending second step of a login (login.go).
const (
	tokenSession   = "session"
	tokenAPI       = "api"
	tokenChallenge = "challenge"
)

const (
	// TokenPrefix starts every bearer token Jimu issues.
	TokenPrefix   = "jimu_"
	secretBytes   = 32
	tokenLen      = len(TokenPrefix) + (secretBytes*8+5)/6 // 43 base64url characters
	maxTokenName  = 100
	cacheTTL      = 10 * time.Second
	maxCacheSize  = 10000
	touchInterval = 5 * time.Minute // how stale last_used_at may get
	pruneInterval = time.Hour
)

// API token lifetimes unless Options say otherwise.
const (
	DefaultTokenTTL    = 90 * 24 * time.Hour
	DefaultTokenMaxTTL = 365 * 24 * time.Hour
)

// tokenConfig is what Options say about API tokens.
type tokenConfig struct {
	ttl time.Duration // given to a token created without an expiry
	max time.Duration // the longest a token may ask for
}

func newTokenConfig(o Options) tokenConfig {
	c := tokenConfig{ttl: o.TokenTTL, max: o.TokenMaxTTL}
	if c.ttl <= 0 {
		c.ttl = DefaultTokenTTL
	}
	if c.max <= 0 {
		c.max = DefaultTokenMaxTTL
	}
	c.max = max(c.max, c.ttl)
	return c
}

// TokenTTL returns the lifetime of an API token created without an expiry.
func (s *Service) TokenTTL() time.Duration { return s.tokens.ttl }

// TokenMaxTTL returns the longest lifetime an API token may ask for.
func (s *Service) TokenMaxTTL() time.Duration { return s.tokens.max }

// Token describes a session or API token; the token itself is never stored
// and is not part of it.
type Token struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Kind       string     `json:"kind"` // session or api
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	Revoked    bool       `json:"revoked"`
	// Scope of an API token; none: the owner's roles, read and write.
	ReadOnly bool     `json:"read_only,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	// Sessions: opened with a second factor, carried in a browser cookie,
	// restricted to a purpose (identity.RestrictedTOTPSetup).
	SecondFactor bool   `json:"second_factor,omitempty"`
	Cookie       bool   `json:"cookie,omitempty"`
	Restricted   string `json:"restricted,omitempty"`
	// Current marks, in ListTokens, the token the request came with.
	Current bool `json:"current,omitempty"`
}

// tokenDoc is the stored form (Doc.Data) of a token; its SHA-256 is the
// Doc's Key.
type tokenDoc struct {
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	Kind       string     `json:"kind"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	Revoked    bool       `json:"revoked"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// IdleSeconds ends the token once unused for this long (sessions).
	IdleSeconds int64 `json:"idle_timeout_s,omitempty"`
	// Scope (scope.go) and session flags, as in Token.
	ReadOnly     bool     `json:"read_only,omitempty"`
	Roles        []string `json:"roles,omitempty"`
	SecondFactor bool     `json:"second_factor,omitempty"`
	Cookie       bool     `json:"cookie,omitempty"`
	Restricted   string   `json:"restricted,omitempty"`
	// The owner's credential generations when the token was issued
	// (user.go): a token of an older generation is dead for good.
	CredGen int64 `json:"credentials_gen,omitempty"`
	SessGen int64 `json:"sessions_gen,omitempty"`
}

// usable reports whether the token is neither revoked nor past its absolute
// expiry or its idle timeout.
func (t *tokenDoc) usable(now time.Time) bool {
	end, ok := t.end()
	return !t.Revoked && (!ok || now.Before(end))
}

func decodeToken(d *store.Doc) (*tokenDoc, error) {
	var td tokenDoc
	if err := json.Unmarshal(d.Data, &td); err != nil {
		return nil, fmt.Errorf("auth: token %s: corrupt document: %w", d.ID, err)
	}
	return &td, nil
}

// tokenByKey finds a token by the hash of its secret; an unknown one makes
// the caller unauthenticated.
func (s *Service) tokenByKey(ctx context.Context, key string) (*store.Doc, *tokenDoc, error) {
	d, err := s.st.GetDocByKey(ctx, KindToken, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, err
	}
	td, err := decodeToken(d)
	return d, td, err
}

func (t *tokenDoc) public(id string) *Token {
	return &Token{ID: id, UserID: t.UserID, Name: t.Name, Kind: t.Kind, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, Revoked: t.Revoked,
		ReadOnly: t.ReadOnly, Roles: slices.Clone(t.Roles), SecondFactor: t.SecondFactor, Cookie: t.Cookie, Restricted: t.Restricted}
}

// newSecret returns a fresh bearer token and its hash.
func newSecret() (plain, hash string, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("auth: token: %w", err)
	}
	plain = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, hashToken(plain), nil
}

// hashToken is what is stored of a token: its SHA-256, hex. The token
// carries 256 random bits, so a fast hash is enough.
func hashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// parseBearer extracts a well-formed token from a bearer value (with or
// without the "Bearer " scheme), or returns "".
func parseBearer(bearer string) string {
	t := strings.TrimSpace(bearer)
	if len(t) > 7 && strings.EqualFold(t[:7], "bearer ") {
		t = strings.TrimSpace(t[7:])
	}
	if len(t) != tokenLen || !strings.HasPrefix(t, TokenPrefix) {
		return ""
	}
	if b, err := base64.RawURLEncoding.Strict().DecodeString(t[len(TokenPrefix):]); err != nil || len(b) != secretBytes {
		return ""
	}
	return t
}

// insertTokenDoc stores td under a fresh token, committing audit with it.
func (s *Service) insertTokenDoc(ctx context.Context, td *tokenDoc, audit *store.AuditEntry) (string, *Token, error) {
	plain, hash, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	data, err := json.Marshal(td)
	if err != nil {
		return "", nil, err
	}
	d := &store.Doc{Kind: KindToken, ID: store.NewID(), Key: hash, Version: 1, Data: data}
	if audit != nil {
		if audit.Entity == KindToken {
			audit.RecordID = d.ID
		} else {
			if audit.Changes == nil {
				audit.Changes = map[string]any{}
			}
			audit.Changes["token_id"] = d.ID
		}
	}
	if err := s.st.PutDoc(ctx, d, store.Sides{Audit: audit}); err != nil {
		return "", nil, err
	}
	return plain, td.public(d.ID), nil
}

// Authenticate resolves a bearer token (or a session cookie's value) to its
// principal. An unknown, expired or revoked token, a session idle past its
// idle timeout or older than its absolute one, a login challenge, or a
// token whose user is gone or inactive, gives ErrUnauthenticated. Each use
// slides a session's idle deadline. The principal carries the token's
// scope (roles narrowed to the token's, ReadOnly, Restricted). Results are cached in memory for a few seconds;
// revocations and deactivations through this Service take effect at once.
func (s *Service) Authenticate(ctx context.Context, bearer string, ip string) (*identity.Principal, error) {
	tok := parseBearer(bearer)
	if tok == "" {
		return nil, ErrUnauthenticated
	}
	key := hashToken(tok)
	now := s.clock()
	if p, ok := s.cache.get(key, now); ok {
		p.IP = ip
		return p, nil
	}
	gen := s.cache.generation()
	d, td, err := s.tokenByKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if !td.usable(now) || (td.Kind != tokenSession && td.Kind != tokenAPI) {
		return nil, ErrUnauthenticated
	}
	u, err := s.tokenUser(ctx, td)
	if err != nil {
		return nil, err
	}
	legacy := td.Kind == tokenAPI && td.ExpiresAt == nil
	if legacy {
		s.legacyExpiry(td, now)
	}
	p := identity.Principal{UserID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, Teams: u.Teams, Attributes: u.Attributes, TokenID: d.ID}
	applyToken(&p, td)
	p.Admin = s.adminRoles(p.Roles)
	// The cache never outlives the token's expiry or idle deadline.
	until := now.Add(cacheTTL)
	if end, ok := td.end(); ok && end.Before(until) {
		until = end
	}
	s.cache.put(key, p, now, until, gen)
	s.touch(ctx, d, td, now, legacy)
	out := clonePrincipal(p)
	out.IP = ip
	return out, nil
}

// touch records when a token was last used, at most every touchInterval,
// and the expiry legacyExpiry gave it. Best effort: a concurrent change (a
// revocation) wins, and a lost expiry is given again at the next use.
func (s *Service) touch(ctx context.Context, d *store.Doc, td *tokenDoc, now time.Time, expirySet bool) {
	if !expirySet && td.LastUsedAt != nil && now.Sub(*td.LastUsedAt) < td.touchEvery() {
		return
	}
	td.LastUsedAt = &now
	data, err := json.Marshal(td)
	if err != nil {
		return
	}
	var sides store.Sides
	if expirySet {
		sides.Audit = s.expiryAudit(d.ID, td, now)
	}
	nd := &store.Doc{Kind: KindToken, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
	if err := s.st.PutDoc(ctx, nd, sides); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("auth: token last-used update", "token", d.ID, "err", err)
	}
}

// legacyExpiry gives an API token made before tokens had a default
// lifetime (td.ExpiresAt nil) its expiry: the default lifetime from now,
// not from its creation, so that an upgrade does not cut off a running
// integration without notice (docs/decisions.md 14).
func (s *Service) legacyExpiry(td *tokenDoc, now time.Time) {
	e := now.Add(s.tokens.ttl)
	td.ExpiresAt = &e
}

func (s *Service) expiryAudit(id string, td *tokenDoc, now time.Time) *store.AuditEntry {
	return s.audit(now, "", "", "token.expiry_set", KindToken, id,
		map[string]any{"user_id": td.UserID, "name": td.Name, "expires_at": *td.ExpiresAt, "reason": "default_ttl"})
}

// Logout revokes the session the principal came with. A principal that came
// with an API token is left alone: API tokens are revoked with RevokeToken.
func (s *Service) Logout(ctx context.Context, p *identity.Principal) error {
	if p == nil || p.TokenID == "" {
		return ErrUnauthenticated
	}
	err := s.revoke(ctx, p, p.TokenID, "auth.logout", func(td *tokenDoc) error {
		if td.UserID != p.UserID {
			return ErrForbidden
		}
		if td.Kind != tokenSession {
			return errSkip
		}
		return nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

var errSkip = errors.New("skip")

// CreateToken creates an API token for the principal's user, named name,
// expiring at expiresAt (nil: after the default lifetime, Options.TokenTTL;
// at most Options.TokenMaxTTL ahead). The token is returned only here. It
// is CreateScopedToken without a scope.
func (s *Service) CreateToken(ctx context.Context, p *identity.Principal, name string, expiresAt *time.Time) (string, *Token, error) {
	return s.CreateScopedToken(ctx, p, name, expiresAt, nil)
}

// CreateScopedToken creates an API token like CreateToken, limited by scope
// (nil: none; see TokenScope). A token never gets more than the principal
// creating it has: a read-only or restricted principal may not create
// tokens at all, and one whose roles are limited passes the limit on.
func (s *Service) CreateScopedToken(ctx context.Context, p *identity.Principal, name string, expiresAt *time.Time, scope *TokenScope) (string, *Token, error) {
	if p == nil || p.UserID == "" {
		return "", nil, ErrUnauthenticated
	}
	if p.ReadOnly || p.Restricted != "" {
		return "", nil, ErrForbidden
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", nil, &InputError{Field: "name", Code: "required", Message: "is required"}
	case !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", nil, &InputError{Field: "name", Code: "invalid_chars", Message: "contains invalid characters"}
	case utf8.RuneCountInString(name) > maxTokenName:
		return "", nil, &InputError{Field: "name", Code: "too_long", Params: map[string]any{"max": maxTokenName}, Message: fmt.Sprintf("must be at most %d characters", maxTokenName)}
	}
	now := s.clock()
	e := now.Add(s.tokens.ttl)
	if expiresAt != nil {
		if !expiresAt.After(now) {
			return "", nil, &InputError{Field: "expires_at", Code: "in_past", Message: "must be in the future"}
		}
		if expiresAt.After(now.Add(s.tokens.max)) {
			return "", nil, &InputError{Field: "expires_at", Code: "too_far", Params: map[string]any{"max_days": int(s.tokens.max.Hours() / 24)},
				Message: "must be at most " + durationText(s.tokens.max) + " from now"}
		}
		e = expiresAt.UTC()
	}
	exp := &e
	// The principal may be up to a cache lifetime old: do not mint tokens
	// for a user deactivated meanwhile.
	u, err := s.activeUser(ctx, p.UserID)
	if err != nil {
		return "", nil, err
	}
	td := &tokenDoc{UserID: p.UserID, Name: name, Kind: tokenAPI, CreatedAt: now, ExpiresAt: exp, CredGen: u.credGen, SessGen: u.sessGen}
	if err := scopeToken(td, scope, p, u); err != nil {
		return "", nil, err
	}
	changes := map[string]any{"name": name, "kind": tokenAPI, "expires_at": *exp}
	if expiresAt == nil {
		changes["expiry"] = "default_ttl"
	}
	if td.ReadOnly {
		changes["read_only"] = true
	}
	if td.Roles != nil {
		changes["roles"] = td.Roles
	}
	a := s.audit(now, p.UserID, p.IP, "token.create", KindToken, "", changes)
	return s.insertTokenDoc(ctx, td, a)
}

// ListTokens returns the principal's live (unrevoked, unexpired) session and
// API tokens, oldest first.
func (s *Service) ListTokens(ctx context.Context, p *identity.Principal) ([]*Token, error) {
	if p == nil || p.UserID == "" {
		return nil, ErrUnauthenticated
	}
	_, u, _, err := s.loadUser(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	docs, err := s.st.ListDocs(ctx, KindToken)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	out := []*Token{}
	for _, d := range docs {
		td, err := decodeToken(d)
		if err != nil {
			s.log.Warn("auth: skipping unreadable token", "token", d.ID, "err", err)
			continue
		}
		if td.UserID != p.UserID || !td.usable(now) || !u.accepts(td) || (td.Kind != tokenSession && td.Kind != tokenAPI) {
			continue
		}
		t := td.public(d.ID)
		t.Current = d.ID == p.TokenID
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Token) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// RevokeToken revokes a token by id. A user may revoke their own tokens, an
// admin anyone's. Revoking a revoked token is not an error.
func (s *Service) RevokeToken(ctx context.Context, p *identity.Principal, id string) error {
	if p == nil || p.UserID == "" {
		return ErrUnauthenticated
	}
	return s.revoke(ctx, p, id, "token.revoke", func(td *tokenDoc) error {
		if td.UserID != p.UserID && !p.IsAdmin() {
			return ErrForbidden
		}
		return nil
	})
}

// revoke marks a token revoked, after check allows it, with an audit entry.
func (s *Service) revoke(ctx context.Context, p *identity.Principal, id, action string, check func(*tokenDoc) error) error {
	for attempt := 0; ; attempt++ {
		d, err := s.st.GetDoc(ctx, KindToken, id)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("token %s: %w", id, ErrNotFound)
			}
			return err
		}
		td, err := decodeToken(d)
		if err != nil {
			return err
		}
		if err := check(td); err != nil {
			return err
		}
		if td.Revoked {
			s.cache.drop(d.Key)
			return nil
		}
		now := s.clock()
		td.Revoked, td.RevokedAt = true, &now
		data, err := json.Marshal(td)
		if err != nil {
			return err
		}
		nd := &store.Doc{Kind: KindToken, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
		a := s.audit(now, p.UserID, p.IP, action, KindToken, d.ID,
			map[string]any{"user_id": td.UserID, "name": td.Name, "kind": td.Kind})
		err = s.st.PutDoc(ctx, nd, store.Sides{Audit: a})
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue // e.g. a last-used update; read again
		}
		if err != nil {
			return err
		}
		s.cache.drop(d.Key)
		return nil
	}
}

// PruneTokens deletes expired and revoked tokens, and those of an older
// credential generation than their user's (ended by a deactivation or a
// password change); it returns how many. API tokens without an expiry get
// one (legacyExpiry). Login calls it (and PruneThrottle) at most hourly.
func (s *Service) PruneTokens(ctx context.Context) (int, error) {
	users, err := s.ListUsers(ctx)
	if err != nil {
		return 0, err
	}
	byID := make(map[string]*User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	docs, err := s.st.ListDocs(ctx, KindToken)
	if err != nil {
		return 0, err
	}
	now := s.clock()
	n := 0
	for _, d := range docs {
		td, err := decodeToken(d)
		if err != nil {
			continue
		}
		u := byID[td.UserID]
		if td.usable(now) && u != nil && u.accepts(td) {
			if td.Kind == tokenAPI && td.ExpiresAt == nil {
				s.legacyExpiry(td, now)
				data, err := json.Marshal(td)
				if err != nil {
					return n, err
				}
				nd := &store.Doc{Kind: KindToken, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
				if err := s.st.PutDoc(ctx, nd, store.Sides{Audit: s.expiryAudit(d.ID, td, now)}); err != nil &&
					!errorsIsAny(err, store.ErrConflict, store.ErrNotFound) {
					return n, err
				}
			}
			continue
		}
		if err := s.st.DeleteDoc(ctx, KindToken, d.ID, store.Sides{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, err
		}
		s.cache.drop(d.Key)
		n++
	}
	return n, nil
}

func (s *Service) maybePrune(ctx context.Context) {
	s.pruneMu.Lock()
	now := s.clock()
	due := now.Sub(s.lastPrune) >= pruneInterval
	if due {
		s.lastPrune = now
	}
	s.pruneMu.Unlock()
	if !due {
		return
	}
	if n, err := s.PruneTokens(ctx); err != nil {
		s.log.Warn("auth: pruning tokens", "err", err)
	} else if n > 0 {
		s.log.Info("auth: pruned tokens", "count", n)
	}
	if n, err := s.PruneThrottle(ctx); err != nil {
		s.log.Warn("auth: pruning throttle counters", "err", err)
	} else if n > 0 {
		s.log.Info("auth: pruned throttle counters", "count", n)
	}
}

// durationText writes a lifetime for people: whole days as days.
func durationText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
