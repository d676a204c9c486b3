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
	// TokenID is the session or API token the request came with.
	TokenID string `json:"-"`
	// IP is the client address, for audit entries.
	IP string `json:"-"`
}

// IsAdmin reports whether the principal holds the built-in admin role.
func (p *Principal) IsAdmin() bool {
	if p == nil {
		return false
	}
	for _, r := range p.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}

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
	return map[string]any{"id": p.UserID, "email": p.Email, "name": p.Name, "roles": roles, "team_ids": teams}
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
