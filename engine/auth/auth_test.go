package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/mongo/mongotest"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

// backends are the stores the tests of what auth keeps in the store
// (throttle counters, credential generations) run on: SQLite, and MongoDB
// (FerretDB, or JIMU_TEST_MONGO_URI). Each gives an opener: every call
// opens the same database afresh (a restart); the test closes them.
var backends = map[string]func(t *testing.T) func() store.Store{
	"sqlite": func(t *testing.T) func() store.Store {
		path := filepath.Join(t.TempDir(), "jimu.db")
		return func() store.Store {
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	},
	"mongo": func(t *testing.T) func() store.Store {
		uri := mongotest.URI(t)
		return func() store.Store {
			st, err := mongo.Open(context.Background(), uri)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	},
}

// onBackends runs f on a fresh env on each backend.
func onBackends(t *testing.T, f func(t *testing.T, e *env, open func() store.Store)) {
	for name, backend := range backends {
		t.Run(name, func(t *testing.T) {
			open := backend(t)
			f(t, newEnvOn(open()), open)
		})
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	svc   *Service
	st    store.Store
	clock *clock
	admin *identity.Principal
}

const adminPW = "correct horse battery"

var quiet = slog.New(slog.DiscardHandler)

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(st)
}

func newEnvOn(st store.Store) *env {
	c := &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	return &env{svc: New(st, Options{Now: c.Now, Logger: quiet}), st: st, clock: c}
}

// node is another Service on e's store and clock (another Jimu node, or
// the same one restarted when st is a new connection).
func (e *env) node(st store.Store) *Service {
	return New(st, Options{Now: e.clock.Now, Logger: quiet})
}

// withAdmin creates an admin through EnsureAdmin.
func (e *env) withAdmin(t *testing.T) *env {
	t.Helper()
	u, created, err := e.svc.EnsureAdmin(context.Background(), "admin@example.com", adminPW)
	if err != nil || !created {
		t.Fatalf("EnsureAdmin: %v %v", created, err)
	}
	e.admin = &identity.Principal{UserID: u.ID, Email: u.Email, Roles: u.Roles, Admin: true, IP: "10.0.0.1"}
	return e
}

func (e *env) user(t *testing.T, email, pw string, roles ...string) *User {
	t.Helper()
	u, err := e.svc.CreateUser(context.Background(), e.admin, NewUser{Email: email, Name: "U " + email, Password: pw, Roles: roles})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func (e *env) audits(t *testing.T, action string) []*store.AuditEntry {
	t.Helper()
	as, err := e.st.ListAudit(context.Background(), store.AuditQuery{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func inputField(err error) string {
	var ie *InputError
	if errors.As(err, &ie) {
		return ie.Field
	}
	return ""
}

func TestCreateUser(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u, err := e.svc.CreateUser(ctx, e.admin, NewUser{Email: "  Alice@Example.COM ", Name: " Alice ", Password: "s3cret-password"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "alice@example.com" || u.Name != "Alice" || !u.Active || u.Version != 1 {
		t.Fatalf("user = %+v", u)
	}
	if len(u.Roles) != 1 || u.Roles[0] != DefaultRole {
		t.Fatalf("roles = %v, want [%s]", u.Roles, DefaultRole)
	}
	if id, err := uuid.Parse(u.ID); err != nil || id.Version() != 7 {
		t.Fatalf("id %q is not a uuid v7", u.ID)
	}
	got, err := e.svc.GetUser(ctx, u.ID)
	if err != nil || got.Email != u.Email || got.Version != 1 {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	d, err := e.st.GetDocByKey(ctx, KindUser, "alice@example.com")
	if err != nil || d.ID != u.ID {
		t.Fatalf("doc by key: %v %v", d, err)
	}
	list, err := e.svc.ListUsers(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListUsers = %d, %v", len(list), err)
	}
	if _, err := e.svc.GetUser(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetUser(nope) = %v", err)
	}

	// The creation is audited, without the password or its hash.
	var a *store.AuditEntry
	for _, x := range e.audits(t, "user.create") {
		if x.RecordID == u.ID {
			a = x
		}
	}
	if a == nil || a.Actor != e.admin.UserID || a.IP != "10.0.0.1" || a.Entity != KindUser {
		t.Fatalf("audit = %+v", a)
	}
	b, _ := json.Marshal(a)
	if bytes.Contains(b, []byte("s3cret")) || bytes.Contains(b, []byte("argon2")) || bytes.Contains(b, []byte("password")) {
		t.Fatalf("audit leaks the password: %s", b)
	}

	// Explicit roles are kept, deduplicated.
	u2 := e.user(t, "bob@example.com", "another-password", "manager", " manager ", "sales_rep")
	if strings.Join(u2.Roles, ",") != "manager,sales_rep" {
		t.Fatalf("roles = %v", u2.Roles)
	}
}

func TestCreateUserValidation(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	cases := []struct {
		in    NewUser
		field string
	}{
		{NewUser{Email: "", Password: "long-enough-pw"}, "email"},
		{NewUser{Email: "not-an-email", Password: "long-enough-pw"}, "email"},
		{NewUser{Email: "Alice <a@example.com>", Password: "long-enough-pw"}, "email"},
		{NewUser{Email: "a b@example.com", Password: "long-enough-pw"}, "email"},
		{NewUser{Email: "a@", Password: "long-enough-pw"}, "email"},
		{NewUser{Email: strings.Repeat("a", 250) + "@example.com", Password: "long-enough-pw"}, "email"},
		{NewUser{Email: "a@example.com", Password: "short"}, "password"},
		{NewUser{Email: "a@example.com", Password: "123456789"}, "password"},
		{NewUser{Email: "a@example.com", Password: strings.Repeat("x", 257)}, "password"},
		{NewUser{Email: "a@example.com", Password: "long-enough-pw", Roles: []string{"bad role"}}, "roles"},
		{NewUser{Email: "a@example.com", Password: "long-enough-pw", Name: strings.Repeat("n", 201)}, "name"},
	}
	for _, c := range cases {
		_, err := e.svc.CreateUser(ctx, e.admin, c.in)
		if got := inputField(err); got != c.field {
			t.Errorf("CreateUser(%q, %d-char password): err %v, field %q, want %q", c.in.Email, len(c.in.Password), err, got, c.field)
		}
	}
	// Exactly 10 and 256 characters are fine (characters, not bytes).
	if _, err := e.svc.CreateUser(ctx, e.admin, NewUser{Email: "ten@example.com", Password: "0123456789"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateUser(ctx, e.admin, NewUser{Email: "max@example.com", Password: strings.Repeat("é", 256)}); err != nil {
		t.Fatal(err)
	}
	// Only admins create users.
	rep := &identity.Principal{UserID: "x", Roles: []string{"sales_rep"}}
	if _, err := e.svc.CreateUser(ctx, rep, NewUser{Email: "c@example.com", Password: "long-enough-pw"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("non-admin CreateUser: %v", err)
	}
	if _, err := e.svc.CreateUser(ctx, nil, NewUser{Email: "c@example.com", Password: "long-enough-pw"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("nil actor CreateUser: %v", err)
	}
}

func TestDuplicateEmail(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	e.user(t, "dup@example.com", "first-password")
	_, err := e.svc.CreateUser(context.Background(), e.admin, NewUser{Email: " DUP@example.com", Password: "second-password"})
	if !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("duplicate: %v", err)
	}
	// The insert itself also refuses (the pre-check is only an optimisation).
	d, u, err := e.svc.prepareUser(context.Background(), NewUser{Email: "race@example.com", Password: "some-password"})
	if err != nil {
		t.Fatal(err)
	}
	e.user(t, "race@example.com", "other-password")
	if err := e.svc.insertUser(context.Background(), d, u, "", "", ""); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("racing insert: %v", err)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	want := e.user(t, "carol@example.com", "carols-password")

	tok, u, err := e.svc.Login(ctx, " Carol@Example.com", "carols-password", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != tokenLen || u.ID != want.ID {
		t.Fatalf("Login = %q, %+v", tok, u)
	}

	_, _, errWrong := e.svc.Login(ctx, "carol@example.com", "wrong-password", "192.0.2.1")
	_, _, errUnknown := e.svc.Login(ctx, "nobody@example.com", "carols-password", "192.0.2.1")
	_, _, errInvalid := e.svc.Login(ctx, "not an email", "carols-password", "192.0.2.1")
	_, _, errEmpty := e.svc.Login(ctx, "carol@example.com", "", "192.0.2.1")
	for _, err := range []error{errWrong, errUnknown, errInvalid, errEmpty} {
		if err != ErrInvalidCredentials {
			t.Fatalf("failed login: %v, want exactly ErrInvalidCredentials", err)
		}
	}

	// The stored token is the SHA-256 of the token, never the token.
	docs, err := e.st.ListDocs(ctx, KindToken)
	if err != nil || len(docs) != 1 {
		t.Fatalf("tokens: %d %v", len(docs), err)
	}
	if docs[0].Key != hashToken(tok) || bytes.Contains(docs[0].Data, []byte(tok[len(TokenPrefix):])) {
		t.Fatalf("token doc %+v", docs[0])
	}
	var td tokenDoc
	if err := json.Unmarshal(docs[0].Data, &td); err != nil || td.Kind != "session" || td.UserID != want.ID ||
		td.ExpiresAt == nil || !td.ExpiresAt.Equal(e.clock.Now().Add(DefaultSessionTTL)) {
		t.Fatalf("token data %s (%v)", docs[0].Data, err)
	}
}

// TestLoginTiming: an unknown e-mail costs what a wrong password costs —
// one password verification against a hash of the current cost — so
// timing cannot tell accounts apart. It counts verifications rather than
// timing them: wall-clock comparisons failed on loaded machines.
func TestLoginTiming(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	for _, email := range []string{"admin@example.com", "ghost@example.com", "not an address", strings.Repeat("x", 300) + "@example.com"} {
		before := e.svc.verified.Load()
		if _, _, err := e.svc.Login(ctx, email, "wrong-password", "198.51.100.1"); err != ErrInvalidCredentials {
			t.Fatalf("%s: %v", email, err)
		}
		if n := e.svc.verified.Load() - before; n != 1 {
			t.Errorf("%s: %d password verifications, want 1 as for every sign-in", email, n)
		}
	}
	// The stand-in hash costs what a stored one does.
	docs, err := e.st.ListDocs(ctx, KindUser)
	if err != nil || len(docs) == 0 {
		t.Fatal(err)
	}
	_, _, ud, err := e.svc.loadUser(ctx, docs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	real, err := parsePHC(ud.PasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	stand, err := parsePHC(e.svc.dummy())
	if err != nil {
		t.Fatal(err)
	}
	if stand.Params != real.Params || len(stand.Salt) != len(real.Salt) || len(stand.Key) != len(real.Key) {
		t.Fatalf("the stand-in hash %+v differs in cost from a stored one %+v", stand.Params, real.Params)
	}
}

func TestAuthenticate(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "erin@example.com", "erins-password", "manager")
	tok, _, err := e.svc.Login(ctx, "erin@example.com", "erins-password", "192.0.2.5")
	if err != nil {
		t.Fatal(err)
	}
	for _, bearer := range []string{tok, "Bearer " + tok, "bearer  " + tok + " "} {
		p, err := e.svc.Authenticate(ctx, bearer, "192.0.2.6")
		if err != nil {
			t.Fatalf("Authenticate(%q): %v", bearer, err)
		}
		if p.UserID != u.ID || p.Email != u.Email || p.Name != u.Name || len(p.Roles) != 1 || p.Roles[0] != "manager" ||
			p.TokenID == "" || p.IP != "192.0.2.6" {
			t.Fatalf("principal = %+v", p)
		}
		// Callers get their own copy.
		p.Roles[0] = "admin"
	}
	p, _ := e.svc.Authenticate(ctx, tok, "")
	if p.IsAdmin() {
		t.Fatal("cached principal was mutated by a caller")
	}

	for _, bad := range []string{"", "jimu_", "Bearer", tok[:len(tok)-1], tok + "A", "jimu_" + strings.Repeat("A", 43),
		strings.Replace(tok, "jimu_", "jimx_", 1)} {
		if _, err := e.svc.Authenticate(ctx, bad, ""); err != ErrUnauthenticated {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}

	// API token.
	exp := e.clock.Now().Add(48 * time.Hour)
	api, meta, err := e.svc.CreateToken(ctx, p, "ci", &exp)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Kind != "api" || meta.Name != "ci" || meta.UserID != u.ID || !meta.ExpiresAt.Equal(exp) || api == tok {
		t.Fatalf("token = %+v", meta)
	}
	pa, err := e.svc.Authenticate(ctx, api, "")
	if err != nil || pa.UserID != u.ID || pa.TokenID != meta.ID {
		t.Fatalf("Authenticate(api) = %+v, %v", pa, err)
	}
	// A token asked for without an expiry gets the default lifetime (it
	// used to live for ever: issue 13 item 11).
	dflt, dmeta, err := e.svc.CreateToken(ctx, p, "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	if dmeta.ExpiresAt == nil || !dmeta.ExpiresAt.Equal(e.clock.Now().Add(DefaultTokenTTL)) {
		t.Fatalf("default expiry %v, want now + %v", dmeta.ExpiresAt, DefaultTokenTTL)
	}
	// At most DefaultTokenMaxTTL ahead.
	tooLate := e.clock.Now().Add(DefaultTokenMaxTTL + time.Second)
	if _, _, err := e.svc.CreateToken(ctx, p, "late", &tooLate); inputField(err) != "expires_at" {
		t.Fatalf("expiry past the maximum: %v", err)
	}
	longest := e.clock.Now().Add(DefaultTokenMaxTTL)
	if _, _, err := e.svc.CreateToken(ctx, p, "long", &longest); err != nil {
		t.Fatalf("expiry at the maximum: %v", err)
	}
	e.clock.Add(DefaultTokenTTL - time.Second)
	if _, err := e.svc.Authenticate(ctx, dflt, ""); err != nil {
		t.Fatalf("default-expiry token before its end: %v", err)
	}
	e.clock.Add(time.Second)
	if _, err := e.svc.Authenticate(ctx, dflt, ""); err != ErrUnauthenticated {
		t.Fatalf("default-expiry token after %v: %v", DefaultTokenTTL, err)
	}
	for _, a := range e.audits(t, "token.create") {
		if want := map[string]any{dmeta.ID: "default_ttl", meta.ID: nil}; a.Changes["expiry"] != want[a.RecordID] {
			t.Fatalf("token.create audit %+v", a)
		}
	}

	// Input checks.
	if _, _, err := e.svc.CreateToken(ctx, p, " ", nil); inputField(err) != "name" {
		t.Fatalf("empty name: %v", err)
	}
	past := e.clock.Now().Add(-time.Minute)
	if _, _, err := e.svc.CreateToken(ctx, p, "x", &past); inputField(err) != "expires_at" {
		t.Fatalf("past expiry: %v", err)
	}
	if _, _, err := e.svc.CreateToken(ctx, nil, "x", nil); err != ErrUnauthenticated {
		t.Fatalf("nil principal: %v", err)
	}
}

func TestAuthenticateCache(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	tok, _, err := e.svc.Login(ctx, "admin@example.com", adminPW, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
		t.Fatal(err)
	}
	// Delete the token behind the service's back: the cache still answers
	// for its lifetime, then the store is asked again.
	d, _ := e.st.GetDocByKey(ctx, KindToken, hashToken(tok))
	if err := e.st.DeleteDoc(ctx, KindToken, d.ID, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
		t.Fatalf("cached: %v", err)
	}
	e.clock.Add(cacheTTL)
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != ErrUnauthenticated {
		t.Fatalf("after cache TTL: %v", err)
	}
}

func TestAuthenticateConcurrent(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	tok, _, err := e.svc.Login(ctx, "admin@example.com", adminPW, "")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.svc.Authenticate(ctx, tok, "")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for range 20 {
				if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil && err != ErrUnauthenticated {
					t.Error(err)
				}
			}
			if i == 7 {
				if err := e.svc.RevokeToken(ctx, p, p.TokenID); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != ErrUnauthenticated {
		t.Fatalf("after revoke: %v", err)
	}
}

func TestExpiredToken(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	tok, _, err := e.svc.Login(ctx, "admin@example.com", adminPW, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.Authenticate(ctx, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	exp := e.clock.Now().Add(time.Hour)
	api, _, err := e.svc.CreateToken(ctx, p, "short", &exp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, api, ""); err != nil {
		t.Fatal(err)
	}
	// The session is used every 20 minutes meanwhile: it also has an idle
	// timeout (session_test.go).
	start := e.clock.Now()
	busy := func(until time.Time) {
		t.Helper()
		for e.clock.Now().Add(20 * time.Minute).Before(until) {
			e.clock.Add(20 * time.Minute)
			if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
				t.Fatalf("busy session at %v: %v", e.clock.Now().Sub(start), err)
			}
		}
		e.clock.Add(until.Sub(e.clock.Now()))
		e.svc.Authenticate(ctx, tok, "")
	}
	// The cache never outlives the token.
	busy(start.Add(time.Hour))
	if _, err := e.svc.Authenticate(ctx, api, ""); err != ErrUnauthenticated {
		t.Fatalf("expired API token: %v", err)
	}
	busy(start.Add(DefaultSessionTTL - time.Second))
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != nil {
		t.Fatalf("session just before expiry: %v", err)
	}
	e.clock.Add(time.Second)
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != ErrUnauthenticated {
		t.Fatalf("expired session: %v", err)
	}

	// A custom session TTL.
	s2 := New(e.st, Options{Logger: quiet, Now: e.clock.Now, SessionTTL: time.Minute})
	tok2, _, err := s2.Login(ctx, "admin@example.com", adminPW, "")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	if _, err := s2.Authenticate(ctx, tok2, ""); err != ErrUnauthenticated {
		t.Fatalf("session past custom TTL: %v", err)
	}

	// Pruning (also done by Login, hourly) removes the dead tokens.
	if _, err := e.svc.PruneTokens(ctx); err != nil {
		t.Fatal(err)
	}
	if docs, _ := e.st.ListDocs(ctx, KindToken); len(docs) != 0 {
		t.Fatalf("%d tokens left after pruning", len(docs))
	}
}

func TestRevoke(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	e.user(t, "frank@example.com", "franks-password")
	e.user(t, "gina@example.com", "ginas-password")
	login := func(email, pw string) (string, *identity.Principal) {
		t.Helper()
		tok, _, err := e.svc.Login(ctx, email, pw, "192.0.2.9")
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.svc.Authenticate(ctx, tok, "192.0.2.9")
		if err != nil {
			t.Fatal(err)
		}
		return tok, p
	}
	_, frank := login("frank@example.com", "franks-password")
	_, gina := login("gina@example.com", "ginas-password")
	_, admin := login("admin@example.com", adminPW)

	api, meta, err := e.svc.CreateToken(ctx, frank, "script", nil)
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.ListTokens(ctx, frank)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListTokens = %v, %v", list, err)
	}
	if list[0].Kind != "session" || !list[0].Current || list[1].ID != meta.ID || list[1].Current {
		t.Fatalf("ListTokens = %+v %+v", list[0], list[1])
	}
	b, _ := json.Marshal(list)
	if bytes.Contains(b, []byte(api[len(TokenPrefix):])) || bytes.Contains(b, []byte(hashToken(api))) {
		t.Fatalf("token list leaks the token: %s", b)
	}

	// Gina may not revoke Frank's token.
	if err := e.svc.RevokeToken(ctx, gina, meta.ID); !errors.Is(err, ErrForbidden) {
		t.Fatalf("foreign revoke: %v", err)
	}
	if err := e.svc.RevokeToken(ctx, gina, "no-such-token"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown revoke: %v", err)
	}
	// Frank may, at once.
	if _, err := e.svc.Authenticate(ctx, api, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeToken(ctx, frank, meta.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, api, ""); err != ErrUnauthenticated {
		t.Fatalf("revoked token still works: %v", err)
	}
	if err := e.svc.RevokeToken(ctx, frank, meta.ID); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if list, _ := e.svc.ListTokens(ctx, frank); len(list) != 1 {
		t.Fatalf("revoked token still listed: %v", list)
	}

	// An admin may revoke anyone's.
	api2, meta2, err := e.svc.CreateToken(ctx, gina, "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Authenticate(ctx, api2, "")
	if err := e.svc.RevokeToken(ctx, admin, meta2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, api2, ""); err != ErrUnauthenticated {
		t.Fatalf("admin-revoked token still works: %v", err)
	}

	// Logout ends the session, and not an API token.
	api3, _, _ := e.svc.CreateToken(ctx, gina, "g3", nil)
	pAPI, _ := e.svc.Authenticate(ctx, api3, "")
	if err := e.svc.Logout(ctx, pAPI); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, api3, ""); err != nil {
		t.Fatalf("logout revoked an API token: %v", err)
	}
	if err := e.svc.Logout(ctx, gina); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, gina.TokenID, ""); err != ErrUnauthenticated {
		t.Fatal("token id accepted as a token")
	}
	if list, _ := e.svc.ListTokens(ctx, gina); len(list) != 1 || list[0].Kind != "api" {
		t.Fatalf("after logout: %+v", list)
	}
	if len(e.audits(t, "auth.logout")) != 1 {
		t.Fatal("logout not audited")
	}
}

func TestLogoutRevokesSession(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	tok, _, _ := e.svc.Login(ctx, "admin@example.com", adminPW, "")
	p, err := e.svc.Authenticate(ctx, tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != ErrUnauthenticated {
		t.Fatalf("after logout: %v", err)
	}
	if err := e.svc.Logout(ctx, nil); err != ErrUnauthenticated {
		t.Fatalf("Logout(nil) = %v", err)
	}
}

func TestDeactivatedUser(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "hank@example.com", "hanks-password")
	tok, _, err := e.svc.Login(ctx, "hank@example.com", "hanks-password", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.Authenticate(ctx, tok, "") // now cached
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetActive(ctx, p, u.ID, false); !errors.Is(err, ErrForbidden) {
		t.Fatalf("non-admin SetActive: %v", err)
	}
	if err := e.svc.SetActive(ctx, e.admin, e.admin.UserID, false); inputField(err) != "active" {
		t.Fatalf("self-deactivation: %v", err)
	}
	if err := e.svc.SetActive(ctx, e.admin, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.GetUser(ctx, u.ID); got.Active || got.Version != 2 {
		t.Fatalf("user = %+v", got)
	}
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != ErrUnauthenticated {
		t.Fatalf("inactive user's token: %v", err)
	}
	if _, _, err := e.svc.Login(ctx, "hank@example.com", "hanks-password", ""); err != ErrInvalidCredentials {
		t.Fatalf("inactive login: %v", err)
	}
	if _, _, err := e.svc.CreateToken(ctx, p, "late", nil); err != ErrUnauthenticated {
		t.Fatalf("inactive CreateToken: %v", err)
	}
	as := e.audits(t, "user.update")
	if len(as) != 1 || as[0].RecordID != u.ID || as[0].Actor != e.admin.UserID {
		t.Fatalf("audit = %+v", as)
	}
	if as[0].Changes["sessions_and_tokens_ended"] != true {
		t.Fatalf("deactivation audit = %+v", as[0].Changes)
	}
	// Reactivation does not revive the old session (credentials_test.go has
	// the rest); a new login works.
	if err := e.svc.SetActive(ctx, e.admin, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, tok, ""); err != ErrUnauthenticated {
		t.Fatalf("reactivated user's old session: %v", err)
	}
	if _, _, err := e.svc.Login(ctx, "hank@example.com", "hanks-password", ""); err != nil {
		t.Fatalf("reactivated login: %v", err)
	}
	if err := e.svc.SetActive(ctx, e.admin, "nope", false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetActive(nope) = %v", err)
	}
}

func TestSetup(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if has, err := e.svc.HasUsers(ctx); err != nil || has {
		t.Fatalf("HasUsers = %v, %v", has, err)
	}
	t1, err := e.svc.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := e.svc.SetupToken(ctx)
	if err != nil || t2 != t1 {
		t.Fatalf("second SetupToken = %q, %v; want the first", t2, err)
	}
	d, err := e.st.GetDoc(ctx, KindSetup, setupDocID)
	if err != nil || d.Key != hashToken(t1) || bytes.Contains(d.Data, []byte(t1[len(TokenPrefix):])) {
		t.Fatalf("setup doc %+v, %v", d, err)
	}
	// A setup token is not a bearer token.
	if _, err := e.svc.Authenticate(ctx, t1, ""); err != ErrUnauthenticated {
		t.Fatalf("setup token authenticated: %v", err)
	}

	// Expiry: a new token replaces the old one.
	e.clock.Add(SetupTTL)
	t3, err := e.svc.SetupToken(ctx)
	if err != nil || t3 == t1 {
		t.Fatalf("after expiry: %q, %v", t3, err)
	}
	in := NewUser{Email: "Root@Example.com", Name: "Root", Password: "root-password", Roles: []string{"sales_rep"}}
	if _, err := e.svc.CompleteSetup(ctx, t1, in); err != ErrUnauthenticated {
		t.Fatalf("old token: %v", err)
	}
	if _, err := e.svc.CompleteSetup(ctx, "jimu_nonsense", in); err != ErrUnauthenticated {
		t.Fatalf("bad token: %v", err)
	}
	// Bad input does not consume the token.
	if _, err := e.svc.CompleteSetup(ctx, t3, NewUser{Email: "root@example.com", Password: "short"}); inputField(err) != "password" {
		t.Fatalf("short password: %v", err)
	}
	// A restarted process does not know the token, but it still works.
	fresh := New(e.st, Options{Logger: quiet, Now: e.clock.Now})
	u, err := fresh.CompleteSetup(ctx, t3, in)
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "root@example.com" || len(u.Roles) != 1 || u.Roles[0] != AdminRole {
		t.Fatalf("first admin = %+v", u)
	}
	if _, err := fresh.CompleteSetup(ctx, t3, NewUser{Email: "two@example.com", Password: "other-password"}); !errors.Is(err, ErrSetupComplete) {
		t.Fatalf("second CompleteSetup: %v", err)
	}
	if _, err := e.svc.CompleteSetup(ctx, t3, NewUser{Email: "two@example.com", Password: "other-password"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("second CompleteSetup (other instance): %v", err)
	}
	if _, err := e.st.GetDoc(ctx, KindSetup, setupDocID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("setup token not consumed: %v", err)
	}
	if _, err := e.svc.SetupToken(ctx); !errors.Is(err, ErrSetupComplete) {
		t.Fatalf("SetupToken after setup: %v", err)
	}
	if has, _ := e.svc.HasUsers(ctx); !has {
		t.Fatal("HasUsers false after setup")
	}
	if _, _, err := e.svc.Login(ctx, "root@example.com", "root-password", ""); err != nil {
		t.Fatal(err)
	}
	if as := e.audits(t, "user.create"); len(as) != 1 || as[0].Changes["via"] != "setup" {
		t.Fatalf("audit = %+v", as)
	}
}

func TestSetupRace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok, err := e.svc.SetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Two instances complete at once: one admin.
	svcs := []*Service{e.svc, New(e.st, Options{Logger: quiet, Now: e.clock.Now})}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range svcs {
		wg.Go(func() {
			_, errs[i] = s.CompleteSetup(ctx, tok, NewUser{Email: "r" + string(rune('a'+i)) + "@example.com", Password: "root-password"})
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("errors %v", errs)
	}
	if us, _ := e.svc.ListUsers(ctx); len(us) != 1 {
		t.Fatalf("%d users", len(us))
	}
}

func TestEnsureAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, _, err := e.svc.EnsureAdmin(ctx, "bad", "admin-password"); inputField(err) != "email" {
		t.Fatalf("bad email: %v", err)
	}
	if _, _, err := e.svc.EnsureAdmin(ctx, "root@example.com", "short"); inputField(err) != "password" {
		t.Fatalf("short password: %v", err)
	}
	u, created, err := e.svc.EnsureAdmin(ctx, "Root@Example.com", "admin-password")
	if err != nil || !created || u.Roles[0] != AdminRole || u.Name != "root" {
		t.Fatalf("EnsureAdmin = %+v, %v, %v", u, created, err)
	}
	u2, created, err := e.svc.EnsureAdmin(ctx, "root@example.com", "a-different-password")
	if err != nil || created || u2.ID != u.ID {
		t.Fatalf("second EnsureAdmin = %+v, %v, %v", u2, created, err)
	}
	// The password was not changed.
	if _, _, err := e.svc.Login(ctx, "root@example.com", "admin-password", ""); err != nil {
		t.Fatal(err)
	}
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestPasswordStorage(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "ivy@example.com", "ivys-password")
	d, err := e.st.GetDoc(ctx, KindUser, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ud userDoc
	if err := json.Unmarshal(d.Data, &ud); err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(ud.PasswordHash) {
		t.Fatalf("hash %q is not argon2id PHC with OWASP parameters", ud.PasswordHash)
	}
	if bytes.Contains(d.Data, []byte("ivys-password")) {
		t.Fatal("plain password stored")
	}
	// Two users with the same password get different hashes (salt).
	u2 := e.user(t, "jay@example.com", "ivys-password")
	d2, _ := e.st.GetDoc(ctx, KindUser, u2.ID)
	var ud2 userDoc
	json.Unmarshal(d2.Data, &ud2)
	if ud2.PasswordHash == ud.PasswordHash {
		t.Fatal("same hash for the same password")
	}

	// The API form of a user carries no hash.
	users, _ := e.svc.ListUsers(ctx)
	_, lu, _ := e.svc.Login(ctx, "ivy@example.com", "ivys-password", "")
	for _, v := range []any{u, users, lu} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("argon2")) || bytes.Contains(b, []byte("password")) || bytes.Contains(b, []byte(ud.PasswordHash[30:])) {
			t.Fatalf("user JSON leaks the hash: %s", b)
		}
	}
	b, _ := json.Marshal(u)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"id", "email", "name", "roles", "teams", "active", "created_at", "updated_at", "version"} {
		if _, ok := m[k]; !ok {
			t.Errorf("user JSON lacks %q: %s", k, b)
		}
	}
}

func TestRehashOnLogin(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "kim@example.com", "kims-password")
	// Store a hash made with weaker parameters, as an older version would.
	d, _ := e.st.GetDoc(ctx, KindUser, u.ID)
	var ud userDoc
	json.Unmarshal(d.Data, &ud)
	old := currentParams
	currentParams = argonParams{Memory: 1024, Time: 1, Threads: 1}
	weak, err := hashPassword("kims-password")
	currentParams = old
	if err != nil {
		t.Fatal(err)
	}
	ud.PasswordHash = weak
	d.Data, _ = json.Marshal(ud)
	d.Version++
	if err := e.st.PutDoc(ctx, d, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Login(ctx, "kim@example.com", "kims-password", ""); err != nil {
		t.Fatalf("login with old-parameter hash: %v", err)
	}
	d, _ = e.st.GetDoc(ctx, KindUser, u.ID)
	json.Unmarshal(d.Data, &ud)
	if !phcRE.MatchString(ud.PasswordHash) {
		t.Fatalf("hash not upgraded: %s", ud.PasswordHash)
	}
	if _, _, err := e.svc.Login(ctx, "kim@example.com", "kims-password", ""); err != nil {
		t.Fatalf("login after rehash: %v", err)
	}
}

func TestAudit(t *testing.T) {
	e := newEnv(t).withAdmin(t)
	ctx := context.Background()
	u := e.user(t, "lee@example.com", "lees-password")

	tok, _, err := e.svc.Login(ctx, "lee@example.com", "lees-password", "192.0.2.10")
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Login(ctx, "lee@example.com", "not-lees-password", "192.0.2.11")
	e.svc.Login(ctx, "stranger@example.com", "whatever-pw", "192.0.2.12")
	p, _ := e.svc.Authenticate(ctx, tok, "192.0.2.13")
	_, meta, err := e.svc.CreateToken(ctx, p, "report bot", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeToken(ctx, p, meta.ID); err != nil {
		t.Fatal(err)
	}

	login := e.audits(t, "auth.login")
	if len(login) != 1 || login[0].Actor != u.ID || login[0].IP != "192.0.2.10" || login[0].RecordID != u.ID ||
		login[0].Changes["token_id"] != p.TokenID {
		t.Fatalf("auth.login = %+v", login)
	}
	failed := e.audits(t, "auth.login_failed")
	if len(failed) != 2 {
		t.Fatalf("auth.login_failed = %+v", failed)
	}
	// Newest first: the unknown account, then the wrong password.
	if failed[0].Actor != "" || failed[0].IP != "192.0.2.12" || failed[0].Changes["reason"] != "unknown_user" ||
		failed[0].Changes["email"] != "stranger@example.com" {
		t.Fatalf("unknown-user failure = %+v", failed[0])
	}
	if failed[1].Actor != u.ID || failed[1].IP != "192.0.2.11" || failed[1].Changes["reason"] != "bad_password" {
		t.Fatalf("wrong-password failure = %+v", failed[1])
	}
	for _, a := range failed {
		b, _ := json.Marshal(a)
		if bytes.Contains(b, []byte("not-lees-password")) || bytes.Contains(b, []byte("whatever-pw")) {
			t.Fatalf("audit holds a password: %s", b)
		}
	}
	created := e.audits(t, "token.create")
	if len(created) != 1 || created[0].Actor != u.ID || created[0].RecordID != meta.ID || created[0].IP != "192.0.2.13" ||
		created[0].Entity != KindToken {
		t.Fatalf("token.create = %+v", created)
	}
	revoked := e.audits(t, "token.revoke")
	if len(revoked) != 1 || revoked[0].Actor != u.ID || revoked[0].RecordID != meta.ID {
		t.Fatalf("token.revoke = %+v", revoked)
	}
	for _, a := range append(created, revoked...) {
		if a.At.IsZero() || len(a.ID) != 36 {
			t.Fatalf("entry %+v", a)
		}
	}
	// Throttled attempts are refused without writing: of pairFree+2
	// guesses from one address (which failed once already), pairFree-1
	// are checked.
	n := len(e.audits(t, ""))
	for range pairFree + 2 {
		e.svc.Login(ctx, "lee@example.com", "guess-again", "192.0.2.11")
	}
	if got := len(e.audits(t, "auth.login_failed")); got != 2+pairFree-1 {
		t.Fatalf("%d failed-login entries (had %d entries)", got, n)
	}
}
