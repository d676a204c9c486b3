package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

const (
	setupDocID = "setup"
	// SetupTTL is how long a setup token is valid.
	SetupTTL = 24 * time.Hour
)

// setupDoc is the stored setup token (kind "setup", id "setup"); its
// SHA-256 is the Doc's Key.
type setupDoc struct {
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SetupToken returns the one-time token that lets the first administrator
// be created, while there are no users (ErrSetupComplete after). Only its
// hash is stored, so the token this process issued is handed out again
// while it is valid; otherwise (expired, or issued by another process or
// before a restart) a new one replaces it.
func (s *Service) SetupToken(ctx context.Context) (string, error) {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if has, err := s.HasUsers(ctx); err != nil {
		return "", err
	} else if has {
		return "", ErrSetupComplete
	}
	now := s.clock()
	var version int64
	d, err := s.st.GetDoc(ctx, KindSetup, setupDocID)
	switch {
	case err == nil:
		var sd setupDoc
		if json.Unmarshal(d.Data, &sd) == nil && now.Before(sd.ExpiresAt) &&
			s.setupPlain != "" && hashToken(s.setupPlain) == d.Key {
			return s.setupPlain, nil
		}
		version = d.Version
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	plain, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	sd := setupDoc{CreatedAt: now, ExpiresAt: now.Add(SetupTTL)}
	data, err := json.Marshal(sd)
	if err != nil {
		return "", err
	}
	nd := &store.Doc{Kind: KindSetup, ID: setupDocID, Key: hash, Version: version + 1, Data: data}
	a := s.audit(now, "", "", "auth.setup_token", KindSetup, setupDocID, map[string]any{"expires_at": sd.ExpiresAt})
	if err := s.st.PutDoc(ctx, nd, store.Sides{Audit: a}); err != nil {
		return "", err
	}
	s.setupPlain = plain
	return plain, nil
}

// CompleteSetup creates the first administrator (roles ["admin"], whatever
// in.Roles says) if setupToken is the valid setup token and there are still
// no users, and consumes the token. A wrong or expired token gives
// ErrUnauthenticated, a finished setup ErrSetupComplete, bad input an
// *InputError (and leaves the token usable).
func (s *Service) CompleteSetup(ctx context.Context, setupToken string, in NewUser) (*User, error) {
	tok := parseBearer(setupToken)
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if has, err := s.HasUsers(ctx); err != nil {
		return nil, err
	} else if has {
		return nil, ErrSetupComplete
	}
	if tok == "" {
		return nil, ErrUnauthenticated
	}
	d, err := s.st.GetDoc(ctx, KindSetup, setupDocID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(tok)), []byte(d.Key)) != 1 {
		return nil, ErrUnauthenticated
	}
	var sd setupDoc
	if err := json.Unmarshal(d.Data, &sd); err != nil || !s.clock().Before(sd.ExpiresAt) {
		return nil, ErrUnauthenticated
	}
	in.Roles = []string{AdminRole}
	nd, u, err := s.prepareUser(ctx, in)
	if err != nil {
		return nil, err
	}
	// Consuming the token is the claim: of two concurrent completions (even
	// in two processes) only one deletes it.
	if err := s.st.DeleteDoc(ctx, KindSetup, setupDocID, store.Sides{}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrUnauthenticated
		}
		return nil, err
	}
	s.setupPlain = ""
	if err := s.insertUser(ctx, nd, u, "", "", "setup"); err != nil {
		// Give the token back so the setup can be retried.
		back := &store.Doc{Kind: KindSetup, ID: setupDocID, Key: d.Key, Version: 1, Data: d.Data}
		if perr := s.st.PutDoc(ctx, back, store.Sides{}); perr != nil {
			s.log.Error("auth: restoring setup token after failed setup", "err", perr)
		}
		return nil, err
	}
	s.log.Info("auth: setup complete, first admin created", "user", u.ID)
	return u, nil
}
