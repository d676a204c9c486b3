package records

import (
	"context"
	"slices"
	"strings"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// AggregateParams are an aggregate request as the client sent it:
// group_by "stage,close_date:month", measures "count,sum:amount,avg:amount".
type AggregateParams struct {
	Filter   string
	GroupBy  string
	Measures string
	Limit    int
	TimeZone string                 // IANA name the date buckets are computed in; "" is UTC
	OrderBy  []store.AggregateOrder // then the keys ascending
}

// AggregateResult is the groups, with the names of keys and measures.
type AggregateResult struct {
	GroupBy  []string
	Measures []string
	Rows     []store.AggregateRow
}

// MaxGroups is the most groups an aggregate answers.
const MaxGroups = 1000

var measureOps = map[string]bool{"count": true, "sum": true, "avg": true, "min": true, "max": true, "count_distinct": true}

// Aggregate groups the records the principal may read and measures them,
// inside the store: the filter and the row scope are the list's, and
// hidden fields can be neither grouped nor measured. Dashboards' widget
// queries run through here.
func (s *Service) Aggregate(ctx context.Context, p *identity.Principal, entity string, ap AggregateParams) (*AggregateResult, *catalog.Entity, error) {
	e, q, out, err := s.aggregateQuery(ctx, p, entity, ap)
	if err != nil {
		return nil, nil, err
	}
	release, err := s.admit(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	defer release()
	rows, err := s.st.Aggregate(ctx, e.Name, q)
	if err != nil {
		return nil, nil, err
	}
	if finiteRows(rows) {
		s.log.Warn("aggregate over numbers that cannot be served; those results read as null (see jimu doctor)",
			"entity", e.Name, "group_by", ap.GroupBy, "measures", ap.Measures)
	}
	out.Rows = rows
	return out, e, nil
}

// AggregateMany answers several aggregates of one entity as Aggregate
// answers each (the same checks, the same row scope and field rights),
// asked of the store together (store.AggregateMany): a dashboard's widgets.
// errs[i] is aps[i]'s refusal or failure.
func (s *Service) AggregateMany(ctx context.Context, p *identity.Principal, entity string, aps []AggregateParams) ([]*AggregateResult, []error) {
	outs, errs := make([]*AggregateResult, len(aps)), make([]error, len(aps))
	var qs []store.AggregateQuery
	var at []int
	var name string
	for i, ap := range aps {
		e, q, out, err := s.aggregateQuery(ctx, p, entity, ap)
		if err != nil {
			errs[i] = err
			continue
		}
		name, outs[i] = e.Name, out
		qs, at = append(qs, q), append(at, i)
	}
	if len(qs) == 0 {
		return outs, errs
	}
	release, err := s.admit(ctx, p)
	if err != nil {
		for _, i := range at {
			outs[i], errs[i] = nil, err
		}
		return outs, errs
	}
	defer release()
	rows, qerrs := store.AggregateMany(ctx, s.st, name, qs)
	for j, i := range at {
		if qerrs[j] != nil {
			outs[i], errs[i] = nil, qerrs[j]
			continue
		}
		outs[i].Rows = rows[j]
	}
	return outs, errs
}

// aggregateQuery checks an aggregate request against what p may read and
// makes it the store's query.
func (s *Service) aggregateQuery(ctx context.Context, p *identity.Principal, entity string, ap AggregateParams) (*catalog.Entity, store.AggregateQuery, *AggregateResult, error) {
	var q store.AggregateQuery
	e, res, where, err := s.readable(ctx, p, entity, ap.Filter, nil)
	if err != nil {
		return nil, q, nil, err
	}
	if _, err := store.LoadZone(ap.TimeZone); err != nil {
		return nil, q, nil, withParams(problem.BadRequest("timezone", "unknown_zone", "%v (use an IANA name such as Asia/Shanghai)", err), "zone", ap.TimeZone)
	}
	q = store.AggregateQuery{Filter: where, Limit: ap.Limit, TimeZone: ap.TimeZone, OrderBy: ap.OrderBy}
	if q.Limit <= 0 || q.Limit > MaxGroups {
		q.Limit = MaxGroups
	}
	out := &AggregateResult{}
	for _, g := range split(ap.GroupBy) {
		name, bucket, _ := strings.Cut(g, ":")
		kind, err := res.Field(name)
		if err != nil {
			return nil, q, nil, withParams(problem.BadRequest("group_by", "unknown_field", "cannot group by %q: %v", name, err), "name", name)
		}
		if bucket != "" {
			if kind != metadata.KindDate && kind != metadata.KindDateTime {
				return nil, q, nil, problem.BadRequest("group_by", "bucket", "%s is not a date; only dates take a bucket (%s)", name, strings.Join(store.Buckets, ", "))
			}
			if !slices.Contains(store.Buckets, bucket) {
				return nil, q, nil, problem.BadRequest("group_by", "bucket", "unknown date bucket %q (%s)", bucket, strings.Join(store.Buckets, ", "))
			}
		}
		if kind == metadata.KindList {
			return nil, q, nil, problem.BadRequest("group_by", "unsupported", "cannot group by the list field %s", name)
		}
		q.GroupBy = append(q.GroupBy, g)
		out.GroupBy = append(out.GroupBy, g)
	}
	if len(q.GroupBy) > 3 {
		return nil, q, nil, problem.BadRequest("group_by", "range", "at most 3 group keys")
	}
	ms := split(ap.Measures)
	if len(ms) == 0 {
		ms = []string{"count"}
	}
	for _, m := range ms {
		op, field, _ := strings.Cut(m, ":")
		if !measureOps[op] {
			return nil, q, nil, problem.BadRequest("measures", "unknown_measure", "unknown measure %q (count, sum, avg, min, max, count_distinct)", op)
		}
		if op == "count" && field == "" {
			q.Measures = append(q.Measures, store.Measure{Op: op})
			out.Measures = append(out.Measures, m)
			continue
		}
		kind, err := res.Field(field)
		if err != nil {
			return nil, q, nil, withParams(problem.BadRequest("measures", "unknown_field", "cannot measure %q: %v", field, err), "name", field, "op", op)
		}
		if (op == "sum" || op == "avg") && kind != metadata.KindNumber && kind != metadata.KindInteger {
			return nil, q, nil, problem.BadRequest("measures", "type", "%s of %s: not a number field", op, field)
		}
		q.Measures = append(q.Measures, store.Measure{Op: op, Field: field})
		out.Measures = append(out.Measures, m)
	}
	if len(q.Measures) > 10 {
		return nil, q, nil, problem.BadRequest("measures", "range", "at most 10 measures")
	}
	if err := q.CheckOrder(); err != nil {
		return nil, q, nil, problem.BadRequest("sort", "range", "%v", err)
	}
	return e, q, out, nil
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// withParams names in a refusal's params what its message is about (a
// field, a zone), so that an app can word it in the person's language:
// a dashboard shows these at view time, when a field was since hidden
// from the viewer.
func withParams(e *problem.Error, kv ...any) *problem.Error {
	for i := range e.Errors {
		p := map[string]any{}
		for j := 0; j+1 < len(kv); j += 2 {
			p[kv[j].(string)] = kv[j+1]
		}
		e.Errors[i].Params = p
	}
	return e
}
