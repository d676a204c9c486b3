package records

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Limits of a list request.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// ListParams are a list request's parameters, as the client sent them.
type ListParams struct {
	Filter string
	Sort   string // "-amount,name"
	Fields string // "name,amount"
	Limit  int
	Cursor string
	Count  bool
	// Vars are variables the filter may name besides user: a workflow
	// action's filter reads the record it runs for (parent_id ==
	// record.id). Clients never set them.
	Vars map[string]any
}

// ListResult is one page.
type ListResult struct {
	Items       []*store.Record
	Fields      []string // projection asked for (nil: all)
	NextCursor  string
	Count       *int64
	CountCapped bool
}

// List returns one page of the records the principal may read. The filter,
// the row scope, the sort and the count all run inside the store.
func (s *Service) List(ctx context.Context, p *identity.Principal, entity string, lp ListParams) (*ListResult, *catalog.Entity, error) {
	e, res, where, err := s.readable(ctx, p, entity, lp.Filter, lp.Vars)
	if err != nil {
		return nil, nil, err
	}
	sortKeys, err := parseSort(lp.Sort, res)
	if err != nil {
		return nil, nil, err
	}
	fields, err := parseFields(lp.Fields, e, res)
	if err != nil {
		return nil, nil, err
	}
	limit := lp.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return nil, nil, problem.BadRequest("limit", "range", "limit must be between 1 and %d", MaxLimit)
	}
	if heavy(e, where, sortKeys, lp.Count) {
		release, err := s.admit(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		defer release()
	} else {
		defer s.Heavy.Light()()
	}
	page := where
	sig := cursorSig(entity, lp.Filter, sortKeys)
	if lp.Cursor != "" {
		after, err := decodeCursor(lp.Cursor, sig, sortKeys, e)
		if err != nil {
			return nil, nil, err
		}
		page = store.And(where, after)
	}
	out := &ListResult{Fields: fields, Items: []*store.Record{}}
	query := store.Query{Filter: page, Sort: sortKeys, Fields: projection(fields, sortKeys), Limit: limit + 1}
	var items []*store.Record
	if lp.Count {
		recs, n, capped, err := s.countedPage(ctx, e, where, query, lp.Cursor == "")
		if err != nil {
			return nil, nil, err
		}
		out.Count, out.CountCapped, items = &n, capped, recs
	} else if items, err = s.st.Find(ctx, e.Name, query); err != nil {
		return nil, nil, err
	}
	s.servable(e, items...)
	if len(items) > limit {
		items = items[:limit]
		out.NextCursor = encodeCursor(sig, sortKeys, items[len(items)-1])
	}
	if items != nil {
		out.Items = items
	}
	return out, e, nil
}

// readable resolves what every read starts from: the entity (if p may
// read it), the names p may use, and the condition of the records they
// asked for (filter) AND may read (row scope), for the store to run.
func (s *Service) readable(ctx context.Context, p *identity.Principal, entity, filterSrc string, vars map[string]any) (*catalog.Entity, *expression.EntityResolver, *store.Cond, error) {
	e, err := s.entity(ctx, p, entity, OpRead)
	if err != nil {
		return nil, nil, nil, err
	}
	res := s.resolver(p, e)
	for k, v := range vars {
		if k != "user" {
			res.Vars[k] = v
		}
	}
	filter, err := expression.Pushdown(filterSrc, res, s.now())
	if err != nil {
		return nil, nil, nil, filterErr(err)
	}
	scope, err := s.policy.Scope(ctx, p, e, OpRead)
	if err != nil {
		return nil, nil, nil, err
	}
	return e, res, store.And(filter, scope), nil
}

// resolver is what the principal may name in filters and sorts: live
// fields that are not hidden from them, and the user variable.
func (s *Service) resolver(p *identity.Principal, e *catalog.Entity) *expression.EntityResolver {
	return &expression.EntityResolver{
		Entity: e.Entity,
		Hidden: func(f string) bool { h, _ := s.policy.Field(p, e, f); return h },
		Vars:   map[string]any{"user": p.Vars()},
	}
}

func filterErr(err error) error {
	if fe, ok := err.(*expression.Error); ok {
		pe := problem.BadRequest("filter", "invalid_filter", "%s", fe.Error())
		if fe.Pos != nil {
			pe.Errors[0].Position = &problem.Position{Offset: fe.Pos.Offset, Line: fe.Pos.Line, Column: fe.Pos.Column}
		}
		return pe
	}
	return problem.BadRequest("filter", "invalid_filter", "%v", err)
}

func parseSort(src string, res *expression.EntityResolver) ([]store.SortKey, error) {
	var keys []store.SortKey
	hasID := false
	if strings.TrimSpace(src) == "" {
		src = "-id" // newest first: ids are time-ordered
	}
	for _, part := range strings.Split(src, ",") {
		part = strings.TrimSpace(part)
		desc := strings.HasPrefix(part, "-")
		name := strings.TrimPrefix(strings.TrimPrefix(part, "-"), "+")
		if name == "" {
			return nil, problem.BadRequest("sort", "invalid_sort", "empty sort key in %q", src)
		}
		if _, err := res.Field(name); err != nil {
			return nil, problem.BadRequest("sort", "invalid_sort", "cannot sort by %q: %v", name, err)
		}
		if len(keys) >= 5 {
			return nil, problem.BadRequest("sort", "invalid_sort", "at most 5 sort keys")
		}
		keys = append(keys, store.SortKey{Field: name, Desc: desc})
		if name == "id" {
			hasID = true
			break // id is unique: later keys never decide anything
		}
	}
	if !hasID {
		// The id makes the order total, so keyset paging never skips or
		// repeats a record. It runs in the direction of the last key: an
		// index on that field ends with the id (the primary key), so it
		// then gives the whole order and the store stops at the limit
		// instead of sorting every record of the first equal-key group.
		keys = append(keys, store.SortKey{Field: "id", Desc: keys[len(keys)-1].Desc})
	}
	return keys, nil
}

func parseFields(src string, e *catalog.Entity, res *expression.EntityResolver) ([]string, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	var out []string
	for _, name := range strings.Split(src, ",") {
		name = strings.TrimSpace(name)
		if _, sys := metadata.SystemFields[name]; sys {
			continue // system fields are always returned
		}
		if e.Field(name) == nil || res.Hidden(name) {
			return nil, problem.BadRequest("fields", "unknown_field", "%s has no field %q", e.Name, name)
		}
		out = append(out, name)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// projection adds the sort keys to the fields read, so the cursor can be
// built from the last record.
func projection(fields []string, keys []store.SortKey) []string {
	if fields == nil {
		return nil
	}
	out := append([]string(nil), fields...)
	for _, k := range keys {
		if _, sys := metadata.SystemFields[k.Field]; !sys {
			out = append(out, k.Field)
		}
	}
	return out
}

// cursor is the last row's sort values; sig ties it to the query it came
// from, so a cursor cannot be replayed against another filter or order.
type cursor struct {
	Sig    string `json:"s"`
	Values []any  `json:"v"`
}

func cursorSig(entity, filter string, keys []store.SortKey) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%v", entity, filter, keys)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

func encodeCursor(sig string, keys []store.SortKey, last *store.Record) string {
	c := cursor{Sig: sig}
	for _, k := range keys {
		c.Values = append(c.Values, last.Value(k.Field))
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, sig string, keys []store.SortKey, e *catalog.Entity) (*store.Cond, error) {
	bad := problem.BadRequest("cursor", "invalid_cursor", "cursor is not valid for this query; start again without it")
	if len(s) > 4096 {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	var c cursor
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil || c.Sig != sig || len(c.Values) != len(keys) {
		return nil, bad
	}
	vals := make([]any, len(keys))
	kinds := make([]metadata.Kind, len(keys))
	for i, k := range keys {
		kind, _ := e.KindOf(k.Field)
		kinds[i] = kind
		v := c.Values[i]
		if n, ok := v.(json.Number); ok {
			if kind == metadata.KindInteger {
				x, err := n.Int64()
				if err != nil {
					return nil, bad
				}
				v = x
			} else {
				x, err := n.Float64()
				if err != nil {
					return nil, bad
				}
				v = x
			}
		}
		switch v.(type) {
		case nil, string, float64, int64, bool:
		default:
			return nil, bad
		}
		vals[i] = v
	}
	return After(keys, kinds, vals), nil
}

// After is the keyset condition "comes after these sort values" under the
// stores' null order (nulls first ascending, last descending).
func After(keys []store.SortKey, kinds []metadata.Kind, vals []any) *store.Cond {
	var alts []*store.Cond
	for i, k := range keys {
		var eqs []*store.Cond
		for j := 0; j < i; j++ {
			eqs = append(eqs, equal(keys[j].Field, kinds[j], vals[j]))
		}
		eqs = append(eqs, beyond(k, kinds[i], vals[i]))
		alts = append(alts, store.And(eqs...))
	}
	return store.Or(alts...)
}

func equal(field string, kind metadata.Kind, v any) *store.Cond {
	if v == nil {
		return &store.Cond{Op: store.OpIsNull, Field: field, Kind: kind}
	}
	return &store.Cond{Op: store.OpEq, Field: field, Kind: kind, Value: v}
}

func beyond(k store.SortKey, kind metadata.Kind, v any) *store.Cond {
	switch {
	case !k.Desc && v == nil:
		return &store.Cond{Op: store.OpNotNull, Field: k.Field, Kind: kind}
	case !k.Desc:
		return &store.Cond{Op: store.OpGt, Field: k.Field, Kind: kind, Value: v}
	case v == nil:
		return &store.Cond{Op: store.OpFalse}
	default:
		return store.Or(&store.Cond{Op: store.OpLt, Field: k.Field, Kind: kind, Value: v},
			&store.Cond{Op: store.OpIsNull, Field: k.Field, Kind: kind})
	}
}

// View is how records of one entity look to one principal: the data fields
// they may see (restricted to the asked-for fields), worked out once for a
// whole page rather than per record.
type View struct {
	e      *catalog.Entity
	fields []*metadata.Field
	kinds  []metadata.Kind
}

// View returns p's view of e's records; fields, when not nil, restricts it.
func (s *Service) View(p *identity.Principal, e *catalog.Entity, fields []string) *View {
	v := &View{e: e}
	for _, f := range e.LiveFields() {
		if fields != nil && !slices.Contains(fields, f.Name) {
			continue
		}
		if hidden, _ := s.policy.Field(p, e, f.Name); hidden {
			continue
		}
		kind, _ := e.KindOf(f.Name)
		v.fields = append(v.fields, f)
		v.kinds = append(v.kinds, kind)
	}
	return v
}

// Render is a record as the API shows it: system fields, then the view's
// data fields, numbers in their field's kind.
func (v *View) Render(r *store.Record) map[string]any {
	out := make(map[string]any, len(v.fields)+8)
	out["id"] = r.ID
	out["version"] = r.Version
	out["created_at"] = metadata.FormatDateTime(r.CreatedAt)
	out["updated_at"] = metadata.FormatDateTime(r.UpdatedAt)
	out["created_by"] = r.CreatedBy
	out["updated_by"] = r.UpdatedBy
	if v.e.Ownership {
		out["owner"] = r.Owner
	}
	for i, f := range v.fields {
		val, ok := r.Data[f.Name]
		if !ok {
			continue
		}
		switch v.kinds[i] {
		case metadata.KindNumber:
			if n, ok := val.(int64); ok {
				val = float64(n)
			}
		case metadata.KindInteger:
			if n, ok := val.(float64); ok {
				val = int64(n)
			}
		}
		out[f.Name] = val
	}
	return out
}

// Render renders one record for p (see View).
func (s *Service) Render(p *identity.Principal, e *catalog.Entity, r *store.Record, fields []string) map[string]any {
	return s.View(p, e, fields).Render(r)
}

// CheckFilter reports whether src is a filter p may run on entity: what
// a list would answer, without running anything.
func (s *Service) CheckFilter(ctx context.Context, p *identity.Principal, entity, src string) error {
	e, err := s.entity(ctx, p, entity, OpRead)
	if err != nil {
		return err
	}
	_, err = expression.Pushdown(src, s.resolver(p, e), s.now())
	return err
}
