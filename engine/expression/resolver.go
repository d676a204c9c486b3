package expression

import (
	"fmt"

	"github.com/jimu-crm/jimu/metadata"
)

// EntityResolver resolves names against an entity's live fields, its system
// fields and a set of variables. Hidden reports fields the caller may not
// see; they are refused as if they did not exist, so a filter cannot probe
// them.
type EntityResolver struct {
	Entity *metadata.Entity
	Hidden func(field string) bool
	Vars   map[string]any
}

func (r *EntityResolver) Field(name string) (metadata.Kind, error) {
	k, ok := r.Entity.KindOf(name)
	if !ok || (r.Hidden != nil && r.Hidden(name)) {
		return 0, fmt.Errorf("unknown field %q of entity %s", name, r.Entity.Name)
	}
	if k == metadata.KindJSON {
		return 0, fmt.Errorf("field %q (%s) cannot be used in a filter or sort", name, r.Entity.Field(name).Type)
	}
	return k, nil
}

// Normalize puts a value a filter compares a data field with into the
// field's stored form (metadata.FilterValue). System fields are stored as
// they are given.
func (r *EntityResolver) Normalize(field string, v any, whole bool) (any, error) {
	f := r.Entity.Field(field)
	if f == nil {
		return v, nil
	}
	return metadata.FilterValue(f, v, whole)
}

func (r *EntityResolver) Var(name string) (any, bool) {
	v, ok := r.Vars[name]
	return v, ok
}
