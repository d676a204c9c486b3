package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// maxReported bounds the list of records a refused conversion reports.
const maxReported = 50

// conversion is one field whose type changed, with the new value of every
// record that holds it.
type conversion struct {
	field   *metadata.Field // the new definition
	typ     metadata.FieldType
	updates map[string]any // record id → converted value, as planned
	// read is each planned record's value and version when planned: the
	// event and audit entry's "old" value. A store whose columns take the
	// new type in EnsureEntity (SQLite's typed columns) already holds the
	// converted value when the unit reads the record.
	read map[string]planned
}

type planned struct {
	v       any
	version int64
}

// planConversions checks every existing record against each changed field
// type. It either returns the converted values of all of them, or a 422
// listing the records that would not convert; nothing is written yet.
func (c *Catalog) planConversions(ctx context.Context, old, next *metadata.Entity) ([]conversion, error) {
	var out []conversion
	var failures []problem.FieldError
	failed := 0
	for _, nf := range next.LiveFields() {
		of := old.Field(nf.Name)
		if of == nil || of.Type == nf.Type || nf.Type == "formula" {
			continue
		}
		t, ok := metadata.LookupType(nf.Type)
		if !ok {
			continue
		}
		probe, err := metadata.Compile(&metadata.Entity{Name: "probe", Fields: []*metadata.Field{nf}})
		if err != nil {
			return nil, err
		}
		conv := conversion{field: nf, typ: t, updates: map[string]any{}, read: map[string]planned{}}
		err = eachRecord(ctx, c.st, next.Name, nf.Name, func(r *store.Record) {
			v, ok := r.Data[nf.Name]
			if !ok || v == nil {
				return
			}
			nv, err := convertValue(v, t, nf)
			if err == nil {
				if errs := probe.Validate(map[string]any{nf.Name: nv}); len(errs) > 0 {
					err = errors.New(errs[0].Message)
				}
			}
			if fe, ok := err.(*metadata.FieldError); ok {
				err = errors.New(fe.Message)
			}
			if err != nil {
				failed++
				if len(failures) < maxReported {
					failures = append(failures, problem.FieldError{Field: nf.Name, Code: "conversion",
						Message: fmt.Sprintf("record %s: %v cannot become %s: %v", r.ID, v, nf.Type, err),
						Params:  map[string]any{"record": r.ID, "value": v, "to": nf.Type}})
				}
				return
			}
			conv.updates[r.ID] = nv
			conv.read[r.ID] = planned{v: v, version: r.Version}
		})
		if err != nil {
			return nil, err
		}
		out = append(out, conv)
	}
	if failed > 0 {
		// Only maxReported are listed: each says how many there are in all.
		for i := range failures {
			failures[i].Params["failed"] = failed
		}
		return nil, &problem.Error{Status: http.StatusUnprocessableEntity, Type: "about:blank", Title: "Type change refused",
			Detail: fmt.Sprintf("%d records would not convert; nothing was changed", failed), Errors: failures}
	}
	return out, nil
}

// eachRecord pages through the records holding field, by id.
func eachRecord(ctx context.Context, st store.Store, entity, field string, fn func(*store.Record)) error {
	after := ""
	for {
		filter := &store.Cond{Op: store.OpNotNull, Field: field}
		if after != "" {
			filter = store.And(filter, &store.Cond{Op: store.OpGt, Field: "id", Kind: metadata.KindString, Value: after})
		}
		page, err := st.Find(ctx, entity, store.Query{Filter: filter, Sort: []store.SortKey{{Field: "id"}}, Limit: 500})
		if err != nil {
			return err
		}
		for _, r := range page {
			fn(r)
		}
		if len(page) < 500 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// applyConversions rewrites every planned record in the unit tx, with a
// new version (so a client holding an old copy gets a conflict), an audit
// entry and a record.updated event each, like any other change. The value
// converted is the one the record holds now; should it no longer convert
// (changed since the plan), the unit fails and nothing changes.
func (c *Catalog) applyConversions(ctx context.Context, tx store.Tx, p *identity.Principal, e *metadata.Entity, convs []conversion) error {
	ids := map[string]bool{}
	for _, conv := range convs {
		for id := range conv.updates {
			ids[id] = true
		}
	}
	order := make([]string, 0, len(ids))
	for id := range ids {
		order = append(order, id)
	}
	sort.Strings(order)
	uid, ip := actor(p)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range order {
		r, err := tx.Get(ctx, e.Name, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since the plan
		}
		if err != nil {
			return err
		}
		changes := map[string]store.Change{}
		var fields []any
		for _, conv := range convs {
			name := conv.field.Name
			if _, planned := conv.updates[id]; !planned {
				continue
			}
			v, ok := r.Data[name]
			if !ok || v == nil {
				continue
			}
			nv, err := convertValue(v, conv.typ, conv.field)
			if err != nil {
				return problem.Conflict("record %s changed during the conversion of %s (%v); try again", id, name, err)
			}
			r.Data[name] = nv
			old := v
			if p, ok := conv.read[id]; ok && p.version == r.Version {
				old = p.v // unchanged since the plan: what it held before the type changed
			}
			changes[name] = store.Change{Old: old, New: nv}
			fields = append(fields, name)
		}
		if len(changes) == 0 {
			continue
		}
		r.Version++
		r.UpdatedAt = now
		r.UpdatedBy = uid
		audit := map[string]any{}
		for k, ch := range changes {
			audit[k] = map[string]any{"from": ch.Old, "to": ch.New}
		}
		err = tx.Update(ctx, e.Name, r, store.Sides{
			Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: uid, IP: ip, Action: "record.convert",
				Entity: e.Name, RecordID: id, Changes: audit},
			Event: &store.Event{ID: store.NewID(), Type: "record.updated", Entity: e.Name, RecordID: id, Version: r.Version,
				Actor: uid, Origin: origin(ctx, p), At: now, Changes: changes,
				Payload: map[string]any{"conversion": fields}},
		})
		if err != nil {
			return fmt.Errorf("convert %s record %s: %w", e.Name, id, err)
		}
	}
	return nil
}

// convertValue turns a stored value into one of the new type: text from
// anything, numbers and booleans from text, a list from a single value.
func convertValue(v any, t metadata.FieldType, f *metadata.Field) (any, error) {
	switch t.Kind() {
	case metadata.KindString, metadata.KindDate, metadata.KindDateTime:
		switch x := v.(type) {
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case int64:
			v = strconv.FormatInt(x, 10)
		case bool:
			v = strconv.FormatBool(x)
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			v = strings.Join(parts, ", ")
		}
	case metadata.KindNumber, metadata.KindInteger:
		// Text is read by the JSON number grammar ("NaN", "1e400" and
		// "0x10" are refused, not stored); the new type's range decides
		// the rest, so a value it cannot hold is reported, never written.
		switch x := v.(type) {
		case string:
			v = json.Number(strings.TrimSpace(x))
		case bool:
			if x {
				v = int64(1)
			} else {
				v = int64(0)
			}
		}
	case metadata.KindBoolean:
		if s, ok := v.(string); ok {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "true", "yes", "1", "y", "是":
				v = true
			case "false", "no", "0", "n", "否", "":
				v = false
			default:
				return nil, fmt.Errorf("%q is not true or false", s)
			}
		}
		if n, ok := v.(int64); ok {
			v = n != 0
		}
	case metadata.KindList:
		if s, ok := v.(string); ok {
			v = []any{s}
		}
	}
	return metadata.Normalize(f, v)
}
