package dashboards

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Row is one group of a widget's answer. Drill is the filter expression
// of the records it counts: the list with that filter, under the same
// access rules, holds exactly them.
type Row struct {
	Keys   []any    `json:"keys"`
	Labels []string `json:"labels"`
	Value  any      `json:"value"`
	Values []any    `json:"values,omitempty"` // every measure, when there are several
	// Count is how many records the row stands for — what its drill-down
	// lists — whatever its measures are (a tooltip's "12 deals").
	Count      *int64   `json:"count,omitempty"`
	Drill      string   `json:"drill"`
	Conversion *float64 `json:"conversion,omitempty"` // funnel: this step over the one before
	Other      bool     `json:"other,omitempty"`      // the groups past the top N, folded
}

// KPI is a number against the previous period and a target.
type KPI struct {
	Value    any      `json:"value"`
	Previous any      `json:"previous,omitempty"`
	Change   *float64 `json:"change,omitempty"` // (value - previous) / previous
	Target   *float64 `json:"target,omitempty"`
	Progress *float64 `json:"progress,omitempty"` // value / target
}

// Result is a widget's data.
type Result struct {
	Widget  string   `json:"widget"`
	Type    string   `json:"type"`
	Entity  string   `json:"entity"`
	GroupBy []string `json:"group_by"`
	// KeyTypes is each group-by field's type ("select", "user", …;
	// "bucket" for a date bucket), so the app can show user ids as names.
	KeyTypes []string       `json:"key_types"`
	Measures []string       `json:"measures"`
	Rows     []Row          `json:"rows"`
	KPI      *KPI           `json:"kpi,omitempty"`
	Pivot    *Pivot         `json:"pivot,omitempty"`
	Drill    string         `json:"drill"` // every record the widget reads
	ECharts  map[string]any `json:"echarts,omitempty"`
	// AsOf is when the answer was computed or, for a kept answer, checked
	// current: the store keeps an aggregate only until its entity is
	// written, so the rows reflect every write committed before AsOf.
	AsOf time.Time `json:"as_of"`
}

// maxFill bounds the empty buckets a time series is filled with.
const maxFill = 1000

// Data answers one widget of a dashboard p sees, with the dashboard's
// filters set from values (field → value; absent: the filter's default).
func (s *Service) Data(ctx context.Context, p *identity.Principal, id, widget string, values map[string]string) (*Result, error) {
	return s.data(ctx, p, id, widget, values, false)
}

// BoardData answers one widget as Data does, for a viewer asking every
// widget of the board at once (the app, ?board=1): the first such request
// warms the whole board's aggregates together (warm).
func (s *Service) BoardData(ctx context.Context, p *identity.Principal, id, widget string, values map[string]string) (*Result, error) {
	return s.data(ctx, p, id, widget, values, true)
}

func (s *Service) data(ctx context.Context, p *identity.Principal, id, widget string, values map[string]string, board bool) (*Result, error) {
	d, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	var w *Widget
	for i := range d.Widgets {
		if d.Widgets[i].ID == widget {
			w = &d.Widgets[i]
		}
	}
	if w == nil {
		return nil, problem.NotFound("dashboard %s has no widget %s", id, widget)
	}
	if board {
		s.warm(ctx, p, d, values)
	}
	return s.run(ctx, p, d, w, values)
}

// Preview answers a widget that is not saved yet (the builder's live
// preview), checked as Save checks it.
func (s *Service) Preview(ctx context.Context, p *identity.Principal, d *Dashboard, w *Widget, values map[string]string) (*Result, error) {
	if errs := s.checkWidget(ctx, p, w); len(errs) > 0 {
		for i := range errs {
			errs[i].Message = "widget " + w.ID + ": " + errs[i].Message
			errs[i].Params = withWidget(errs[i].Params, w.ID)
		}
		return nil, problem.Invalid(errs...)
	}
	return s.run(ctx, p, d, w, values)
}

type plan struct {
	s       *Service
	p       *identity.Principal
	w       *Widget
	e       *catalog.Entity
	loc     *time.Location
	zone    string
	base    string // the widget's filter and the dashboard's, as one expression
	groupBy []string
	kinds   []metadata.Kind
	ms      []Measure
	mnames  []string
	// count is where the store's answer holds each row's record count:
	// the widget's own count measure, or one more asked after its
	// measures (hidden) when it has none.
	count  int
	hidden bool
	order  []store.AggregateOrder
	// dateField/from/to: the dashboard's date range on this entity, if any.
	dateField string
	from, to  time.Time
}

func (s *Service) run(ctx context.Context, p *identity.Principal, d *Dashboard, w *Widget, values map[string]string) (*Result, error) {
	pl, err := s.plan(p, d, w, values)
	if err != nil {
		return nil, err
	}
	res := &Result{Widget: w.ID, Type: w.Type, Entity: pl.e.Name, GroupBy: pl.groupBy, KeyTypes: pl.keyTypes(), Measures: pl.mnames, Drill: pl.base, Rows: []Row{}}
	if len(pl.groupBy) == 0 {
		err = pl.kpi(ctx, res)
	} else {
		err = pl.groups(ctx, res)
	}
	if err != nil {
		return nil, err
	}
	if w.Type == "pivot" {
		res.Pivot = pl.pivot(res)
	}
	res.ECharts = chartOption(w, res)
	res.AsOf = s.now().UTC()
	return res, nil
}

// plan is how a widget is computed for p with the dashboard's filters.
func (s *Service) plan(p *identity.Principal, d *Dashboard, w *Widget, values map[string]string) (*plan, error) {
	e, err := s.cat.Get(w.Query.Entity)
	if err != nil {
		return nil, problem.NotFound("widget %s: no entity %q", w.ID, w.Query.Entity)
	}
	pl := &plan{s: s, p: p, w: w, e: e, zone: d.TimeZone}
	if w.Query.TimeZone != "" {
		pl.zone = w.Query.TimeZone
	}
	if pl.loc, err = store.LoadZone(pl.zone); err != nil {
		return nil, widgetErr(w, "timezone", err)
	}
	parts := []string{w.Query.Filter}
	for _, f := range d.Filters {
		kind, ok := e.KindOf(f.Field)
		if !ok {
			continue // the filter is on a field this widget's entity lacks
		}
		v, set := values[f.Field]
		if !set {
			v = f.Default
		}
		if v = strings.TrimSpace(v); v == "" || v == "all" {
			continue
		}
		switch f.Type {
		case "date":
			from, to, err := dateRange(v, s.now(), pl.loc)
			if err != nil {
				return nil, problem.BadRequest("filter."+f.Field, "invalid", "%v", err)
			}
			pl.dateField, pl.from, pl.to = f.Field, from, to
			parts = append(parts, between(f.Field, kind, from, to.AddDate(0, 0, 1), pl.loc))
		case "owner":
			if v == "me" {
				v = p.UserID
			}
			parts = append(parts, "owner == "+literal(v))
		case "select":
			var vals []string
			for _, x := range strings.Split(v, ",") {
				if x = strings.TrimSpace(x); x != "" {
					vals = append(vals, literal(x))
				}
			}
			parts = append(parts, f.Field+" in ["+strings.Join(vals, ", ")+"]")
		}
	}
	pl.base = and(parts...)
	for _, g := range w.Query.GroupBy {
		k, _ := e.KindOf(g.Field)
		name := g.Field
		if g.Bucket != "" {
			name += ":" + g.Bucket
		}
		pl.groupBy, pl.kinds = append(pl.groupBy, name), append(pl.kinds, k)
	}
	pl.ms = w.Query.measures()
	for _, m := range pl.ms {
		n := m.Op
		if m.Field != "" {
			n += ":" + m.Field
		}
		pl.mnames = append(pl.mnames, n)
	}
	// Under the records service's cap of ten measures, that is; a widget
	// of ten others has rows without a count.
	pl.count = slices.IndexFunc(pl.ms, func(m Measure) bool { return m.Op == "count" && m.Field == "" })
	if pl.count < 0 && len(pl.ms) < maxMeasures {
		pl.count, pl.hidden = len(pl.ms), true
	}
	if pl.order, err = order(w.Query.Sort, len(pl.ms)); err != nil {
		return nil, widgetErr(w, "sort", err)
	}
	return pl, nil
}

// topOrder is how the first keys of a widget of two group-bys are ranked
// for its top N: by the key when it sorts by key, else by the measure it
// sorts by (the first one by default), largest first.
func (pl *plan) topOrder() []store.AggregateOrder {
	switch {
	case pl.order == nil:
		return []store.AggregateOrder{{Measure: true, Desc: true}}
	case pl.order[0].Measure:
		return []store.AggregateOrder{{Measure: true, Index: pl.order[0].Index, Desc: true}}
	}
	return pl.order
}

// keyTypes is the type of each group-by's field: system user fields are
// "user", a bucketed date "bucket".
func (pl *plan) keyTypes() []string {
	out := []string{}
	for _, g := range pl.w.Query.GroupBy {
		switch {
		case g.Bucket != "":
			out = append(out, "bucket")
		case g.Field == "owner" || g.Field == "created_by" || g.Field == "updated_by":
			out = append(out, "user")
		case pl.e.Field(g.Field) != nil:
			out = append(out, pl.e.Field(g.Field).Type)
		default:
			out = append(out, "")
		}
	}
	return out
}

// widgetErr names the widget in a refusal of its query at view time (a
// field since hidden from the viewer, a filter that no longer compiles).
func widgetErr(w *Widget, field string, err error) error {
	if pe, ok := err.(*problem.Error); ok {
		out := *pe
		out.Detail = "widget " + w.ID + ": " + pe.Detail
		out.Errors = append([]problem.FieldError(nil), pe.Errors...)
		for i := range out.Errors {
			out.Errors[i].Message = "widget " + w.ID + ": " + out.Errors[i].Message
			out.Errors[i].Params = withWidget(out.Errors[i].Params, w.ID)
		}
		return &out
	}
	return problem.Invalid(problem.FieldError{Field: field, Code: "invalid", Message: fmt.Sprintf("widget %s: %v", w.ID, err)})
}

// aggregate runs one store aggregate as the viewer.
func (pl *plan) aggregate(ctx context.Context, filter string, groupBy []string, order []store.AggregateOrder, limit int) ([]store.AggregateRow, error) {
	res, _, err := pl.s.rec.Aggregate(ctx, pl.p, pl.e.Name, pl.params(filter, groupBy, order, limit))
	if err != nil {
		err = widgetErr(pl.w, "query", err)
		if pe, ok := err.(*problem.Error); ok {
			for i := range pe.Errors {
				pe.Errors[i].Params["entity"] = pl.e.Name // for the app's words
			}
		}
		return nil, err
	}
	return res.Rows, nil
}

// params is one of the widget's aggregates as the records service takes it.
func (pl *plan) params(filter string, groupBy []string, order []store.AggregateOrder, limit int) records.AggregateParams {
	measures := pl.mnames
	if pl.hidden {
		measures = append(slices.Clip(measures), "count")
	}
	return records.AggregateParams{Filter: filter, GroupBy: strings.Join(groupBy, ","), Measures: strings.Join(measures, ","),
		Limit: limit, TimeZone: pl.zone, OrderBy: order}
}

func (pl *plan) kpi(ctx context.Context, res *Result) error {
	rows, err := pl.aggregate(ctx, pl.base, nil, nil, 0)
	if err != nil {
		return err
	}
	k := &KPI{Value: number(rows[0].Values[0]), Target: pl.w.Target}
	res.Rows = append(res.Rows, Row{Keys: []any{}, Labels: []string{}, Value: k.Value, Values: values(rows[0].Values, len(pl.ms)),
		Count: pl.countOf(rows[0].Values), Drill: pl.base})
	if pl.dateField != "" {
		rows, err := pl.aggregate(ctx, pl.previous(), nil, nil, 0)
		if err != nil {
			return err
		}
		k.Previous = number(rows[0].Values[0])
		if a, ok := toFloat(k.Value); ok {
			if b, ok := toFloat(k.Previous); ok && b != 0 {
				c := (a - b) / b
				k.Change = &c
			}
		}
	}
	if a, ok := toFloat(k.Value); ok && k.Target != nil && *k.Target != 0 {
		pr := a / *k.Target
		k.Progress = &pr
	}
	res.KPI = k
	return nil
}

// previous is the KPI's filter over the period before the dashboard's
// date range: as many days just before it.
func (pl *plan) previous() string {
	kind, _ := pl.e.KindOf(pl.dateField)
	from, to := previousRange(pl.from, pl.to)
	cur := between(pl.dateField, kind, pl.from, pl.to.AddDate(0, 0, 1), pl.loc)
	prev := between(pl.dateField, kind, from, to.AddDate(0, 0, 1), pl.loc)
	return strings.Replace(pl.base, "("+cur+")", "("+prev+")", 1)
}

// upfront is the aggregates the widget asks before it has any answer:
// asked for every widget of a board together (Service.warm), each widget
// then finds its own kept.
func (pl *plan) upfront() []records.AggregateParams {
	q := pl.w.Query
	if len(pl.groupBy) == 0 {
		out := []records.AggregateParams{pl.params(pl.base, nil, nil, 0)}
		if pl.dateField != "" {
			out = append(out, pl.params(pl.previous(), nil, nil, 0))
		}
		return out
	}
	fold := q.Limit > 0 && pl.w.Type != "funnel"
	switch {
	case fold && len(pl.groupBy) == 1:
		order := pl.order
		if order == nil {
			order = []store.AggregateOrder{{Measure: true, Desc: true}}
		}
		if pl.additive() {
			return []records.AggregateParams{pl.params(pl.base, pl.groupBy, order, 0)}
		}
		return []records.AggregateParams{pl.params(pl.base, pl.groupBy, order, q.Limit)}
	case fold:
		order := pl.topOrder()
		return []records.AggregateParams{pl.params(pl.base, pl.groupBy[:1], order, q.Limit)}
	}
	return []records.AggregateParams{pl.params(pl.base, pl.groupBy, pl.order, 0)}
}

func (pl *plan) groups(ctx context.Context, res *Result) error {
	q := pl.w.Query
	filter := pl.base
	var rows []store.AggregateRow
	var err error
	var top []any // the top N first keys, when the rest is folded
	fold := q.Limit > 0 && pl.w.Type != "funnel"
	switch {
	case fold && len(pl.groupBy) == 1:
		order := pl.order
		if order == nil {
			order = []store.AggregateOrder{{Measure: true, Desc: true}}
		}
		if pl.additive() {
			// Counts and sums of the rest add up: one pass over the
			// records gives the top and Other, unless there are more
			// groups than an aggregate answers.
			all, err := pl.aggregate(ctx, filter, pl.groupBy, order, 0)
			if err != nil {
				return err
			}
			if len(all) < records.MaxGroups {
				n := min(q.Limit, len(all))
				for _, r := range all[:n] {
					res.Rows = append(res.Rows, pl.row(r.Keys, r.Values))
					top = append(top, r.Keys[0])
				}
				if rest := all[n:]; len(rest) > 0 {
					row := pl.row([]any{"Other"}, pl.sum(rest))
					row.Other, row.Labels[0], row.Drill = true, "Other", and(pl.base, pl.keyNotIn(top))
					res.Rows = append(res.Rows, row)
				}
				if pl.w.Cumulative {
					cumulate(res.Rows, 1)
				}
				return nil
			}
		}
		if rows, err = pl.aggregate(ctx, filter, pl.groupBy, order, q.Limit); err != nil {
			return err
		}
		for _, r := range rows {
			top = append(top, r.Keys[0])
		}
	case fold:
		// The top N of the first key by the measure, then both keys
		// within them.
		order := pl.topOrder()
		firsts, err := pl.aggregate(ctx, filter, pl.groupBy[:1], order, q.Limit)
		if err != nil {
			return err
		}
		for _, r := range firsts {
			top = append(top, r.Keys[0])
		}
		if rows, err = pl.aggregate(ctx, and(filter, pl.keyIn(top)), pl.groupBy, nil, 0); err != nil {
			return err
		}
		rows = orderLike(rows, top)
	default:
		if rows, err = pl.aggregate(ctx, filter, pl.groupBy, pl.order, 0); err != nil {
			return err
		}
	}
	for _, r := range rows {
		res.Rows = append(res.Rows, pl.row(r.Keys, r.Values))
	}
	if fold && len(top) == q.Limit {
		if err := pl.other(ctx, res, top); err != nil {
			return err
		}
	}
	if pl.w.Type == "funnel" {
		pl.funnel(res)
		return nil
	}
	// A stacked series leaves its empty buckets to the chart's axis.
	if q.GroupBy[0].Bucket != "" && len(q.GroupBy) == 1 && pl.order == nil && !fold && timeSeries[pl.w.Type] {
		pl.fill(res)
	}
	if pl.w.Cumulative {
		cumulate(res.Rows, len(pl.groupBy))
	}
	return nil
}

var timeSeries = map[string]bool{"bar": true, "stacked_bar": true, "grouped_bar": true, "line": true, "area": true, "table": true, "pivot": true}

// other folds every group past the top N into one row per remaining key.
func (pl *plan) other(ctx context.Context, res *Result, top []any) error {
	filter := and(pl.base, pl.keyNotIn(top))
	rows, err := pl.aggregate(ctx, filter, pl.groupBy[1:], nil, 0)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if empty(r.Values, pl.ms) {
			continue
		}
		keys := append([]any{"Other"}, r.Keys...)
		row := pl.row(keys, r.Values)
		row.Other, row.Labels[0] = true, "Other"
		drill := []string{filter}
		for i, k := range r.Keys {
			drill = append(drill, pl.keyCond(i+1, k))
		}
		row.Drill = and(drill...)
		res.Rows = append(res.Rows, row)
	}
	return nil
}

// additive reports whether every measure of the rest adds up from its
// groups (counts and sums do; averages, extremes and distinct counts do not).
func (pl *plan) additive() bool {
	for _, m := range pl.ms {
		if m.Op != "count" && m.Op != "sum" {
			return false
		}
	}
	return true
}

// sum adds groups' counts and sums; a sum over groups that all summed no
// value stays null, as the store's sum over no values is.
func (pl *plan) sum(rows []store.AggregateRow) []any {
	ms := pl.ms
	if pl.hidden {
		ms = append(slices.Clip(ms), Measure{Op: "count"})
	}
	out := make([]any, len(ms))
	for i := range ms {
		var total float64
		var ints int64
		seen, float := false, false
		for _, r := range rows {
			switch x := r.Values[i].(type) {
			case int64:
				ints += x
				seen = true
			case float64:
				total += x
				seen, float = true, true
			}
		}
		switch {
		case !seen && ms[i].Op == "count":
			out[i] = int64(0)
		case !seen:
			out[i] = nil
		case float:
			out[i] = total + float64(ints)
		default:
			out[i] = ints
		}
	}
	return out
}

// empty reports whether a folded group holds no records: its counts are
// 0 and its other measures null.
func empty(vals []any, ms []Measure) bool {
	for i, m := range ms {
		if m.Op == "count" || m.Op == "count_distinct" {
			if f, _ := toFloat(vals[i]); f != 0 {
				return false
			}
		} else if vals[i] != nil {
			return false
		}
	}
	return true
}

func (pl *plan) row(keys, vals []any) Row {
	r := Row{Keys: keys, Labels: make([]string, len(keys)), Value: number(vals[0]), Values: values(vals, len(pl.ms)), Count: pl.countOf(vals)}
	conds := []string{pl.base}
	for i, k := range keys {
		r.Labels[i] = pl.label(i, k)
		conds = append(conds, pl.keyCond(i, k))
	}
	r.Drill = and(conds...)
	return r
}

// maxMeasures is the records service's cap on an aggregate's measures.
const maxMeasures = 10

// countOf is the record count among a row's measured values, if asked.
func (pl *plan) countOf(vals []any) *int64 {
	if pl.count >= 0 && pl.count < len(vals) {
		if n, ok := vals[pl.count].(int64); ok {
			return &n
		}
	}
	return nil
}

// values are a row's first n measured values (the widget's measures,
// without a hidden count), when there are several.
func values(vals []any, n int) []any {
	if n < 2 {
		return nil
	}
	out := make([]any, n)
	for i, v := range vals[:n] {
		out[i] = number(v)
	}
	return out
}

// label is how a key reads: a select option's label, "(none)" for null.
func (pl *plan) label(i int, k any) string {
	if k == nil {
		return "(none)"
	}
	g := pl.w.Query.GroupBy[i]
	if f := pl.e.Field(g.Field); f != nil && g.Bucket == "" {
		for _, o := range f.Options {
			if o.Value == k && !o.Label.IsZero() {
				return o.Label.String()
			}
		}
	}
	if b, ok := k.(bool); ok {
		if b {
			return "yes"
		}
		return "no"
	}
	return fmt.Sprint(number(k))
}

// keyCond is the expression that selects key i's value k.
func (pl *plan) keyCond(i int, k any) string {
	g := pl.w.Query.GroupBy[i]
	if k == nil {
		return g.Field + " == nil"
	}
	if g.Bucket != "" {
		b, _ := store.BucketerFor(g.Bucket, pl.zone)
		key, _ := k.(string)
		start, ok1 := b.Start(key)
		next, ok2 := b.Next(key)
		end, ok3 := b.Start(next)
		if !ok1 || !ok2 || !ok3 {
			return "false"
		}
		return between(g.Field, pl.kinds[i], start, end, pl.loc)
	}
	if pl.kinds[i] == metadata.KindBoolean {
		return fmt.Sprintf("%s == %s", g.Field, literal(k))
	}
	return fmt.Sprintf("%s == %s", g.Field, literal(number(k)))
}

func (pl *plan) keyIn(keys []any) string {
	var parts []string
	for _, k := range keys {
		parts = append(parts, pl.keyCond(0, k))
	}
	if len(parts) == 0 {
		return "false"
	}
	return strings.Join(parts, " or ")
}

func (pl *plan) keyNotIn(keys []any) string {
	if len(keys) == 0 {
		return ""
	}
	return "not (" + pl.keyIn(keys) + ")"
}

// orderLike puts rows in the order of their first key in top.
func orderLike(rows []store.AggregateRow, top []any) []store.AggregateRow {
	var out []store.AggregateRow
	for _, t := range top {
		for _, r := range rows {
			if fmt.Sprint(r.Keys[0]) == fmt.Sprint(t) && (r.Keys[0] == nil) == (t == nil) {
				out = append(out, r)
			}
		}
	}
	return out
}

// funnel puts the steps in the order of the select field's options (every
// option a step, 0 where no record is), drops records without a stage,
// and computes each step's conversion from the one before.
func (pl *plan) funnel(res *Result) {
	f := pl.e.Field(pl.w.Query.GroupBy[0].Field)
	by := map[any]Row{}
	for _, r := range res.Rows {
		by[r.Keys[0]] = r
	}
	var out []Row
	var prev *float64
	for _, o := range f.Options {
		r, ok := by[o.Value]
		if !ok {
			r = pl.row([]any{o.Value}, pl.zeros())
		}
		if v, ok := toFloat(r.Value); ok {
			if prev != nil && *prev != 0 {
				c := v / *prev
				r.Conversion = &c
			}
			prev = &v
		}
		out = append(out, r)
	}
	res.Rows = out
}

// zeros is what a group of no records measures: counts 0, others null.
func (pl *plan) zeros() []any {
	out := make([]any, len(pl.ms))
	for i, m := range pl.ms {
		if m.Op == "count" || m.Op == "count_distinct" {
			out[i] = int64(0)
		}
	}
	return out
}

// nothing is what an empty bucket of a time series measures: counts and
// sums 0, so a line of amounts runs through the month without deals rather
// than breaking there; averages and extremes stay null.
func (pl *plan) nothing() []any {
	out := pl.zeros()
	for i, m := range pl.ms {
		if m.Op == "sum" {
			out[i] = int64(0)
		}
	}
	return out
}

// fill adds the empty buckets of a time series between its first and last
// (or the dashboard's date range on the same field), so a month without
// deals shows as 0 rather than vanishing from the axis.
func (pl *plan) fill(res *Result) {
	g := pl.w.Query.GroupBy[0]
	b, err := store.BucketerFor(g.Bucket, pl.zone)
	if err != nil || len(res.Rows) == 0 {
		return
	}
	var lo, hi string
	for _, r := range res.Rows {
		k, ok := r.Keys[0].(string)
		if !ok {
			continue
		}
		if lo == "" || k < lo {
			lo = k
		}
		if k > hi {
			hi = k
		}
	}
	if pl.dateField == g.Field {
		// The range's first and last day, as stored values, bucketed.
		if k, ok := b.Key(pl.from.UTC().Format("2006-01-02T15:04:05.000Z")); ok && (lo == "" || k < lo) {
			lo = k
		}
		if k, ok := b.Key(pl.to.AddDate(0, 0, 1).Add(-time.Second).UTC().Format("2006-01-02T15:04:05.000Z")); ok && k > hi {
			hi = k
		}
	}
	if lo == "" {
		return
	}
	have := map[string]bool{}
	for _, r := range res.Rows {
		if k, ok := r.Keys[0].(string); ok {
			have[k] = true
		}
	}
	var out []Row
	var nulls []Row
	for _, r := range res.Rows {
		if r.Keys[0] == nil {
			nulls = append(nulls, r)
		}
	}
	byKey := map[string][]Row{}
	for _, r := range res.Rows {
		if k, ok := r.Keys[0].(string); ok {
			byKey[k] = append(byKey[k], r)
		}
	}
	k := lo
	for n := 0; n < maxFill && k <= hi; n++ {
		if have[k] {
			out = append(out, byKey[k]...)
		} else {
			out = append(out, pl.row([]any{k}, pl.nothing()))
		}
		next, ok := b.Next(k)
		if !ok {
			break
		}
		k = next
	}
	res.Rows = append(nulls, out...)
}

// cumulate makes each value the running total of its series, every
// measure's own (a line of two measures draws both from Values).
func cumulate(rows []Row, keys int) {
	sums := map[string][]float64{}
	for i := range rows {
		series := ""
		if keys > 1 {
			series = fmt.Sprint(rows[i].Keys[1])
		}
		vals := rows[i].Values
		if vals == nil {
			vals = []any{rows[i].Value}
		}
		if sums[series] == nil {
			sums[series] = make([]float64, len(vals))
		}
		for m, v := range vals {
			if f, ok := toFloat(v); ok {
				sums[series][m] += f
			}
			vals[m] = number(sums[series][m])
		}
		rows[i].Value = vals[0]
		if rows[i].Values != nil {
			rows[i].Values = vals
		}
	}
}

// number makes integral floats integers, so a count or a sum of whole
// amounts reads 3 rather than 3.0 on either store.
func number(v any) any {
	if f, ok := v.(float64); ok && f == float64(int64(f)) && f < 1<<53 && f > -(1<<53) {
		return int64(f)
	}
	return v
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}
