package auth

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
)

type cacheEntry struct {
	p     identity.Principal
	until time.Time
}

// tokenCache maps token hashes to principals for a few seconds. gen counts
// invalidations: a lookup that started before one must not fill the cache
// with what it read.
type tokenCache struct {
	mu  sync.Mutex
	m   map[string]cacheEntry
	gen uint64
}

func (c *tokenCache) get(key string, now time.Time) (*identity.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.m, key)
		return nil, false
	}
	return clonePrincipal(e.p), true
}

func (c *tokenCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *tokenCache) put(key string, p identity.Principal, now, until time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= maxCacheSize {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxCacheSize {
			clear(c.m)
		}
	}
	c.m[key] = cacheEntry{p: p, until: until}
}

func (c *tokenCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, key)
}

func (c *tokenCache) dropUser(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.m {
		if e.p.UserID == id {
			delete(c.m, k)
		}
	}
}

func clonePrincipal(p identity.Principal) *identity.Principal {
	p.Roles = slices.Clone(p.Roles)
	p.Teams = slices.Clone(p.Teams)
	p.Attributes = maps.Clone(p.Attributes)
	return &p
}
