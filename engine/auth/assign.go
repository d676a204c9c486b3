package auth

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// Access is a change to what a user is: roles, teams, attributes. A nil
// field is left as it is.
type Access struct {
	Roles      []string
	Teams      []string
	Attributes map[string]string
}

// SetAccess changes a user's roles, teams or attributes (admin only), with
// an audit entry of the change. Tokens pick the change up within the token
// cache's lifetime; on this instance at once.
func (s *Service) SetAccess(ctx context.Context, actor *identity.Principal, id string, in Access) (*User, error) {
	if !actor.IsAdmin() {
		return nil, ErrForbidden
	}
	if in.Roles != nil {
		roles, err := normalizeRoles(in.Roles)
		if err != nil {
			return nil, err
		}
		if actor.UserID == id && !slices.Contains(roles, AdminRole) {
			return nil, &InputError{Field: "roles", Code: "forbidden", Message: "you cannot remove your own admin role"}
		}
		in.Roles = roles
	}
	for attempt := 0; ; attempt++ {
		d, _, ud, err := s.loadUser(ctx, id)
		if err != nil {
			return nil, err
		}
		changes := map[string]any{}
		if in.Roles != nil && !slices.Equal(in.Roles, ud.Roles) {
			changes["roles"] = map[string]any{"from": ud.Roles, "to": in.Roles}
			ud.Roles = slices.Clone(in.Roles)
		}
		if in.Teams != nil && !slices.Equal(in.Teams, ud.Teams) {
			changes["teams"] = map[string]any{"from": ud.Teams, "to": in.Teams}
			ud.Teams = slices.Clone(in.Teams)
		}
		if in.Attributes != nil && !maps.Equal(in.Attributes, ud.Attributes) {
			changes["attributes"] = map[string]any{"from": ud.Attributes, "to": in.Attributes}
			ud.Attributes = maps.Clone(in.Attributes)
		}
		if len(changes) == 0 {
			_, u, _, err := s.loadUser(ctx, id)
			return u, err
		}
		ud.UpdatedAt = s.clock()
		data, err := json.Marshal(ud)
		if err != nil {
			return nil, err
		}
		nd := &store.Doc{Kind: KindUser, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
		err = s.st.PutDoc(ctx, nd, store.Sides{Audit: s.audit(ud.UpdatedAt, actor.UserID, actor.IP, "user.update", KindUser, id, changes)})
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.cache.dropUser(id)
		_, u, _, err := s.loadUser(ctx, id)
		return u, err
	}
}
