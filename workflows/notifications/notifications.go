// Package notifications is the in-app inbox: messages a workflow leaves
// for a user (the bell in the app), listed newest first and marked read
// by their user. They are kept in a table of their own
// (sys_wf_notification) beside the entities, outside the catalog: they
// are no one's records to list, filter or export.
package notifications

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Entity is the table notifications are kept in.
const Entity = metadata.SystemEntityPrefix + "wf_notification"

// Definition is the table's layout: the recipient is the record's owner
// (a system column every store indexes).
func Definition() *metadata.Entity {
	return &metadata.Entity{Name: Entity, Ownership: true, Fields: []*metadata.Field{
		{Name: "title", Type: "text"},
		{Name: "body", Type: "long_text"},
		{Name: "entity", Type: "text"},
		{Name: "record_id", Type: "text"},
		{Name: "workflow", Type: "text"},
		{Name: "run", Type: "text"},
		{Name: "read", Type: "boolean"},
		{Name: "read_at", Type: "datetime"},
	}, Indexes: []*metadata.Index{{Fields: []string{"read", "owner"}}}}
}

// Notification is one message to one user.
type Notification struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Title     string    `json:"title"`
	Body      string    `json:"body,omitempty"`
	Entity    string    `json:"entity,omitempty"`
	RecordID  string    `json:"record_id,omitempty"`
	Workflow  string    `json:"workflow,omitempty"`
	Run       string    `json:"run,omitempty"`
	Read      bool      `json:"read"`
	ReadAt    *string   `json:"read_at,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	version   int64
}

// Store keeps notifications.
type Store struct {
	st  store.Store
	now func() time.Time
}

// New returns the inbox over st; Ensure creates its table.
func New(st store.Store) *Store { return &Store{st: st, now: time.Now} }

// Ensure creates the table and its indexes.
func (s *Store) Ensure(ctx context.Context) error { return s.st.EnsureEntity(ctx, Definition()) }

// Add writes n with w (a store, or a unit of work that also marks the
// step that sent it).
func (s *Store) Add(ctx context.Context, w store.Writes, n *Notification) error {
	now := s.now().UTC().Truncate(time.Millisecond)
	if n.ID == "" {
		n.ID = store.NewID()
	}
	n.CreatedAt = now
	r := &store.Record{ID: n.ID, Version: 1, CreatedAt: now, UpdatedAt: now, Owner: n.User, Data: map[string]any{
		"title": n.Title, "read": false,
	}}
	for k, v := range map[string]string{"body": n.Body, "entity": n.Entity, "record_id": n.RecordID, "workflow": n.Workflow, "run": n.Run} {
		if v != "" {
			r.Data[k] = v
		}
	}
	return w.Insert(ctx, Entity, r, store.Sides{})
}

func fromRecord(r *store.Record) *Notification {
	str := func(k string) string { s, _ := r.Data[k].(string); return s }
	n := &Notification{ID: r.ID, User: r.Owner, Title: str("title"), Body: str("body"), Entity: str("entity"),
		RecordID: str("record_id"), Workflow: str("workflow"), Run: str("run"), CreatedAt: r.CreatedAt, version: r.Version}
	n.Read, _ = r.Data["read"].(bool)
	if at := str("read_at"); at != "" {
		n.ReadAt = &at
	}
	return n
}

func mine(user string) *store.Cond {
	return &store.Cond{Op: store.OpEq, Field: "owner", Kind: metadata.KindString, Value: user}
}

var unread = &store.Cond{Op: store.OpEq, Field: "read", Kind: metadata.KindBoolean, Value: false}

// Page is one page of a user's notifications.
type Page struct {
	Items      []*Notification `json:"items"`
	Unread     int64           `json:"unread"`
	NextCursor string          `json:"next_cursor,omitempty"`
}

// MaxUnreadCount caps the unread count shown on the bell ("99+").
const MaxUnreadCount = 100

// List returns a user's notifications, newest first; onlyUnread leaves
// read ones out; after is the next_cursor of the previous page.
func (s *Store) List(ctx context.Context, user string, onlyUnread bool, after string, limit int) (*Page, error) {
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	f := mine(user)
	if onlyUnread {
		f = store.And(f, unread)
	}
	page := f
	if after != "" {
		page = store.And(f, &store.Cond{Op: store.OpLt, Field: "id", Kind: metadata.KindString, Value: after})
	}
	rs, err := s.st.Find(ctx, Entity, store.Query{Filter: page, Sort: []store.SortKey{{Field: "id", Desc: true}}, Limit: limit + 1})
	if err != nil {
		return nil, err
	}
	out := &Page{Items: []*Notification{}}
	for i, r := range rs {
		if i == limit {
			out.NextCursor = rs[i-1].ID
			break
		}
		out.Items = append(out.Items, fromRecord(r))
	}
	if out.Unread, _, err = s.st.Count(ctx, Entity, store.And(mine(user), unread), MaxUnreadCount); err != nil {
		return nil, err
	}
	return out, nil
}

// ErrNotFound is a notification that is not the user's (or not there).
var ErrNotFound = errors.New("notification not found")

// MarkRead marks one of the user's notifications read; marking one read
// twice changes nothing.
func (s *Store) MarkRead(ctx context.Context, user, id string) (*Notification, error) {
	for attempt := 0; attempt < 5; attempt++ {
		r, err := s.st.Get(ctx, Entity, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && r.Owner != user {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if read, _ := r.Data["read"].(bool); read {
			return fromRecord(r), nil
		}
		now := s.now().UTC().Truncate(time.Millisecond)
		r.Data["read"], r.Data["read_at"] = true, metadata.FormatDateTime(now)
		r.Version++
		r.UpdatedAt = now
		err = s.st.Update(ctx, Entity, r, store.Sides{})
		if errors.Is(err, store.ErrConflict) {
			continue // read at the same moment elsewhere: look again
		}
		if err != nil {
			return nil, err
		}
		return fromRecord(r), nil
	}
	return nil, fmt.Errorf("notifications: %s kept changing", id)
}

// MarkAllRead marks every unread notification of the user read, a page at
// a time, and reports how many it marked.
func (s *Store) MarkAllRead(ctx context.Context, user string) (int, error) {
	n := 0
	for {
		rs, err := s.st.Find(ctx, Entity, store.Query{Filter: store.And(mine(user), unread), Sort: []store.SortKey{{Field: "id"}}, Limit: 200})
		if err != nil {
			return n, err
		}
		if len(rs) == 0 {
			return n, nil
		}
		for _, r := range rs {
			if _, err := s.MarkRead(ctx, user, r.ID); err != nil && !errors.Is(err, ErrNotFound) {
				return n, err
			}
			n++
		}
	}
}
