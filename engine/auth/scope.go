package auth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jimu-crm/jimu/engine/identity"
)

// TokenScope limits an API token. The zero value limits nothing: the token
// acts with its owner's roles, whatever they are at the time of use.
type TokenScope struct {
	// ReadOnly tokens may only read: every unsafe method (POST, PUT, PATCH,
	// DELETE) is refused with 403.
	ReadOnly bool `json:"read_only,omitempty"`
	// Roles, if set, is the most the token may act with: a non-empty subset
	// of the owner's roles. At each use the token gets the intersection of
	// these with the owner's current roles, so it never has a role its
	// owner lost.
	Roles []string `json:"roles,omitempty"`
}

// scopeToken fills td's scope from the request and from what the creating
// principal p (whose user is u) may pass on.
func scopeToken(td *tokenDoc, scope *TokenScope, p *identity.Principal, u *User) error {
	// The principal's roles are at most the owner's; a principal that came
	// with a role-limited token has fewer.
	have := intersect(u.Roles, p.Roles)
	limited := len(have) != len(u.Roles)
	td.ReadOnly = p.ReadOnly
	if scope != nil {
		td.ReadOnly = td.ReadOnly || scope.ReadOnly
		if scope.Roles != nil {
			var roles []string
			for _, r := range scope.Roles {
				r = strings.TrimSpace(r)
				if r != "" && !slices.Contains(roles, r) {
					roles = append(roles, r)
				}
			}
			if len(roles) == 0 {
				return &InputError{Field: "scope.roles", Code: "required", Message: "must name at least one role (leave it out for all of yours)"}
			}
			for _, r := range roles {
				if !slices.Contains(have, r) {
					return &InputError{Field: "scope.roles", Code: "forbidden", Message: fmt.Sprintf("%q is not one of your roles", r)}
				}
			}
			td.Roles = roles
			return nil
		}
	}
	if limited {
		if len(have) == 0 {
			// An empty list would be stored as "no limit".
			return ErrForbidden
		}
		td.Roles = have
	}
	return nil
}
