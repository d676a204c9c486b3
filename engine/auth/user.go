package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

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
	// Locale is the language the person chose for the app ("en",
	// "zh-CN"); empty follows the browser.
	Locale    string    `json:"locale"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`

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
	Locale       string            `json:"locale,omitempty"`
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

func decodeUser(d *store.Doc) (*User, *userDoc, error) {
	var ud userDoc
	if err := json.Unmarshal(d.Data, &ud); err != nil {
		return nil, nil, fmt.Errorf("auth: user %s: corrupt document: %w", d.ID, err)
	}
	u := &User{ID: d.ID, Email: ud.Email, Name: ud.Name, Roles: slices.Clone(ud.Roles), Teams: slices.Clone(ud.Teams), Attributes: maps.Clone(ud.Attributes),
		Locale: ud.Locale, Active: ud.Active, CreatedAt: ud.CreatedAt, UpdatedAt: ud.UpdatedAt, Version: d.Version,
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
		return &InputError{Field: "active", Code: "forbidden", Message: "you cannot deactivate yourself"}
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
