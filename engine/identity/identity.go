// Package identity holds who is making a request: the Principal that the
// auth layer establishes and every engine service receives. It imports
// nothing internal so every engine package can use it.
package identity

import "context"

// Principal is an authenticated caller.
type Principal struct {
	UserID string   `json:"id"`
	Email  string   `json:"email"`
	Name   string   `json:"name"`
	Roles  []string `json:"roles"`
	Teams  []string `json:"teams,omitempty"`
	// Attributes are free attributes row rules read (user.region).
	Attributes map[string]string `json:"attributes,omitempty"`
	// SubtreeMemberIDs are the users in the teams this principal manages,
	// their sub-teams, and the principal; TeamMemberIDs the members of the
	// principal's own teams. The access module fills them per request.
	SubtreeMemberIDs []string `json:"-"`
	TeamMemberIDs    []string `json:"-"`
	// Admin is true when one of Roles (as the token narrows them) has admin
	// rights: everything, metadata, users and roles included. The auth
	// layer sets it from the roles' admin flag, so a role an admin grants
	// admin rights is an admin everywhere, and a role merely named admin is
	// not.
	Admin bool `json:"-"`
	// TokenID is the session or API token the request came with.
	TokenID string `json:"-"`
	// IP is the client address, for audit entries.
	IP string `json:"-"`
	// TokenKind is the kind of that token: "session" (a sign-in) or "api".
	TokenKind string `json:"-"`
	// ReadOnly principals (scoped API tokens) may only read: the HTTP layer
	// refuses them every unsafe method.
	ReadOnly bool `json:"-"`
	// SecondFactor is true when the session was opened with a second factor
	// (TOTP or a recovery code) besides the password.
	SecondFactor bool `json:"-"`
	// Restricted, when not empty, limits the principal to one purpose:
	// RestrictedTOTPSetup may only set up a second factor (the HTTP layer
	// allows it /auth/totp/*, /auth/me and /auth/logout, nothing else).
	Restricted string `json:"-"`
}

// RestrictedTOTPSetup is the Restricted value of a session opened by a
// password alone for a user whose roles require a second factor that the
// user has not set up yet.
const RestrictedTOTPSetup = "totp_setup"

// IsAdmin reports whether the principal has admin rights (Admin).
func (p *Principal) IsAdmin() bool { return p != nil && p.Admin }

// Vars are the principal's attributes as the expression language sees them
// (user.id, user.email, user.roles, user.team_ids).
func (p *Principal) Vars() map[string]any {
	if p == nil {
		return map[string]any{}
	}
	roles := make([]any, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = r
	}
	teams := make([]any, len(p.Teams))
	for i, t := range p.Teams {
		teams[i] = t
	}
	m := map[string]any{}
	for k, v := range p.Attributes {
		m[k] = v
	}
	list := func(ss []string) []any {
		out := make([]any, len(ss))
		for i, s := range ss {
			out[i] = s
		}
		return out
	}
	m["id"], m["email"], m["name"], m["roles"], m["team_ids"] = p.UserID, p.Email, p.Name, roles, teams
	m["subtree_member_ids"] = list(append([]string{p.UserID}, p.SubtreeMemberIDs...))
	m["team_member_ids"] = list(append([]string{p.UserID}, p.TeamMemberIDs...))
	return m
}

type ctxKey struct{}

// With returns a context carrying p.
func With(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal in ctx, or nil.
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
