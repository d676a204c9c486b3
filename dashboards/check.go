package dashboards

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// check validates a dashboard as p sees its entities: every error names
// the widget (by id) and the problem, and nothing is saved while any
// remains.
func (s *Service) check(ctx context.Context, p *identity.Principal, d *Dashboard) error {
	var errs []problem.FieldError
	add := func(field, code string, params map[string]any, format string, args ...any) {
		errs = append(errs, problem.FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...), Params: params})
	}
	type P = map[string]any
	if d.Name.IsZero() {
		add("name", "required", nil, "a dashboard needs a name")
	}
	if _, err := store.LoadZone(d.TimeZone); err != nil {
		add("timezone", "unknown_zone", P{"zone": d.TimeZone}, "%v (use an IANA name such as Asia/Shanghai)", err)
	}
	if d.Sharing.Everyone && !p.IsAdmin() {
		add("sharing", "forbidden", nil, "only an admin may share a dashboard with everyone")
	}
	for i, r := range d.Sharing.Roles {
		if !p.IsAdmin() && !slices.Contains(p.Roles, r) {
			add(fmt.Sprintf("sharing.roles.%d", i), "forbidden", nil, "you may share a dashboard only with roles you hold")
		}
	}
	ids := map[string]bool{}
	entities := map[string]*catalog.Entity{}
	for i := range d.Widgets {
		w := &d.Widgets[i]
		at := fmt.Sprintf("widgets.%d", i)
		if ids[w.ID] {
			add(at+".id", "duplicate", P{"widget": w.ID}, "widget %s: another widget has this id", w.ID)
		}
		ids[w.ID] = true
		for _, fe := range s.checkWidget(ctx, p, w) {
			fe.Field = at + "." + fe.Field
			fe.Message = "widget " + w.ID + ": " + fe.Message
			fe.Params = withWidget(fe.Params, w.ID)
			errs = append(errs, fe)
		}
		if e, err := s.cat.Get(w.Query.Entity); err == nil {
			entities[e.Name] = e
		}
	}
	for i, f := range d.Filters {
		at := fmt.Sprintf("filters.%d", i)
		applies := false
		for _, e := range entities {
			k, ok := e.KindOf(f.Field)
			if !ok {
				continue
			}
			if hidden, _ := s.rec.FieldAccess(p, e, f.Field); hidden {
				continue
			}
			applies = true
			switch f.Type {
			case "date":
				if k != metadata.KindDate && k != metadata.KindDateTime {
					add(at+".field", "type", P{"filter": f.Type, "entity": e.Name, "name": f.Field}, "a date filter needs a date field; %s.%s is not one", e.Name, f.Field)
				}
			case "owner":
				if f.Field != "owner" {
					add(at+".field", "type", P{"filter": f.Type}, "an owner filter is on the owner field")
				}
			case "select":
				if fd := e.Field(f.Field); fd == nil || fd.Type != "select" {
					add(at+".field", "type", P{"filter": f.Type, "entity": e.Name, "name": f.Field}, "a select filter needs a select field; %s.%s is not one", e.Name, f.Field)
				}
			}
		}
		if !applies {
			add(at+".field", "unknown_field", P{"name": f.Field}, "no widget's entity has a field %q you may see", f.Field)
		}
		if f.Type == "date" && f.Default != "" {
			if _, _, err := dateRange(f.Default, s.now(), mustZone(d.TimeZone)); err != nil {
				add(at+".default", "invalid", nil, "%v", err)
			}
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}

// checkWidget checks one widget's query against its entity as p sees it;
// field paths are relative to the widget.
func (s *Service) checkWidget(ctx context.Context, p *identity.Principal, w *Widget) []problem.FieldError {
	var errs []problem.FieldError
	// Params carry what the message names, so the app can say it in the
	// person's language (ui/src/lib/dasherrors.ts); Message stays English.
	add := func(field, code string, params map[string]any, format string, args ...any) {
		errs = append(errs, problem.FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...), Params: params})
	}
	type P = map[string]any
	q := &w.Query
	e, err := s.cat.Get(q.Entity)
	if err != nil || !s.rec.Permits(ctx, p, e, records.OpRead) {
		add("query.entity", "unknown_entity", P{"entity": q.Entity}, "no entity %q that you may read", q.Entity)
		return errs
	}
	kind := func(name string) (metadata.Kind, bool) {
		k, ok := e.KindOf(name)
		if !ok {
			return 0, false
		}
		if hidden, _ := s.rec.FieldAccess(p, e, name); hidden {
			return 0, false
		}
		return k, true
	}
	span := WidgetTypes[w.Type]
	if n := len(q.GroupBy); n < span[0] || n > span[1] {
		if span[1] == 0 {
			add("query.group_by", "range", P{"type": w.Type, "min": 0, "max": 0}, "a %s widget shows one number and groups by nothing", w.Type)
		} else {
			add("query.group_by", "range", P{"type": w.Type, "min": span[0], "max": span[1], "n": n}, "a %s widget groups by %d to %d fields, not %d", w.Type, span[0], span[1], n)
		}
	}
	if q.Measure != nil && len(q.Measures) > 0 {
		add("query.measures", "conflict", nil, "give measure or measures, not both")
	}
	if _, err := store.LoadZone(q.TimeZone); err != nil {
		add("query.timezone", "unknown_zone", P{"zone": q.TimeZone}, "%v (use an IANA name such as Asia/Shanghai)", err)
	}
	for j, g := range q.GroupBy {
		at := fmt.Sprintf("query.group_by.%d", j)
		k, ok := kind(g.Field)
		switch {
		case !ok:
			add(at+".field", "unknown_field", P{"entity": e.Name, "name": g.Field}, "%s has no field %q you may see", e.Name, g.Field)
		case k == metadata.KindList:
			add(at+".field", "unsupported", P{"name": g.Field}, "cannot group by the list field %s", g.Field)
		case g.Bucket != "" && k != metadata.KindDate && k != metadata.KindDateTime:
			add(at+".bucket", "type", P{"name": g.Field}, "%s is not a date; only dates take a bucket", g.Field)
		}
	}
	if w.Type == "funnel" && len(q.GroupBy) == 1 {
		if f := e.Field(q.GroupBy[0].Field); f == nil || f.Type != "select" {
			add("query.group_by.0.field", "type", P{"name": q.GroupBy[0].Field}, "a funnel's steps are the options of a select field; %s is not one", q.GroupBy[0].Field)
		}
	}
	ms := q.measures()
	for j, m := range ms {
		at := "query.measure"
		if len(q.Measures) > 0 {
			at = fmt.Sprintf("query.measures.%d", j)
		}
		if m.Op == "count" {
			if m.Field != "" {
				add(at+".field", "unsupported", P{"op": m.Op}, "count counts records; it takes no field")
			}
			continue
		}
		k, ok := kind(m.Field)
		switch {
		case m.Field == "":
			add(at+".field", "required", P{"op": m.Op}, "%s needs a field", m.Op)
		case !ok:
			add(at+".field", "unknown_field", P{"entity": e.Name, "name": m.Field}, "%s has no field %q you may see", e.Name, m.Field)
		case (m.Op == "sum" || m.Op == "avg") && k != metadata.KindNumber && k != metadata.KindInteger:
			add(at+".field", "type", P{"op": m.Op, "name": m.Field}, "cannot %s %s: not a number field", m.Op, m.Field)
		case k == metadata.KindList:
			add(at+".field", "unsupported", P{"name": m.Field}, "cannot measure the list field %s", m.Field)
		}
	}
	if (w.Type == "kpi" || w.Type == "gauge" || w.Type == "pie" || w.Type == "donut" || w.Type == "funnel" || w.Type == "stacked_bar") && len(ms) > 1 {
		add("query.measures", "range", P{"type": w.Type}, "a %s widget shows one measure", w.Type)
	}
	// A chart of two group-bys draws one series per second key, and a
	// pivot's cells hold one number: neither has room for a second measure.
	if len(ms) > 1 && len(q.GroupBy) > 1 && w.Type != "table" {
		add("query.measures", "range", P{"type": w.Type, "second": true}, "a %s widget of two group-bys shows one measure", w.Type)
	}
	if _, err := order(q.Sort, len(ms)); err != nil {
		add("query.sort", "invalid", P{"sort": q.Sort, "measures": len(ms)}, "%v", err)
	}
	if w.Type == "gauge" && w.Target == nil {
		add("target", "required", P{"type": w.Type}, "a gauge shows its value against a target")
	}
	if err := s.rec.CheckFilter(ctx, p, e.Name, q.Filter); err != nil {
		fe := problem.FieldError{Field: "query.filter", Code: "invalid_filter", Message: err.Error()}
		var pe *problem.Error
		if errors.As(err, &pe) && len(pe.Errors) > 0 {
			fe = pe.Errors[0]
			fe.Field = "query.filter"
		}
		errs = append(errs, fe)
	}
	return errs
}

// withWidget adds the widget's id to an error's params, so the app names
// the widget in its own words too.
func withWidget(params map[string]any, id string) map[string]any {
	out := map[string]any{"widget": id}
	for k, v := range params {
		out[k] = v
	}
	return out
}
