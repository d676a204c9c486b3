package activity

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// Item is one entry of a record's timeline: an activity hanging on it, or
// one of its audited changes.
type Item struct {
	Kind    string         `json:"kind"` // note, task, activity, or change
	ID      string         `json:"id"`
	At      time.Time      `json:"at"`
	Actor   string         `json:"actor,omitempty"`
	Record  map[string]any `json:"record,omitempty"`  // an activity
	Action  string         `json:"action,omitempty"`  // a change: record.create, record.update, …
	Changes map[string]any `json:"changes,omitempty"` // a change: field → {from, to}
}

// MaxTimeline bounds a timeline page.
const MaxTimeline = 100

// Timeline is one page, newest first, of what happened to a record p may
// read: the activities hanging on it and its audited changes (fields
// hidden from p left out), merged by time. Entries older than before (an
// entry id: ids are UUIDv7, so they sort by time on both sources) page on;
// next is the before of the following page, or "".
func (s *Service) Timeline(ctx context.Context, p *identity.Principal, entity, id, before string, limit int) (items []Item, next string, err error) {
	if limit <= 0 || limit > MaxTimeline {
		limit = 50
	}
	if before != "" && !validID(before) {
		return nil, "", problem.BadRequest("before", "invalid", "before is the id of a timeline entry")
	}
	if err := s.recs.Check(ctx, p, entity, id, records.OpRead); err != nil {
		return nil, "", err
	}
	e, err := s.cat.Get(entity)
	if err != nil {
		return nil, "", err
	}
	for _, kind := range Kinds {
		if _, err := s.kind(kind); err != nil {
			continue // an admin's entity of that name, without parents
		}
		filter := fmt.Sprintf("%s == %q and %s == %q", ParentEntity, entity, ParentID, id)
		if before != "" {
			filter += fmt.Sprintf(" and id < %q", before)
		}
		res, _, err := s.acts.List(ctx, p, kind, records.ListParams{Filter: filter, Sort: "-id", Limit: limit})
		if err != nil {
			return nil, "", err
		}
		for _, r := range res.Items {
			items = append(items, Item{Kind: kind, ID: r.ID, At: r.CreatedAt, Actor: r.CreatedBy, Record: s.Render(p, kind, r)})
		}
	}
	audit, err := s.st.ListAudit(ctx, store.AuditQuery{Entity: entity, RecordID: id, Before: before, Limit: limit})
	if err != nil {
		return nil, "", err
	}
	for _, a := range audit {
		if !strings.HasPrefix(a.Action, "record.") {
			continue
		}
		changes := make(map[string]any, len(a.Changes))
		for f, c := range a.Changes {
			if hidden, _ := s.recs.FieldAccess(p, e, f); !hidden {
				changes[f] = c
			}
		}
		items = append(items, Item{Kind: "change", ID: a.ID, At: a.At, Actor: a.Actor, Action: a.Action, Changes: changes})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID > items[j].ID })
	// Each source gave at most limit entries newer than before; past the
	// limit-th of the merge, one may hold more that are newer than what
	// another still has, so the page ends there.
	if len(items) > limit {
		items = items[:limit]
	}
	if len(items) == limit {
		next = items[len(items)-1].ID
	}
	return items, next, nil
}

func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range id {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f'):
			return false
		}
	}
	return true
}
