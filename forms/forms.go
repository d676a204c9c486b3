package forms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// Store document kinds of forms. A form's document carries its slug as
// the document key while it is published, so the store itself refuses a
// slug taken by another form, on every node.
const (
	KindForm        = "form"
	kindFormHistory = "form_history"
)

// Forms keeps form metadata as versioned store documents.
type Forms struct {
	st    store.Store
	cat   *catalog.Catalog
	rec   *records.Service
	roles *access.Roles // nil: only admins design forms
	users *auth.Service // nil: an owner default is not checked for a user
	now   func() time.Time
	cache sync.Map // form id → *compiled, replaced when the version changes
}

// NewForms returns the form service. roles and users may be nil (a kernel
// without roles: only admins design; owners are not looked up).
func NewForms(st store.Store, cat *catalog.Catalog, rec *records.Service, roles *access.Roles, users *auth.Service) *Forms {
	return &Forms{st: st, cat: cat, rec: rec, roles: roles, users: users, now: time.Now}
}

// CanDesign reports whether p builds forms: admins, and the holders of a
// role with the design_forms permission.
func (s *Forms) CanDesign(ctx context.Context, p *identity.Principal) bool {
	if p.IsAdmin() {
		return true
	}
	return s.roles != nil && s.roles.Grants(ctx, p.Roles, access.DesignForms)
}

func (s *Forms) designer(ctx context.Context, p *identity.Principal) error {
	if !s.CanDesign(ctx, p) {
		return problem.New(http.StatusForbidden, "building forms needs the admin role or a role with the %s permission", access.DesignForms)
	}
	return nil
}

// Get returns a form by id.
func (s *Forms) Get(ctx context.Context, id string) (*Form, error) {
	d, err := s.st.GetDoc(ctx, KindForm, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("form %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	return formOf(d)
}

// BySlug returns the form published at slug.
func (s *Forms) BySlug(ctx context.Context, slug string) (*Form, error) {
	d, err := s.st.GetDocByKey(ctx, KindForm, slug)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("no form is published at %s", slug)
	}
	if err != nil {
		return nil, err
	}
	return formOf(d)
}

// List returns the forms, of one entity or of all, by entity and name.
func (s *Forms) List(ctx context.Context, entity string) ([]*Form, error) {
	docs, err := s.st.ListDocs(ctx, KindForm)
	if err != nil {
		return nil, err
	}
	out := []*Form{}
	for _, d := range docs {
		f, err := formOf(d)
		if err != nil {
			return nil, err
		}
		if entity == "" || f.Entity == entity {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Entity != out[j].Entity {
			return out[i].Entity < out[j].Entity
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// History returns every saved version of a form, oldest first.
func (s *Forms) History(ctx context.Context, p *identity.Principal, id string) ([]*Form, error) {
	if err := s.designer(ctx, p); err != nil {
		return nil, err
	}
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	docs, err := s.st.ListDocs(ctx, kindFormHistory)
	if err != nil {
		return nil, err
	}
	out := []*Form{}
	for _, d := range docs {
		if !strings.HasPrefix(d.ID, id+"@") {
			continue
		}
		var f Form
		if err := json.Unmarshal(d.Data, &f); err != nil {
			return nil, fmt.Errorf("forms: history %s: corrupt document: %w", d.ID, err)
		}
		out = append(out, &f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Save creates a form (in.ID empty) or replaces one; expected is the
// version the designer read (0: any). A published form stays published
// under its publication, which must still fit the changed form.
func (s *Forms) Save(ctx context.Context, p *identity.Principal, in *Form, expected int64) (*Form, error) {
	if err := s.designer(ctx, p); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	f := &Form{Name: in.Name, Entity: in.Entity, Label: in.Label, Description: in.Description, SubmitLabel: in.SubmitLabel,
		Sections: in.Sections, Version: 1, CreatedAt: now, UpdatedAt: now, CreatedBy: p.UserID, UpdatedBy: p.UserID}
	var old *Form
	if in.ID != "" {
		var err error
		if old, err = s.Get(ctx, in.ID); err != nil {
			return nil, err
		}
		if expected != 0 && expected != old.Version {
			return nil, problem.Conflict("form %s is at version %d, not %d; reload it", in.ID, old.Version, expected)
		}
		if f.Entity != old.Entity {
			return nil, problem.Invalid(problem.FieldError{Field: "entity", Code: "immutable",
				Message: fmt.Sprintf("this form is for %s records; make a new form for %s", old.Entity, f.Entity)})
		}
		f.ID, f.Version, f.CreatedAt, f.CreatedBy, f.Publish = old.ID, old.Version+1, old.CreatedAt, old.CreatedBy, old.Publish
	} else {
		f.ID = store.NewID()
	}
	if err := s.check(ctx, p, f, "publish."); err != nil {
		return nil, err
	}
	action := "meta.form.create"
	if old != nil {
		action = "meta.form.update"
	}
	return f, s.write(ctx, p, old, f, action)
}

// Publish makes a form a public page (or changes its publication).
func (s *Forms) Publish(ctx context.Context, p *identity.Principal, id string, pub *Publication, expected int64) (*Form, error) {
	if err := s.designer(ctx, p); err != nil {
		return nil, err
	}
	old, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if expected != 0 && expected != old.Version {
		return nil, problem.Conflict("form %s is at version %d, not %d; reload it", id, old.Version, expected)
	}
	f := *old
	pub.PublishedAt = s.now().UTC().Truncate(time.Millisecond)
	f.Publish = pub
	if err := s.check(ctx, p, &f, ""); err != nil {
		return nil, err
	}
	f.Version, f.UpdatedAt, f.UpdatedBy = old.Version+1, pub.PublishedAt, p.UserID
	return &f, s.write(ctx, p, old, &f, "meta.form.publish")
}

// Unpublish takes a form's public page down; its slug is free again.
func (s *Forms) Unpublish(ctx context.Context, p *identity.Principal, id string) (*Form, error) {
	if err := s.designer(ctx, p); err != nil {
		return nil, err
	}
	old, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if old.Publish == nil {
		return old, nil
	}
	f := *old
	f.Publish = nil
	f.Version, f.UpdatedAt, f.UpdatedBy = old.Version+1, s.now().UTC().Truncate(time.Millisecond), p.UserID
	return &f, s.write(ctx, p, old, &f, "meta.form.unpublish")
}

// Delete removes a form; its history stays.
func (s *Forms) Delete(ctx context.Context, p *identity.Principal, id string) error {
	if err := s.designer(ctx, p); err != nil {
		return err
	}
	f, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	err = s.st.DeleteDoc(ctx, KindForm, id, store.Sides{Audit: &store.AuditEntry{ID: store.NewID(), At: s.now().UTC(),
		Actor: p.UserID, IP: p.IP, Action: "meta.form.delete", Entity: f.Entity, RecordID: id}})
	if errors.Is(err, store.ErrNotFound) {
		return problem.NotFound("form %s not found", id)
	}
	s.cache.Delete(id)
	return err
}

// write stores a new version of a form with its audit entry and its
// history entry, in one unit of work.
func (s *Forms) write(ctx context.Context, p *identity.Principal, old, f *Form, action string) error {
	if err := s.uniqueName(ctx, f); err != nil {
		return err
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	changes := map[string]any{"after": json.RawMessage(data)}
	if old != nil {
		before, _ := json.Marshal(old)
		changes["before"] = json.RawMessage(before)
	}
	doc := &store.Doc{Kind: KindForm, ID: f.ID, Version: f.Version, Data: data}
	if f.Publish != nil {
		doc.Key = f.Publish.Slug
	}
	hist := &store.Doc{Kind: kindFormHistory, ID: fmt.Sprintf("%s@%010d", f.ID, f.Version), Version: 1, Data: data}
	err = s.st.Atomic(ctx, func(tx store.Tx) error {
		if err := tx.PutDoc(ctx, doc, store.Sides{Audit: &store.AuditEntry{ID: store.NewID(), At: f.UpdatedAt,
			Actor: p.UserID, IP: p.IP, Action: action, Entity: f.Entity, RecordID: f.ID, Changes: changes}}); err != nil {
			return err
		}
		return tx.PutDoc(ctx, hist, store.Sides{})
	})
	switch {
	case errors.Is(err, store.ErrExists) && f.Publish != nil && (old == nil || old.Publish == nil || old.Publish.Slug != f.Publish.Slug):
		return problem.Invalid(problem.FieldError{Field: "slug", Code: "taken",
			Message: fmt.Sprintf("another form is published at %q", f.Publish.Slug)})
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists):
		return problem.Conflict("form %s was changed by someone else; reload it", f.ID)
	}
	return err
}

// uniqueName refuses a second form of one entity with the same name. Two
// designers saving the same new name at once on two nodes could both
// pass; the slug, which reaches the public, is unique in the store.
func (s *Forms) uniqueName(ctx context.Context, f *Form) error {
	all, err := s.List(ctx, f.Entity)
	if err != nil {
		return err
	}
	for _, o := range all {
		if o.Name == f.Name && o.ID != f.ID {
			return problem.Invalid(problem.FieldError{Field: "name", Code: "taken",
				Message: fmt.Sprintf("%s already has a form called %q", f.Entity, f.Name)})
		}
	}
	return nil
}

func formOf(d *store.Doc) (*Form, error) {
	var f Form
	if err := json.Unmarshal(d.Data, &f); err != nil {
		return nil, fmt.Errorf("forms: form %s: corrupt document: %w", d.ID, err)
	}
	f.ID, f.Version = d.ID, d.Version
	return &f, nil
}
