package auth

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// ErrWrongPassword is ChangePassword's answer to a wrong current password.
var ErrWrongPassword = errors.New("the current password is wrong")

// ChangePassword changes the principal's own password, given the current
// one. Only a full signed-in session may (ErrSessionOnly for an API token,
// ErrForbidden for a read-only or restricted one). The current password is
// checked under the login throttle: a wrong one is a failed sign-in,
// audited "auth.password_change_failed", giving ErrWrongPassword. The
// change ends every other session of the user and any pending login; the
// session it came with stays, and API tokens stay (they are revoked one by
// one). It is audited "user.password_change".
func (s *Service) ChangePassword(ctx context.Context, p *identity.Principal, current, next string) error {
	if p == nil || p.UserID == "" {
		return ErrUnauthenticated
	}
	if p.ReadOnly || p.Restricted != "" {
		return ErrForbidden
	}
	if p.TokenKind != tokenSession {
		return ErrSessionOnly
	}
	if current == "" {
		return &InputError{Field: "current_password", Code: "required", Message: "is required"}
	}
	if err := checkNewPassword(next, "new_password"); err != nil {
		return err
	}
	if next == current {
		return &InputError{Field: "new_password", Code: "unchanged", Message: "must differ from the current password"}
	}
	_, u, ud, err := s.loadUser(ctx, p.UserID)
	if errors.Is(err, ErrNotFound) || err == nil && !u.Active {
		return ErrUnauthenticated
	}
	if err != nil {
		return err
	}
	try, err := s.beginAttempt(ctx, accountKey(u.Email), p.IP)
	if err != nil {
		return err
	}
	ok := false
	if len(current) <= maxLoginPasswordBytes {
		ok, _, err = s.verify(ctx, ud.PasswordHash, current)
		if err != nil && ctx.Err() != nil {
			try.abort(ctx)
			return ctx.Err()
		}
	}
	if !ok {
		try.fail(ctx)
		a := s.audit(s.clock(), u.ID, p.IP, "auth.password_change_failed", KindUser, u.ID, map[string]any{"reason": "bad_password"})
		if err := s.st.AppendAudit(ctx, a); err != nil {
			s.log.Warn("auth: audit of a failed password change", "err", err)
		}
		return ErrWrongPassword
	}
	try.succeed(ctx)
	gen, err := s.setPassword(ctx, p, u.ID, next, "user.password_change", map[string]any{"other_sessions_ended": true})
	if err != nil {
		return err
	}
	s.carrySession(ctx, p.TokenID, gen)
	return nil
}

// ResetPassword sets a user's password without the current one (an admin
// helping a user who lost theirs). Every session and pending login of the
// user ends; API tokens stay. It is audited "user.password_reset". An admin
// changes their own password with ChangePassword, which asks for the
// current one.
func (s *Service) ResetPassword(ctx context.Context, admin *identity.Principal, id, password string) error {
	if !admin.IsAdmin() || admin.ReadOnly || admin.Restricted != "" {
		return ErrForbidden
	}
	if admin.UserID == id {
		return &InputError{Field: "password", Code: "forbidden", Message: "change your own password with the current one instead"}
	}
	if err := checkNewPassword(password, "password"); err != nil {
		return err
	}
	if _, _, _, err := s.loadUser(ctx, id); err != nil {
		return err
	}
	_, err := s.setPassword(ctx, admin, id, password, "user.password_reset", map[string]any{"sessions_ended": true})
	return err
}

// checkNewPassword is checkPassword naming the input field.
func checkNewPassword(pw, field string) error {
	err := checkPassword(pw)
	var ie *InputError
	if errors.As(err, &ie) {
		return &InputError{Field: field, Code: ie.Code, Params: ie.Params, Message: ie.Message}
	}
	return err
}

// setPassword stores a new password hash for the user and moves the user's
// session generation on, ending their sessions, with an audit entry. It
// returns the new generation.
func (s *Service) setPassword(ctx context.Context, actor *identity.Principal, id, password, action string, changes map[string]any) (int64, error) {
	h, err := s.hash(ctx, password)
	if err != nil {
		return 0, err
	}
	for attempt := 0; ; attempt++ {
		d, _, ud, err := s.loadUser(ctx, id)
		if err != nil {
			return 0, err
		}
		ud.PasswordHash = h
		ud.SessionsGen++
		ud.UpdatedAt = s.clock()
		data, err := json.Marshal(ud)
		if err != nil {
			return 0, err
		}
		nd := &store.Doc{Kind: KindUser, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
		err = s.st.PutDoc(ctx, nd, store.Sides{Audit: s.audit(ud.UpdatedAt, actor.UserID, actor.IP, action, KindUser, id, changes)})
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return 0, err
		}
		s.cache.dropUser(id)
		return ud.SessionsGen, nil
	}
}

// carrySession moves the session a password change came with to the new
// session generation, so that it stays while the others end. Best effort:
// if it fails, that session has ended too, and its user signs in again.
func (s *Service) carrySession(ctx context.Context, tokenID string, gen int64) {
	ctx = context.WithoutCancel(ctx)
	for attempt := 0; attempt < 5; attempt++ {
		d, err := s.st.GetDoc(ctx, KindToken, tokenID)
		if err != nil {
			s.log.Warn("auth: keeping the session of a password change", "token", tokenID, "err", err)
			return
		}
		td, err := decodeToken(d)
		if err != nil || td.Kind != tokenSession {
			return
		}
		td.SessGen = gen
		data, err := json.Marshal(td)
		if err != nil {
			return
		}
		nd := &store.Doc{Kind: KindToken, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
		err = s.st.PutDoc(ctx, nd, store.Sides{})
		if errors.Is(err, store.ErrConflict) {
			continue // a last-used update; read again
		}
		if err != nil {
			s.log.Warn("auth: keeping the session of a password change", "token", tokenID, "err", err)
		}
		s.cache.drop(d.Key)
		return
	}
}
