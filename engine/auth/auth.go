// Package auth holds Jimu's users and how they prove who they are: argon2id
// password hashes, login with throttling, bearer tokens (browser sessions
// and API tokens), and the one-time setup of the first administrator.
//
// Users, tokens and the setup token are system documents of the store
// (kinds "user", "token", "setup"). Tokens and the setup token are stored
// only as their SHA-256; the token itself is shown once. Every change writes
// its audit entry in the same store call.
//
// Files by job: auth.go the service and its options; user.go and input.go
// users and the checks of what they are made of; assign.go their roles and
// teams; password.go argon2id hashing; password_change.go changing and
// resetting passwords; login.go signing in; throttle.go slowing guessers;
// session.go and token.go sessions and API tokens, token_cache.go their
// cache; scope.go what a token may do; totp.go the second factor;
// setup.go the first administrator.
package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	// Code names the problem for a client to translate (required,
	// too_short, too_long, format, invalid_chars, forbidden, …); Params
	// are its numbers ({"min": 12}).
	Code   string         `json:"code"`
	Params map[string]any `json:"params,omitempty"`
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
	// AdminRoles reports whether these roles include one with admin rights
	// (the access module's role flags); it sets identity.Principal.Admin.
	// nil: only the role named "admin" has them.
	AdminRoles func(roles []string) bool
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

// Service is the auth service. It is safe for concurrent use.
type Service struct {
	st  store.Store
	ttl time.Duration
	now func() time.Time
	log *slog.Logger

	hashSem  chan struct{} // bounds concurrent argon2 work (19 MiB each)
	verified atomic.Int64  // password verifications run: an unknown e-mail must cost one too
	cache    tokenCache
	hasUsers atomic.Bool // once true, stays true: users are never deleted here

	dummyOnce sync.Once
	dummyHash string

	setupMu    sync.Mutex
	setupPlain string // the setup token this process issued, to hand out again

	pruneMu   sync.Mutex
	lastPrune time.Time

	sess   sessionConfig // idle timeout, second factor, cookies (session.go)
	admin  func(roles []string) bool
	tokens tokenConfig // API token lifetimes (token.go)
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
	s.admin = opts.AdminRoles
	if s.admin == nil {
		s.admin = func(roles []string) bool { return slices.Contains(roles, AdminRole) }
	}
	s.sess = newSessionConfig(opts)
	s.tokens = newTokenConfig(opts)
	return s
}

func (s *Service) clock() time.Time { return s.now().UTC() }

func (s *Service) adminRoles(roles []string) bool { return s.admin(roles) }

func (s *Service) audit(at time.Time, actor, ip, action, entity, recordID string, changes map[string]any) *store.AuditEntry {
	return &store.AuditEntry{ID: store.NewID(), At: at, Actor: actor, IP: ip, Action: action,
		Entity: entity, RecordID: recordID, Changes: changes}
}
