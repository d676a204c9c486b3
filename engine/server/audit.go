package server

import (
	"context"
	"sync"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

// refusals keeps floods of bad credentials from becoming floods of audit
// writes: one entry per action and address per minute, the rest counted
// into the next entry.
type refusals struct {
	mu   sync.Mutex
	last map[string]*refusal
}

type refusal struct {
	at     time.Time
	missed int
}

const refusalEvery = time.Minute

// auditRefusal appends an audit entry for a refused request (a forged or
// expired token, a throttled sign-in, a rejected role document): every
// one made by a signed-in user, anonymous ones at most once a minute per
// action and address.
func (s *Server) auditRefusal(ctx context.Context, actor, ip, action string, details map[string]any) {
	now := time.Now()
	// A signed-in user's refusal (an admin's rejected role) is no anonymous
	// flood: every one is kept.
	if actor != "" {
		s.appendRefusal(ctx, actor, ip, action, now, details)
		return
	}
	key := action + "\x00" + ip
	s.refused.mu.Lock()
	if s.refused.last == nil {
		s.refused.last = map[string]*refusal{}
	}
	r := s.refused.last[key]
	if r != nil && now.Sub(r.at) < refusalEvery {
		r.missed++
		s.refused.mu.Unlock()
		return
	}
	missed := 0
	if r != nil {
		missed = r.missed
	}
	s.refused.last[key] = &refusal{at: now}
	if len(s.refused.last) > 10000 {
		for k, v := range s.refused.last {
			if now.Sub(v.at) > refusalEvery {
				delete(s.refused.last, k)
			}
		}
	}
	s.refused.mu.Unlock()
	if details == nil {
		details = map[string]any{}
	}
	if missed > 0 {
		details["also_refused_since_last_entry"] = missed
	}
	s.appendRefusal(ctx, actor, ip, action, now, details)
}

func (s *Server) appendRefusal(ctx context.Context, actor, ip, action string, now time.Time, details map[string]any) {
	err := s.Store.AppendAudit(ctx, &store.AuditEntry{ID: store.NewID(), At: now.UTC(),
		Actor: actor, IP: ip, Action: action, Changes: details})
	if err != nil {
		s.Log.Warn("audit of a refusal", "action", action, "err", err)
	}
}
