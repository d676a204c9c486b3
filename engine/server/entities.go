package server

import (
	"context"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/metadata"
)

// The entities as one person may use them: what the app builds its
// navigation, lists, forms and record pages from. Admins edit the full
// definitions under /meta/entities; everyone reads these.

type entityPermissions struct {
	Create bool `json:"create"`
	Read   bool `json:"read"`
	Update bool `json:"update"`
	Delete bool `json:"delete"`
	// AssignOwner: p may set and change the records' owner.
	AssignOwner bool `json:"assign_owner"`
}

type entitySummary struct {
	Name        string            `json:"name"`
	Label       metadata.Text     `json:"label,omitempty"`
	LabelPlural metadata.Text     `json:"label_plural,omitempty"`
	Icon        string            `json:"icon,omitempty"`
	Color       string            `json:"color,omitempty"`
	TitleField  string            `json:"title_field,omitempty"`
	Ownership   bool              `json:"ownership"`
	Permissions entityPermissions `json:"permissions"`
}

type fieldView struct {
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Label     metadata.Text     `json:"label,omitempty"`
	HelpText  metadata.Text     `json:"help_text,omitempty"`
	Section   string            `json:"section,omitempty"`
	Required  bool              `json:"required,omitempty"`
	ReadOnly  bool              `json:"read_only,omitempty"` // for this caller, or written only by the engine
	Options   []metadata.Option `json:"options,omitempty"`
	Target    string            `json:"target,omitempty"`
	Format    string            `json:"format,omitempty"`
	Min       *float64          `json:"min,omitempty"`
	Max       *float64          `json:"max,omitempty"`
	MaxLength int               `json:"max_length,omitempty"`
	Currency  string            `json:"currency,omitempty"`
	Region    string            `json:"region,omitempty"`
	Indexed   bool              `json:"indexed,omitempty"`
	Unique    bool              `json:"unique,omitempty"`
}

type relatedList struct {
	Entity string `json:"entity"`
	Field  string `json:"field"`
}

type entityView struct {
	entitySummary
	Fields  []fieldView   `json:"fields"`
	Related []relatedList `json:"related"`
}

// permissions reports what p may do with e's records; ok is false when p
// may neither read nor create them.
func (s *Server) permissions(ctx context.Context, p *identity.Principal, e *catalog.Entity) (entityPermissions, bool) {
	perm := entityPermissions{
		Create: s.Records.Permits(ctx, p, e, records.OpCreate),
		Read:   s.Records.Permits(ctx, p, e, records.OpRead),
		Update: s.Records.Permits(ctx, p, e, records.OpUpdate),
		Delete: s.Records.Permits(ctx, p, e, records.OpDelete),
	}
	perm.AssignOwner = (perm.Create || perm.Update) && s.Records.CanAssignOwner(p, e)
	return perm, perm.Read || perm.Create
}

func summarize(e *catalog.Entity, perm entityPermissions) entitySummary {
	return entitySummary{Name: e.Name, Label: e.Label, LabelPlural: e.LabelPlural, Icon: e.Icon, Color: e.Color,
		TitleField: e.TitleFieldOf(), Ownership: e.Ownership, Permissions: perm}
}

// listMyEntities: GET /api/v1/entities.
func (s *Server) listMyEntities(c *fiber.Ctx) error {
	p := principal(c)
	items := []entitySummary{}
	for _, e := range s.Catalog.List() {
		if perm, ok := s.permissions(c.UserContext(), p, e); ok {
			items = append(items, summarize(e, perm))
		}
	}
	return c.JSON(fiber.Map{"items": items})
}

// getMyEntity: GET /api/v1/entities/{entity}: the fields p may see, and the
// lookups of other entities p can read that point here (the record page's
// related lists).
func (s *Server) getMyEntity(c *fiber.Ctx) error {
	ctx, p := c.UserContext(), principal(c)
	e, err := s.Catalog.Get(c.Params("entity"))
	if err != nil {
		return err
	}
	perm, ok := s.permissions(ctx, p, e)
	if !ok {
		return problem.New(http.StatusForbidden, "you may not use %s records", e.Name)
	}
	v := entityView{entitySummary: summarize(e, perm), Fields: []fieldView{}, Related: []relatedList{}}
	for _, f := range e.LiveFields() {
		hidden, ro := s.Records.FieldAccess(p, e, f.Name)
		if hidden {
			continue
		}
		v.Fields = append(v.Fields, fieldView{Name: f.Name, Type: f.Type, Label: f.Label, HelpText: f.HelpText,
			Section: f.Section, Required: f.Required, ReadOnly: ro || metadata.IsReadOnly(f), Options: f.Options,
			Target: f.Target, Format: f.Format, Min: f.Min, Max: f.Max, MaxLength: f.MaxLength, Currency: f.Currency,
			Region: f.Region, Indexed: f.Indexed, Unique: f.Unique})
	}
	for _, other := range s.Catalog.List() {
		if !s.Records.Permits(ctx, p, other, records.OpRead) {
			continue
		}
		for _, f := range other.LiveFields() {
			if f.Type != "lookup" || f.Target != e.Name {
				continue
			}
			if hidden, _ := s.Records.FieldAccess(p, other, f.Name); !hidden {
				v.Related = append(v.Related, relatedList{Entity: other.Name, Field: f.Name})
			}
		}
	}
	return c.JSON(v)
}

// search: GET /api/v1/search?q=acme&limit=20.
func (s *Server) search(c *fiber.Ctx) error {
	hits, err := s.Records.Search(c.UserContext(), principal(c), c.Query("q"), c.QueryInt("limit", 20))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": hits})
}
