package dashboards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// Service keeps dashboards as versioned store documents (each change
// audited with the document before and after, as saved views are) and
// answers their widgets' data.
type Service struct {
	st      store.Store
	cat     *catalog.Catalog
	rec     *records.Service
	now     func() time.Time
	flights singleflight.Group // board warm-ups in progress (warm)
}

// New returns the dashboards service.
func New(st store.Store, cat *catalog.Catalog, rec *records.Service) *Service {
	return &Service{st: st, cat: cat, rec: rec, now: time.Now}
}

// visible reports whether p sees d: their own, shared with everyone or
// with a role of theirs; admins see every dashboard.
func visible(p *identity.Principal, d *Dashboard) bool {
	if d.Owner == p.UserID || p.IsAdmin() || d.Sharing.Everyone {
		return true
	}
	for _, r := range d.Sharing.Roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// List returns the dashboards p sees.
func (s *Service) List(ctx context.Context, p *identity.Principal) ([]*Dashboard, error) {
	docs, err := s.st.ListDocs(ctx, KindDashboard)
	if err != nil {
		return nil, err
	}
	out := []*Dashboard{}
	for _, d := range docs {
		b, err := dashboardOf(d)
		if err != nil {
			return nil, err
		}
		if visible(p, b) {
			out = append(out, b)
		}
	}
	return out, nil
}

// Get returns one dashboard p sees; others are not found.
func (s *Service) Get(ctx context.Context, p *identity.Principal, id string) (*Dashboard, error) {
	d, err := s.st.GetDoc(ctx, KindDashboard, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("dashboard %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	b, err := dashboardOf(d)
	if err != nil {
		return nil, err
	}
	if !visible(p, b) {
		return nil, problem.NotFound("dashboard %s not found", id)
	}
	return b, nil
}

// Save creates a dashboard (in.ID empty) or replaces one p owns or, as an
// admin, any; expected is the version p read (0: any). The document was
// validated against the schema by the caller; Save checks every widget
// against its entity as p sees it.
func (s *Service) Save(ctx context.Context, p *identity.Principal, in *Dashboard, expected int64) (*Dashboard, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	d := *in
	d.Owner, d.Version, d.CreatedAt, d.UpdatedAt = p.UserID, 1, now, now
	action := "meta.dashboard.create"
	var old *Dashboard
	if in.ID != "" {
		var err error
		if old, err = s.Get(ctx, p, in.ID); err != nil {
			return nil, err
		}
		if old.Owner != p.UserID && !p.IsAdmin() {
			return nil, problem.New(http.StatusForbidden, "only the dashboard's owner or an admin may change it")
		}
		if expected != 0 && expected != old.Version {
			return nil, problem.Conflict("dashboard %s is at version %d, not %d; reload it", in.ID, old.Version, expected)
		}
		d.ID, d.Owner, d.CreatedAt, d.Version = old.ID, old.Owner, old.CreatedAt, old.Version+1
		action = "meta.dashboard.update"
	} else {
		d.ID = store.NewID()
	}
	if err := s.check(ctx, p, &d); err != nil {
		return nil, err
	}
	data, err := json.Marshal(&d)
	if err != nil {
		return nil, err
	}
	changes := map[string]any{"after": json.RawMessage(data)}
	if old != nil {
		before, _ := json.Marshal(old)
		changes["before"] = json.RawMessage(before)
	}
	err = s.st.PutDoc(ctx, &store.Doc{Kind: KindDashboard, ID: d.ID, Version: d.Version, Data: data}, store.Sides{
		Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: p.UserID, IP: p.IP, Action: action, Entity: KindDashboard, RecordID: d.ID, Changes: changes}})
	if errors.Is(err, store.ErrConflict) {
		return nil, problem.Conflict("dashboard %s was changed by someone else; reload it", d.ID)
	}
	return &d, err
}

// Delete removes a dashboard p owns (or, as an admin, any).
func (s *Service) Delete(ctx context.Context, p *identity.Principal, id string) error {
	d, err := s.Get(ctx, p, id)
	if err != nil {
		return err
	}
	if d.Owner != p.UserID && !p.IsAdmin() {
		return problem.New(http.StatusForbidden, "only the dashboard's owner or an admin may delete it")
	}
	return s.st.DeleteDoc(ctx, KindDashboard, id, store.Sides{Audit: &store.AuditEntry{ID: store.NewID(), At: s.now().UTC(),
		Actor: p.UserID, IP: p.IP, Action: "meta.dashboard.delete", Entity: KindDashboard, RecordID: id}})
}

func dashboardOf(d *store.Doc) (*Dashboard, error) {
	var b Dashboard
	if err := json.Unmarshal(d.Data, &b); err != nil {
		return nil, fmt.Errorf("dashboards: %s: corrupt document: %w", d.ID, err)
	}
	b.ID, b.Version = d.ID, d.Version
	return &b, nil
}
