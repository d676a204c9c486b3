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
	e, res, where, err := s.readable(ctx, p, entity, ap.Filter, nil)
	if err != nil {
		return nil, nil, err
	}
	if _, err := store.LoadZone(ap.TimeZone); err != nil {
		return nil, nil, problem.BadRequest("timezone", "unknown_zone", "%v (use an IANA name such as Asia/Shanghai)", err)
	}
	q := store.AggregateQuery{Filter: where, Limit: ap.Limit, TimeZone: ap.TimeZone, OrderBy: ap.OrderBy}
	if q.Limit <= 0 || q.Limit > MaxGroups {
		q.Limit = MaxGroups
	}
	out := &AggregateResult{}
	for _, g := range split(ap.GroupBy) {
		name, bucket, _ := strings.Cut(g, ":")
		kind, err := res.Field(name)
		if err != nil {
			return nil, nil, problem.BadRequest("group_by", "unknown_field", "cannot group by %q: %v", name, err)
		}
		if bucket != "" {
			if kind != metadata.KindDate && kind != metadata.KindDateTime {
				return nil, nil, problem.BadRequest("group_by", "bucket", "%s is not a date; only dates take a bucket (%s)", name, strings.Join(store.Buckets, ", "))
			}
			if !slices.Contains(store.Buckets, bucket) {
				return nil, nil, problem.BadRequest("group_by", "bucket", "unknown date bucket %q (%s)", bucket, strings.Join(store.Buckets, ", "))
			}
		}
		if kind == metadata.KindList {
			return nil, nil, problem.BadRequest("group_by", "unsupported", "cannot group by the list field %s", name)
		}
		q.GroupBy = append(q.GroupBy, g)
		out.GroupBy = append(out.GroupBy, g)
	}
	if len(q.GroupBy) > 3 {
		return nil, nil, problem.BadRequest("group_by", "range", "at most 3 group keys")
	}
	ms := split(ap.Measures)
	if len(ms) == 0 {
		ms = []string{"count"}
	}
	for _, m := range ms {
		op, field, _ := strings.Cut(m, ":")
		if !measureOps[op] {
			return nil, nil, problem.BadRequest("measures", "unknown_measure", "unknown measure %q (count, sum, avg, min, max, count_distinct)", op)
		}
		if op == "count" && field == "" {
			q.Measures = append(q.Measures, store.Measure{Op: op})
			out.Measures = append(out.Measures, m)
			continue
		}
		kind, err := res.Field(field)
		if err != nil {
			return nil, nil, problem.BadRequest("measures", "unknown_field", "cannot measure %q: %v", field, err)
		}
		if (op == "sum" || op == "avg") && kind != metadata.KindNumber && kind != metadata.KindInteger {
			return nil, nil, problem.BadRequest("measures", "type", "%s of %s: not a number field", op, field)
		}
		q.Measures = append(q.Measures, store.Measure{Op: op, Field: field})
		out.Measures = append(out.Measures, m)
	}
	if len(q.Measures) > 10 {
		return nil, nil, problem.BadRequest("measures", "range", "at most 10 measures")
	}
	if err := q.CheckOrder(); err != nil {
		return nil, nil, problem.BadRequest("sort", "range", "%v", err)
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

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
