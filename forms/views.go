package forms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// KindView is the store document kind of saved views.
const KindView = "view"

// View is a saved way to look at an entity's records: a list with its
// columns, order and filter, or a kanban board on a select field. It is
// its owner's, and shown also to the roles it is shared with.
type View struct {
	ID         string        `json:"id"`
	Entity     string        `json:"entity"`
	Name       metadata.Text `json:"name"`
	Kind       string        `json:"kind"` // list or kanban
	Columns    []string      `json:"columns,omitempty"`
	Sort       string        `json:"sort,omitempty"`
	Filter     string        `json:"filter,omitempty"`
	GroupBy    string        `json:"group_by,omitempty"` // kanban: the select field of the columns
	SharedWith *Sharing      `json:"shared_with,omitempty"`
	Owner      string        `json:"owner"`
	Version    int64         `json:"version"`
	CreatedAt  time.Time     `json:"created_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
}

// Sharing names who besides the owner sees a view.
type Sharing struct {
	Roles []string `json:"roles"`
}

// Views keeps saved views as store documents.
type Views struct {
	st  store.Store
	cat *catalog.Catalog
	rec *records.Service
	now func() time.Time
}

// NewViews returns the saved-view service.
func NewViews(st store.Store, cat *catalog.Catalog, rec *records.Service) *Views {
	return &Views{st: st, cat: cat, rec: rec, now: time.Now}
}

// visible reports whether p sees v: their own, or shared with a role of
// theirs; admins see every view.
func visible(p *identity.Principal, v *View) bool {
	if v.Owner == p.UserID || p.IsAdmin() {
		return true
	}
	if v.SharedWith == nil {
		return false
	}
	for _, r := range v.SharedWith.Roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// List returns the views p sees, of one entity or of all.
func (s *Views) List(ctx context.Context, p *identity.Principal, entity string) ([]*View, error) {
	docs, err := s.st.ListDocs(ctx, KindView)
	if err != nil {
		return nil, err
	}
	out := []*View{}
	for _, d := range docs {
		v, err := viewOf(d)
		if err != nil {
			return nil, err
		}
		if (entity == "" || v.Entity == entity) && visible(p, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// Get returns one view p sees; others are not found.
func (s *Views) Get(ctx context.Context, p *identity.Principal, id string) (*View, error) {
	d, err := s.st.GetDoc(ctx, KindView, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("view %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	v, err := viewOf(d)
	if err != nil {
		return nil, err
	}
	if !visible(p, v) {
		return nil, problem.NotFound("view %s not found", id)
	}
	return v, nil
}

// Save creates a view (in.ID empty) or replaces one p owns or, as an
// admin, any; expected is the version p read (0: any).
func (s *Views) Save(ctx context.Context, p *identity.Principal, in *View, expected int64) (*View, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	v := &View{Entity: in.Entity, Name: in.Name, Kind: in.Kind, Columns: in.Columns, Sort: in.Sort, Filter: in.Filter,
		GroupBy: in.GroupBy, SharedWith: in.SharedWith, Owner: p.UserID, Version: 1, CreatedAt: now, UpdatedAt: now}
	action := "meta.view.create"
	var old *View
	if in.ID != "" {
		var err error
		if old, err = s.Get(ctx, p, in.ID); err != nil {
			return nil, err
		}
		if old.Owner != p.UserID && !p.IsAdmin() {
			return nil, problem.New(http.StatusForbidden, "only the view's owner or an admin may change it")
		}
		if expected != 0 && expected != old.Version {
			return nil, problem.Conflict("view %s is at version %d, not %d; reload it", in.ID, old.Version, expected)
		}
		v.ID, v.Owner, v.CreatedAt, v.Version = old.ID, old.Owner, old.CreatedAt, old.Version+1
		action = "meta.view.update"
	} else {
		v.ID = store.NewID()
	}
	if err := s.check(ctx, p, v); err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	changes := map[string]any{"after": json.RawMessage(data)}
	if old != nil {
		before, _ := json.Marshal(old)
		changes["before"] = json.RawMessage(before)
	}
	err = s.st.PutDoc(ctx, &store.Doc{Kind: KindView, ID: v.ID, Version: v.Version, Data: data}, store.Sides{
		Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: p.UserID, IP: p.IP, Action: action, Entity: v.Entity, RecordID: v.ID, Changes: changes}})
	if errors.Is(err, store.ErrConflict) {
		return nil, problem.Conflict("view %s was changed by someone else; reload it", v.ID)
	}
	return v, err
}

// Delete removes a view p owns (or, as an admin, any).
func (s *Views) Delete(ctx context.Context, p *identity.Principal, id string) error {
	v, err := s.Get(ctx, p, id)
	if err != nil {
		return err
	}
	if v.Owner != p.UserID && !p.IsAdmin() {
		return problem.New(http.StatusForbidden, "only the view's owner or an admin may delete it")
	}
	return s.st.DeleteDoc(ctx, KindView, id, store.Sides{Audit: &store.AuditEntry{ID: store.NewID(), At: s.now().UTC(),
		Actor: p.UserID, IP: p.IP, Action: "meta.view.delete", Entity: v.Entity, RecordID: id}})
}

// check validates a view against its entity as p sees it: a view names
// only fields p may see, its filter compiles for p, a board groups by a
// select field, and a view is shared only with roles p holds (admins:
// any role).
func (s *Views) check(ctx context.Context, p *identity.Principal, v *View) error {
	var errs []problem.FieldError
	add := func(field, code, format string, args ...any) {
		errs = append(errs, problem.FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	e, err := s.cat.Get(v.Entity)
	if err != nil || !s.rec.Permits(ctx, p, e, records.OpRead) {
		add("entity", "unknown_entity", "no entity %q that you may read", v.Entity)
		return problem.Invalid(errs...)
	}
	if v.Name.IsZero() {
		add("name", "required", "a view needs a name")
	}
	for _, t := range v.Name {
		if len([]rune(t)) > 100 {
			add("name", "max_length", "a view's name is at most 100 characters")
			break
		}
	}
	seen := func(name string) bool {
		if _, ok := e.KindOf(name); !ok {
			return false
		}
		hidden, _ := s.rec.FieldAccess(p, e, name)
		return !hidden
	}
	if len(v.Columns) > 50 {
		add("columns", "max_items", "a view shows at most 50 columns")
	}
	for i, c := range v.Columns {
		if !seen(c) {
			add(fmt.Sprintf("columns.%d", i), "unknown_field", "%s has no field %q", e.Name, c)
		}
	}
	for _, k := range strings.Split(v.Sort, ",") {
		k = strings.TrimPrefix(strings.TrimSpace(k), "-")
		if k != "" && !seen(k) {
			add("sort", "unknown_field", "cannot sort by %q: %s has no such field", k, e.Name)
		}
	}
	if len(v.Filter) > 8000 {
		add("filter", "max_length", "a view's filter is at most 8,000 characters")
	} else if err := s.rec.CheckFilter(ctx, p, e.Name, v.Filter); err != nil {
		fe := problem.FieldError{Field: "filter", Code: "invalid_filter", Message: err.Error()}
		var pe *problem.Error
		if errors.As(err, &pe) && len(pe.Errors) > 0 {
			fe = pe.Errors[0]
			fe.Field = "filter"
		}
		errs = append(errs, fe)
	}
	switch v.Kind {
	case "list":
		if v.GroupBy != "" {
			add("group_by", "unsupported", "only a kanban view groups by a field")
		}
	case "kanban":
		if f := e.Field(v.GroupBy); f == nil || !seen(v.GroupBy) || f.Type != "select" {
			add("group_by", "type", "a kanban view groups by a select field of %s", e.Name)
		}
	default:
		add("kind", "enum", "a view is a list or a kanban")
	}
	if v.SharedWith != nil {
		for i, r := range v.SharedWith.Roles {
			if !p.IsAdmin() && !slices.Contains(p.Roles, r) {
				add(fmt.Sprintf("shared_with.roles.%d", i), "forbidden", "you may share a view only with roles you hold")
			}
		}
		if len(v.SharedWith.Roles) == 0 {
			v.SharedWith = nil
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}

func viewOf(d *store.Doc) (*View, error) {
	var v View
	if err := json.Unmarshal(d.Data, &v); err != nil {
		return nil, fmt.Errorf("forms: view %s: corrupt document: %w", d.ID, err)
	}
	v.ID, v.Version = d.ID, d.Version
	return &v, nil
}
