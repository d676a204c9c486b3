// Package auth holds Jimu's users and how they prove who they are: argon2id
// password hashes, login with throttling, bearer tokens (browser sessions
// and API tokens), and the one-time setup of the first administrator.
//
// Users, tokens and the setup token are system documents of the store
// (kinds "user", "token", "setup"). Tokens and the setup token are stored
// only as their SHA-256; the token itself is shown once. Every change writes
// its audit entry in the same store call.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/mail"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// Document kinds.
const (
	KindUser  = "user"
	KindToken = "token"
	KindSetup = "setup"
)

// Roles auth itself knows about.
const (
	AdminRole   = "admin"
	DefaultRole = "sales_rep"
)

// Input limits.
const (
	MinPasswordLen = 10  // characters
	MaxPasswordLen = 256 // characters
	maxEmailLen    = 254
	maxNameLen     = 200
	maxRoleLen     = 64
)

// DefaultSessionTTL is how long a login session lasts unless Options say
// otherwise.
const DefaultSessionTTL = 12 * time.Hour

// Errors. The HTTP layer maps them to statuses; ErrInvalidCredentials is
// deliberately the same for an unknown e-mail, a wrong password and an
// inactive account.
var (
	ErrInvalidCredentials = errors.New("invalid email or password")
	ErrThrottled          = errors.New("too many failed login attempts, try again later")
	ErrUnauthenticated    = errors.New("not authenticated")
	ErrEmailTaken         = errors.New("email already in use")
	ErrForbidden          = errors.New("forbidden")
	// ErrNotFound is the store's, so errors.Is works with either name.
	ErrNotFound = store.ErrNotFound
	// ErrSetupComplete is returned by SetupToken and CompleteSetup once a
	// user exists. It wraps ErrForbidden.
	ErrSetupComplete = fmt.Errorf("%w: setup already completed", ErrForbidden)
)

// InputError is a bad input value: a malformed e-mail, a short password.
type InputError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

// Options configure a Service.
type Options struct {
	// SessionTTL is how long a login session lasts at most, however busy
	// (the absolute timeout; default 12h).
	SessionTTL time.Duration
	// SessionIdleTimeout ends a session unused for this long (default
	// DefaultIdleTimeout; negative: no idle timeout). It slides: each use
	// moves it on, recorded at most every idle/10 (5 min at most).
	SessionIdleTimeout time.Duration
	// RequireSecondFactor reports whether a user holding these roles must
	// sign in with a second factor (TOTP). nil: never required. A user who
	// must but has none set up gets, at login, a session restricted to
	// setting it up (identity.RestrictedTOTPSetup).
	RequireSecondFactor func(roles []string) bool
	// TOTPIssuer names the instance in authenticator apps (default "Jimu").
	TOTPIssuer string
	// TokenTTL is the lifetime of an API token created without an expiry
	// (default DefaultTokenTTL); TokenMaxTTL the longest one may ask for
	// (default DefaultTokenMaxTTL, never less than TokenTTL).
	TokenTTL    time.Duration
	TokenMaxTTL time.Duration
	// AlwaysSecureCookies makes the HTTP layer mark the session cookies
	// Secure even on plain-HTTP requests to a loopback host, which it
	// otherwise leaves unmarked so development on http://localhost works
	// in every browser. Every other request gets Secure cookies regardless.
	AlwaysSecureCookies bool
	// Now replaces the clock (tests).
	Now func() time.Time
	// Logger receives warnings about best-effort work that failed (default
	// slog.Default()).
	Logger *slog.Logger
}

// User is a user as the API shows it. The password hash is not part of it.
type User struct {
	ID    string   `json:"id"`
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	Teams []string `json:"teams"`
	// Attributes are what row rules read besides id, roles and teams
	// (user.region, user.department).
	Attributes map[string]string `json:"attributes,omitempty"`
	Active     bool              `json:"active"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	Version    int64             `json:"version"`

	credGen, sessGen int64 // userDoc's, for the tokens issued to the user
}

// NewUser is the input of CreateUser and CompleteSetup.
type NewUser struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Roles    []string `json:"roles,omitempty"`
	Teams    []string `json:"teams,omitempty"`
	// Attributes are free user attributes row rules may read (user.region).
	Attributes map[string]string `json:"attributes,omitempty"`
}

// userDoc is the stored form of a user (Doc.Data); ID and version live on
// the Doc, the e-mail also as its Key.
type userDoc struct {
	Email        string            `json:"email"`
	Name         string            `json:"name"`
	Roles        []string          `json:"roles"`
	Teams        []string          `json:"teams,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	Active       bool              `json:"active"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	PasswordHash string            `json:"password_hash"`
	// CredentialsGen counts deactivations: every session and token
	// issued before the latest is dead for good (a reactivation does not
	// revive them). SessionsGen counts password changes: every session
	// (and pending login) issued before the latest is dead, except the one
	// the change was made with, which is carried over.
	CredentialsGen int64 `json:"credentials_gen,omitempty"`
	SessionsGen    int64 `json:"sessions_gen,omitempty"`
}

// Service is the auth service. It is safe for concurrent use.
type Service struct {
	st  store.Store
	ttl time.Duration
	now func() time.Time
	log *slog.Logger

	hashSem  chan struct{} // bounds concurrent argon2 work (19 MiB each)
	cache    tokenCache
	hasUsers atomic.Bool // once true, stays true: users are never deleted here

	dummyOnce sync.Once
	dummyHash string

	setupMu    sync.Mutex
	setupPlain string // the setup token this process issued, to hand out again

	pruneMu   sync.Mutex
	lastPrune time.Time

	sess   sessionConfig // idle timeout, second factor, cookies (session.go)
	tokens tokenConfig   // API token lifetimes (token.go)
}

// New returns a Service over st.
func New(st store.Store, opts Options) *Service {
	s := &Service{
		st:      st,
		ttl:     opts.SessionTTL,
		now:     opts.Now,
		log:     opts.Logger,
		hashSem: make(chan struct{}, max(2, min(runtime.NumCPU(), 8))),
		cache:   tokenCache{m: map[string]cacheEntry{}},
	}
	if s.ttl <= 0 {
		s.ttl = DefaultSessionTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.sess = newSessionConfig(opts)
	s.tokens = newTokenConfig(opts)
	return s
}

func (s *Service) clock() time.Time { return s.now().UTC() }

func (s *Service) audit(at time.Time, actor, ip, action, entity, recordID string, changes map[string]any) *store.AuditEntry {
	return &store.AuditEntry{ID: store.NewID(), At: at, Actor: actor, IP: ip, Action: action,
		Entity: entity, RecordID: recordID, Changes: changes}
}

// --- password work, bounded ---

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.hashSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) release() { <-s.hashSem }

func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return hashPassword(pw)
}

func (s *Service) verify(ctx context.Context, encoded, pw string) (ok, rehash bool, err error) {
	if err := s.acquire(ctx); err != nil {
		return false, false, err
	}
	defer s.release()
	return verifyPassword(encoded, pw)
}

// dummy is a hash of a random password, verified against when the e-mail is
// unknown so that a login takes as long either way.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		pw, _, err := newSecret()
		if err == nil {
			s.dummyHash, err = hashPassword(pw)
		}
		if err != nil {
			// Unreachable in practice (crypto/rand does not fail); a fixed
			// valid hash keeps the timing.
			s.dummyHash = encodePHC(phcHash{Params: currentParams, Salt: make([]byte, saltLen), Key: make([]byte, keyLen)})
		}
	})
	return s.dummyHash
}

// --- input ---

// normalizeEmail trims and lower-cases an e-mail address and checks it is a
// bare address.
func normalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", &InputError{Field: "email", Message: "is required"}
	}
	if len(e) > maxEmailLen {
		return "", &InputError{Field: "email", Message: "is too long"}
	}
	bad := strings.IndexFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
	at := strings.LastIndexByte(e, '@')
	if bad || !utf8.ValidString(e) || at < 1 || at == len(e)-1 {
		return "", &InputError{Field: "email", Message: "is not a valid email address"}
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", &InputError{Field: "email", Message: "is not a valid email address"}
	}
	return e, nil
}

func checkPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return &InputError{Field: "password", Message: fmt.Sprintf("must be at least %d characters", MinPasswordLen)}
	}
	if n > MaxPasswordLen {
		return &InputError{Field: "password", Message: fmt.Sprintf("must be at most %d characters", MaxPasswordLen)}
	}
	return nil
}

func normalizeName(raw, email string) (string, error) {
	n := strings.TrimSpace(raw)
	if n == "" {
		n, _, _ = strings.Cut(email, "@")
	}
	if !utf8.ValidString(n) || strings.IndexFunc(n, unicode.IsControl) >= 0 {
		return "", &InputError{Field: "name", Message: "contains invalid characters"}
	}
	if utf8.RuneCountInString(n) > maxNameLen {
		return "", &InputError{Field: "name", Message: fmt.Sprintf("must be at most %d characters", maxNameLen)}
	}
	return n, nil
}

func normalizeRoles(raw []string) ([]string, error) {
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if len(r) > maxRoleLen || strings.IndexFunc(r, func(c rune) bool {
			return !(c < utf8.RuneSelf && (c == '_' || c == '-' || c == '.' || c == ':' ||
				'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'))
		}) >= 0 {
			return nil, &InputError{Field: "roles", Message: fmt.Sprintf("invalid role name %q", r)}
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		out = append(out, DefaultRole)
	}
	return out, nil
}

// --- users ---

func decodeUser(d *store.Doc) (*User, *userDoc, error) {
	var ud userDoc
	if err := json.Unmarshal(d.Data, &ud); err != nil {
		return nil, nil, fmt.Errorf("auth: user %s: corrupt document: %w", d.ID, err)
	}
	u := &User{ID: d.ID, Email: ud.Email, Name: ud.Name, Roles: slices.Clone(ud.Roles), Teams: slices.Clone(ud.Teams), Attributes: maps.Clone(ud.Attributes),
		Active: ud.Active, CreatedAt: ud.CreatedAt, UpdatedAt: ud.UpdatedAt, Version: d.Version,
		credGen: ud.CredentialsGen, sessGen: ud.SessionsGen}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	if u.Teams == nil {
		u.Teams = []string{}
	}
	return u, &ud, nil
}

func (s *Service) loadUser(ctx context.Context, id string) (*store.Doc, *User, *userDoc, error) {
	d, err := s.st.GetDoc(ctx, KindUser, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil, fmt.Errorf("user %s: %w", id, ErrNotFound)
		}
		return nil, nil, nil, err
	}
	u, ud, err := decodeUser(d)
	return d, u, ud, err
}

// activeUser loads the user a token or challenge speaks for: one that is
// gone or deactivated makes the caller unauthenticated.
func (s *Service) activeUser(ctx context.Context, id string) (*User, error) {
	_, u, _, err := s.loadUser(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && !u.Active {
		return nil, ErrUnauthenticated
	}
	return u, err
}

// accepts reports whether u still accepts a token issued to them: it is
// of u's current credential generation and, unless an API token, of the
// current session generation.
func (u *User) accepts(td *tokenDoc) bool {
	return td.CredGen == u.credGen && (td.Kind == tokenAPI || td.SessGen == u.sessGen)
}

// tokenUser loads the user a token speaks for: one that is gone,
// deactivated, or no longer accepts the token makes the caller
// unauthenticated.
func (s *Service) tokenUser(ctx context.Context, td *tokenDoc) (*User, error) {
	u, err := s.activeUser(ctx, td.UserID)
	if err != nil {
		return nil, err
	}
	if !u.accepts(td) {
		return nil, ErrUnauthenticated
	}
	return u, nil
}

// HasUsers reports whether any user exists (if not, the instance awaits its
// setup).
func (s *Service) HasUsers(ctx context.Context) (bool, error) {
	if s.hasUsers.Load() {
		return true, nil
	}
	docs, err := s.st.ListDocs(ctx, KindUser)
	if err != nil {
		return false, err
	}
	if len(docs) > 0 {
		s.hasUsers.Store(true)
		return true, nil
	}
	return false, nil
}

// GetUser returns a user by id.
func (s *Service) GetUser(ctx context.Context, id string) (*User, error) {
	_, u, _, err := s.loadUser(ctx, id)
	return u, err
}

// ListUsers returns all users, oldest first.
func (s *Service) ListUsers(ctx context.Context) ([]*User, error) {
	docs, err := s.st.ListDocs(ctx, KindUser)
	if err != nil {
		return nil, err
	}
	out := make([]*User, 0, len(docs))
	for _, d := range docs {
		u, _, err := decodeUser(d)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// CreateUser creates a user. actor must be an admin. The e-mail is trimmed
// and lower-cased; without roles the user gets DefaultRole.
func (s *Service) CreateUser(ctx context.Context, actor *identity.Principal, in NewUser) (*User, error) {
	if !actor.IsAdmin() {
		return nil, ErrForbidden
	}
	d, u, err := s.prepareUser(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := s.insertUser(ctx, d, u, actor.UserID, actor.IP, ""); err != nil {
		return nil, err
	}
	return u, nil
}

// prepareUser validates in, hashes the password and builds the document
// (not yet written).
func (s *Service) prepareUser(ctx context.Context, in NewUser) (*store.Doc, *User, error) {
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return nil, nil, err
	}
	name, err := normalizeName(in.Name, email)
	if err != nil {
		return nil, nil, err
	}
	if err := checkPassword(in.Password); err != nil {
		return nil, nil, err
	}
	roles, err := normalizeRoles(in.Roles)
	if err != nil {
		return nil, nil, err
	}
	// Spare the hashing when the address is known to be taken; the insert
	// checks again.
	if _, err := s.st.GetDocByKey(ctx, KindUser, email); err == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrEmailTaken, email)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	h, err := s.hash(ctx, in.Password)
	if err != nil {
		return nil, nil, err
	}
	now := s.clock()
	ud := userDoc{Email: email, Name: name, Roles: roles, Teams: slices.Clone(in.Teams), Attributes: maps.Clone(in.Attributes),
		Active: true, CreatedAt: now, UpdatedAt: now, PasswordHash: h}
	data, err := json.Marshal(ud)
	if err != nil {
		return nil, nil, err
	}
	d := &store.Doc{Kind: KindUser, ID: store.NewID(), Key: email, Version: 1, Data: data}
	u, _, err := decodeUser(d)
	return d, u, err
}

// insertUser writes a prepared user with its "user.create" audit entry.
func (s *Service) insertUser(ctx context.Context, d *store.Doc, u *User, actor, ip, via string) error {
	changes := map[string]any{
		"email":  map[string]any{"to": u.Email},
		"name":   map[string]any{"to": u.Name},
		"roles":  map[string]any{"to": u.Roles},
		"active": map[string]any{"to": u.Active},
	}
	if via != "" {
		changes["via"] = via
	}
	a := s.audit(u.CreatedAt, actor, ip, "user.create", KindUser, d.ID, changes)
	if err := s.st.PutDoc(ctx, d, store.Sides{Audit: a}); err != nil {
		var ue *store.UniqueError
		if errors.Is(err, store.ErrExists) || errors.As(err, &ue) {
			return fmt.Errorf("%w: %s", ErrEmailTaken, u.Email)
		}
		return err
	}
	u.Version = d.Version
	s.hasUsers.Store(true)
	return nil
}

// SetActive activates or deactivates a user. actor must be an admin and may
// not deactivate themselves. A deactivation ends every session and API
// token of the user, at once on this instance (within the token cache's
// lifetime elsewhere) and for good: a reactivated user signs in afresh and
// makes new tokens.
func (s *Service) SetActive(ctx context.Context, actor *identity.Principal, id string, active bool) error {
	if !actor.IsAdmin() {
		return ErrForbidden
	}
	if !active && actor.UserID == id {
		return &InputError{Field: "active", Message: "you cannot deactivate yourself"}
	}
	for attempt := 0; ; attempt++ {
		d, _, ud, err := s.loadUser(ctx, id)
		if err != nil {
			return err
		}
		if ud.Active == active {
			s.cache.dropUser(id)
			return nil
		}
		from := ud.Active
		ud.Active = active
		ud.UpdatedAt = s.clock()
		changes := map[string]any{"active": map[string]any{"from": from, "to": active}}
		if !active {
			ud.CredentialsGen++
			changes["sessions_and_tokens_ended"] = true
		}
		data, err := json.Marshal(ud)
		if err != nil {
			return err
		}
		nd := &store.Doc{Kind: KindUser, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
		a := s.audit(ud.UpdatedAt, actor.UserID, actor.IP, "user.update", KindUser, id, changes)
		err = s.st.PutDoc(ctx, nd, store.Sides{Audit: a})
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return err
		}
		s.cache.dropUser(id)
		return nil
	}
}

// EnsureAdmin creates an admin with this e-mail and password unless a user
// with the e-mail exists (then it returns that user, created=false, and
// changes nothing). It is how `jimu serve` (JIMU_ADMIN_EMAIL,
// JIMU_ADMIN_PASSWORD) and `jimu admin create` bootstrap an instance.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (*User, bool, error) {
	e, err := normalizeEmail(email)
	if err != nil {
		return nil, false, err
	}
	existing := func() (*User, bool, error) {
		d, err := s.st.GetDocByKey(ctx, KindUser, e)
		if err != nil {
			return nil, false, err
		}
		u, _, err := decodeUser(d)
		if err == nil && !slices.Contains(u.Roles, AdminRole) {
			s.log.Warn("auth: EnsureAdmin: user exists but is not an admin; left unchanged", "user", u.ID)
		}
		return u, false, err
	}
	if u, _, err := existing(); err == nil {
		return u, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, err
	}
	d, u, err := s.prepareUser(ctx, NewUser{Email: e, Password: password, Roles: []string{AdminRole}})
	if errors.Is(err, ErrEmailTaken) {
		return existing()
	}
	if err != nil {
		return nil, false, err
	}
	if err := s.insertUser(ctx, d, u, "", "", "ensure_admin"); err != nil {
		if errors.Is(err, ErrEmailTaken) {
			return existing()
		}
		return nil, false, err
	}
	return u, true, nil
}

// --- login ---

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

// rehash replaces a user's password hash made with outdated parameters and
// returns the user's new version (0 if it did not). Best effort: a
// concurrent change of the user wins.
func (s *Service) rehash(ctx context.Context, id, password string) int64 {
	h, err := s.hash(ctx, password)
	if err != nil {
		return 0
	}
	d, _, ud, err := s.loadUser(ctx, id)
	if err != nil || !needsRehash(ud.PasswordHash) {
		return 0
	}
	ud.PasswordHash = h
	data, err := json.Marshal(ud)
	if err != nil {
		return 0
	}
	nd := &store.Doc{Kind: KindUser, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
	if err := s.st.PutDoc(ctx, nd, store.Sides{}); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			s.log.Warn("auth: password rehash", "user", id, "err", err)
		}
		return 0
	}
	return nd.Version
}
