package forms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
)

// kindChoice holds, per entity, the forms the app opens by default.
const kindChoice = "form_choice"

// Choice is which form the app uses for an entity's "new" dialog and for
// its record page ("" for either: the app's own layout of every field).
type Choice struct {
	New     string `json:"new"`
	Record  string `json:"record"`
	Version int64  `json:"version"`
}

// Choice returns an entity's chosen forms.
func (s *Forms) Choice(ctx context.Context, entity string) (*Choice, error) {
	d, err := s.st.GetDoc(ctx, kindChoice, entity)
	if errors.Is(err, store.ErrNotFound) {
		return &Choice{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c Choice
	if err := json.Unmarshal(d.Data, &c); err != nil {
		return nil, fmt.Errorf("forms: choice of %s: corrupt document: %w", entity, err)
	}
	c.Version = d.Version
	// A chosen form deleted since reads as none.
	for _, id := range []*string{&c.New, &c.Record} {
		if *id != "" {
			if _, err := s.Get(ctx, *id); err != nil {
				*id = ""
			}
		}
	}
	return &c, nil
}

// Choose sets an entity's chosen forms; each must be a form of it.
func (s *Forms) Choose(ctx context.Context, p *identity.Principal, entity string, in Choice) (*Choice, error) {
	if err := s.designer(ctx, p); err != nil {
		return nil, err
	}
	if _, err := s.cat.Get(entity); err != nil {
		return nil, err
	}
	var errs []problem.FieldError
	for field, id := range map[string]string{"new": in.New, "record": in.Record} {
		if id == "" {
			continue
		}
		if f, err := s.Get(ctx, id); err != nil || f.Entity != entity {
			errs = append(errs, problem.FieldError{Field: field, Code: "unknown_form", Message: fmt.Sprintf("%s has no form %q", entity, id)})
		}
	}
	if len(errs) > 0 {
		return nil, problem.Invalid(errs...)
	}
	version := int64(0)
	if d, err := s.st.GetDoc(ctx, kindChoice, entity); err == nil {
		version = d.Version
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	data, _ := json.Marshal(Choice{New: in.New, Record: in.Record})
	err := s.st.PutDoc(ctx, &store.Doc{Kind: kindChoice, ID: entity, Version: version + 1, Data: data}, store.Sides{
		Audit: &store.AuditEntry{ID: store.NewID(), At: time.Now().UTC(), Actor: p.UserID, IP: p.IP, Action: "meta.form.choose",
			Entity: entity, Changes: map[string]any{"after": json.RawMessage(data)}}})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
		return nil, problem.Conflict("the forms of %s were chosen by someone else at the same time; reload", entity)
	}
	if err != nil {
		return nil, err
	}
	return &Choice{New: in.New, Record: in.Record, Version: version + 1}, nil
}
