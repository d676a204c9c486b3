package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/identity"
)

// userCache builds the principal a rule runs as from its user, kept a few
// seconds: a run does not read the user document each time, and a
// deactivated user stops running rules within that time.
type userCache struct {
	s  *Service
	mu sync.Mutex
	m  map[string]userEntry
}

type userEntry struct {
	p    *identity.Principal
	err  error
	till time.Time
}

const userTTL = 5 * time.Second

// principal is the principal of user id as a workflow acts: their roles
// and teams, no session; an unknown or deactivated user is an error.
func (c *userCache) principal(ctx context.Context, id string) (*identity.Principal, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Before(e.till) {
		if e.err != nil {
			return nil, e.err
		}
		cp := *e.p
		return &cp, nil
	}
	p, err := c.load(ctx, id)
	c.mu.Lock()
	if len(c.m) > 10000 {
		c.m = map[string]userEntry{}
	}
	c.m[id] = userEntry{p: p, err: err, till: now.Add(userTTL)}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	cp := *p
	return &cp, nil
}

func (c *userCache) load(ctx context.Context, id string) (*identity.Principal, error) {
	if c.s.auth == nil {
		return nil, errors.New("no user directory")
	}
	u, err := c.s.auth.GetUser(ctx, id)
	if errors.Is(err, auth.ErrNotFound) {
		return nil, fmt.Errorf("there is no user %q to run the rule as", id)
	}
	if err != nil {
		return nil, err
	}
	if !u.Active {
		return nil, fmt.Errorf("user %s (%s) is deactivated and cannot run rules", u.Name, u.Email)
	}
	p := &identity.Principal{UserID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, Teams: u.Teams,
		Attributes: u.Attributes, TokenKind: "workflow"}
	if c.s.access != nil {
		p.Admin = c.s.access.Roles.AdminRoles(u.Roles)
		if c.s.access.Dir != nil {
			c.s.access.Dir.Enrich(ctx, p)
		}
	}
	return p, nil
}
