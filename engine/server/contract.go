package server

import (
	"context"
	"maps"
	"slices"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/records"
)

// contract is an entity's JSON Schema as one caller sees it: the fields
// hidden from them are gone, as they are from every record they read, and
// fields read-only for them say readOnly. ok is false when the caller may
// do nothing with the entity. Admins get the whole schema.
func (s *Server) contract(ctx context.Context, p *identity.Principal, e *catalog.Entity) (schema map[string]any, ok bool) {
	if p.IsAdmin() {
		return e.Schema, true
	}
	if !s.Records.Permits(ctx, p, e, records.OpRead) && !s.Records.Permits(ctx, p, e, records.OpCreate) {
		return nil, false
	}
	out := maps.Clone(e.Schema)
	props, _ := e.Schema["properties"].(map[string]any)
	visible := make(map[string]any, len(props))
	for name, v := range props {
		hidden, ro := s.Records.FieldAccess(p, e, name)
		if hidden {
			continue
		}
		if ro {
			if m, isMap := v.(map[string]any); isMap {
				m = maps.Clone(m)
				m["readOnly"] = true
				v = m
			}
		}
		visible[name] = v
	}
	out["properties"] = visible
	if req, isList := e.Schema["required"].([]string); isList {
		out["required"] = slices.DeleteFunc(slices.Clone(req), func(f string) bool { _, seen := visible[f]; return !seen })
	}
	return out, true
}
