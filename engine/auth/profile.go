package auth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
)

// Locales people may choose for the app; "" follows the browser.
var Locales = []string{"", "en", "zh-CN"}

// Profile is what people change of their own account besides the password.
// A nil field is left as it is.
type Profile struct {
	Name   *string `json:"name"`
	Locale *string `json:"locale"`
}

// UpdateProfile changes the signed-in user's own name or language, audited
// as user.update.
func (s *Service) UpdateProfile(ctx context.Context, p *identity.Principal, in Profile) (*User, error) {
	if p == nil || p.UserID == "" || p.Restricted != "" {
		return nil, ErrForbidden
	}
	if in.Locale != nil && !slices.Contains(Locales, *in.Locale) {
		return nil, &InputError{Field: "locale", Code: "enum", Message: `locale must be "en", "zh-CN" or "" (follow the browser)`}
	}
	for attempt := 0; ; attempt++ {
		d, _, ud, err := s.loadUser(ctx, p.UserID)
		if err != nil {
			return nil, err
		}
		changes := map[string]any{}
		if in.Name != nil {
			n, err := normalizeName(*in.Name, ud.Email)
			if err != nil {
				return nil, err
			}
			if n != ud.Name {
				changes["name"] = map[string]any{"from": ud.Name, "to": n}
				ud.Name = n
			}
		}
		if in.Locale != nil && *in.Locale != ud.Locale {
			changes["locale"] = map[string]any{"from": ud.Locale, "to": *in.Locale}
			ud.Locale = *in.Locale
		}
		if len(changes) == 0 {
			_, u, _, err := s.loadUser(ctx, p.UserID)
			return u, err
		}
		ud.UpdatedAt = s.clock()
		data, err := json.Marshal(ud)
		if err != nil {
			return nil, err
		}
		nd := &store.Doc{Kind: KindUser, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
		err = s.st.PutDoc(ctx, nd, store.Sides{Audit: s.audit(ud.UpdatedAt, p.UserID, p.IP, "user.update", KindUser, p.UserID, changes)})
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.cache.dropUser(p.UserID)
		_, u, _, err := s.loadUser(ctx, p.UserID)
		return u, err
	}
}
