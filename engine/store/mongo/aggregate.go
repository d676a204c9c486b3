package mongo

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jimu-crm/jimu/engine/store"
)

// groupKey is one GroupBy entry: a field, maybe bucketed to a prefix of its
// date or datetime string ("2026-03-01T…" → "2026" / "2026-03" /
// "2026-03-01").
type groupKey struct {
	path   string
	prefix int             // bytes kept; 0: the value itself
	bucket *store.Bucketer // a bucket in a time zone; nil: prefix or the value
}

type measure struct {
	op   string
	path string // empty for count
}

var bucketBytes = map[string]int{"year": 4, "month": 7, "day": 10}

func parseAggregate(q store.AggregateQuery) ([]groupKey, []measure, error) {
	if err := q.CheckOrder(); err != nil {
		return nil, nil, err
	}
	utc := q.TimeZone == "" || q.TimeZone == "UTC"
	keys := make([]groupKey, len(q.GroupBy))
	for i, g := range q.GroupBy {
		name, bucket, hasBucket := strings.Cut(g, ":")
		p, err := path(name)
		if err != nil {
			return nil, nil, err
		}
		keys[i].path = p
		if hasBucket {
			b, err := store.BucketerFor(bucket, q.TimeZone)
			if err != nil {
				return nil, nil, err
			}
			// In UTC a year, month or day is a prefix of the stored string.
			if n, ok := bucketBytes[bucket]; ok && utc {
				keys[i].prefix = n
			} else {
				keys[i].bucket = b
			}
		}
	}
	ms := make([]measure, len(q.Measures))
	for i, m := range q.Measures {
		ms[i].op = m.Op
		switch m.Op {
		case "count":
			continue
		case "sum", "avg", "min", "max", "count_distinct":
		default:
			return nil, nil, fmt.Errorf("unknown measure %q", m.Op)
		}
		p, err := path(m.Field)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", m.Op, err)
		}
		ms[i].path = p
	}
	return keys, ms, nil
}

// keyName and measureName name the group's keys inside _id and the
// measures in a result document; fixed names keep field names out of the
// pipeline's output keys.
func keyName(i int) string     { return fmt.Sprintf("k%d", i) }
func measureName(i int) string { return fmt.Sprintf("m%d", i) }
func numbersName(i int) string { return fmt.Sprintf("n%d", i) }

// pipeline builds the aggregation: $match, $group by the keys, the size of
// each distinct set, $sort by the keys (nulls first, as on SQLite), $limit.
// Field paths come from checked names; the only user values are inside the
// $match filter, which Translate built.
func pipeline(filter bson.D, keys []groupKey, ms []measure, order []store.AggregateOrder, zone string, limit int) mongo.Pipeline {
	var id any // nil: one group of everything
	if len(keys) > 0 {
		idDoc := bson.D{}
		for i, k := range keys {
			var expr any = "$" + k.path
			if k.bucket != nil {
				expr = bucketExpr("$"+k.path, k.bucket.Unit(), zone)
			} else if k.prefix > 0 {
				// $substrBytes turns null and missing into "", so only
				// strings are cut and anything else groups as null.
				expr = bson.D{{Key: "$cond", Value: bson.A{
					bson.D{{Key: "$eq", Value: bson.A{bson.D{{Key: "$type", Value: "$" + k.path}}, "string"}}},
					bson.D{{Key: "$substrBytes", Value: bson.A{"$" + k.path, 0, k.prefix}}},
					nil,
				}}}
			} else {
				// A missing field would otherwise be left out of _id and
				// form a group apart from explicit nulls.
				expr = bson.D{{Key: "$ifNull", Value: bson.A{expr, nil}}}
			}
			idDoc = append(idDoc, bson.E{Key: keyName(i), Value: expr})
		}
		id = idDoc
	}
	group := bson.D{{Key: "_id", Value: id}}
	var sizes bson.D
	for i, m := range ms {
		var acc bson.D
		switch m.op {
		case "count":
			acc = bson.D{{Key: "$sum", Value: 1}}
		case "count_distinct":
			acc = bson.D{{Key: "$addToSet", Value: "$" + m.path}}
			sizes = append(sizes, bson.E{Key: measureName(i), Value: bson.D{{Key: "$size", Value: "$" + measureName(i)}}})
		case "sum":
			acc = bson.D{{Key: "$sum", Value: "$" + m.path}}
			// $sum is 0 over no numbers where SQL's sum is null; $avg is
			// null exactly then, and marks the sum (aggregateServer).
			group = append(group, bson.E{Key: numbersName(i), Value: bson.D{{Key: "$avg", Value: "$" + m.path}}})
		default:
			acc = bson.D{{Key: "$" + m.op, Value: "$" + m.path}}
		}
		group = append(group, bson.E{Key: measureName(i), Value: acc})
	}
	p := mongo.Pipeline{
		{{Key: "$match", Value: filter}},
		{{Key: "$group", Value: group}},
	}
	if len(sizes) > 0 {
		p = append(p, bson.D{{Key: "$addFields", Value: sizes}})
	}
	if len(keys) > 0 {
		sortDoc := bson.D{}
		seen := map[string]bool{}
		for _, o := range order {
			name := "_id." + keyName(o.Index)
			if o.Measure {
				name = measureName(o.Index)
			}
			dir := 1
			if o.Desc {
				dir = -1
			}
			if !seen[name] {
				seen[name] = true
				sortDoc = append(sortDoc, bson.E{Key: name, Value: dir})
			}
		}
		for i := range keys {
			if seen["_id."+keyName(i)] {
				continue
			}
			sortDoc = append(sortDoc, bson.E{Key: "_id." + keyName(i), Value: 1})
		}
		p = append(p, bson.D{{Key: "$sort", Value: sortDoc}})
	}
	if limit > 0 {
		p = append(p, bson.D{{Key: "$limit", Value: int64(limit)}})
	}
	return p
}

// Aggregate groups the matching records and computes the measures. Rows
// come sorted by their keys. Without GroupBy there is exactly one row, even
// when nothing matches (count 0), as SQL answers.
func (s *Store) Aggregate(ctx context.Context, entity string, q store.AggregateQuery) ([]store.AggregateRow, error) {
	coll, err := s.records(entity)
	if err != nil {
		return nil, err
	}
	filter, err := Translate(q.Filter)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", entity, err)
	}
	keys, ms, err := parseAggregate(q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", entity, err)
	}
	var rows []store.AggregateRow
	if s.ferret {
		rows, err = aggregateLocal(ctx, coll, filter, keys, ms, q.OrderBy, q.Limit)
	} else {
		rows, err = aggregateServer(ctx, coll, filter, keys, ms, q.OrderBy, q.TimeZone, q.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("mongo: aggregate %s: %w", entity, err)
	}
	if len(keys) == 0 && len(rows) == 0 {
		row := store.AggregateRow{Keys: []any{}, Values: make([]any, len(ms))}
		for i, m := range ms {
			if m.op == "count" || m.op == "count_distinct" {
				row.Values[i] = int64(0)
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func aggregateServer(ctx context.Context, coll *mongo.Collection, filter bson.D, keys []groupKey, ms []measure, order []store.AggregateOrder, zone string, limit int) ([]store.AggregateRow, error) {
	cur, err := coll.Aggregate(ctx, pipeline(filter, keys, ms, order, zone, limit))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var rows []store.AggregateRow
	for cur.Next(ctx) {
		raw := cur.Current
		row := store.AggregateRow{Keys: make([]any, len(keys)), Values: make([]any, len(ms))}
		if id, ok := raw.Lookup("_id").DocumentOK(); ok {
			for i := range keys {
				if row.Keys[i], err = value(id, keyName(i)); err != nil {
					return nil, err
				}
			}
		}
		for i, m := range ms {
			if row.Values[i], err = value(raw, measureName(i)); err != nil {
				return nil, err
			}
			if m.op == "sum" {
				// A sum over no numbers is null, as on SQLite.
				if n, err := value(raw, numbersName(i)); err != nil {
					return nil, err
				} else if n == nil {
					row.Values[i] = nil
				}
			}
		}
		rows = append(rows, row)
	}
	return rows, cur.Err()
}

// value reads one field of a document; missing is nil.
func value(raw bson.Raw, key string) (any, error) {
	v, err := raw.LookupErr(key)
	if err != nil {
		return nil, nil
	}
	// An unreadable number (±Inf) counts as missing: a measure over it
	// is not poisoned, and no record is named here to report it by.
	return fromBSON(v, key, nil)
}

// aggregateLocal computes an aggregate in this process from the matching
// records, for FerretDB v1: its $group knows only $sum and $count, and it
// has neither $cond nor $substrBytes. The filter still runs on the server
// and only the grouped and measured fields are read. This is for tests and
// development against FerretDB; a MongoDB server always gets the pipeline.
// Results follow the pipeline's: sums ignore non-numbers and, like
// $avg/$min/$max, are null over none (the pipeline marks an empty sum).
func aggregateLocal(ctx context.Context, coll *mongo.Collection, filter bson.D, keys []groupKey, ms []measure, order []store.AggregateOrder, limit int) ([]store.AggregateRow, error) {
	proj := bson.D{}
	seen := map[string]bool{}
	for _, p := range append(keyPaths(keys), measurePaths(ms)...) {
		if !seen[p] {
			seen[p] = true
			proj = append(proj, bson.E{Key: p, Value: 1})
		}
	}
	if !seen["_id"] {
		proj = append(proj, bson.E{Key: "_id", Value: 0})
	}
	cur, err := coll.Find(ctx, filter, options.Find().SetProjection(proj))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	type group struct {
		keys []any
		accs []*accumulator
	}
	groups := map[string]*group{}
	var groupsInOrder []*group
	for cur.Next(ctx) {
		raw := cur.Current
		kv := make([]any, len(keys))
		var sig strings.Builder
		for i, k := range keys {
			v, err := value(raw, k.path)
			if err != nil {
				return nil, err
			}
			if k.bucket != nil {
				s, _ := v.(string)
				var ok bool
				if v, ok = k.bucket.Key(s); !ok {
					v = nil
				}
			} else if k.prefix > 0 {
				if s, ok := v.(string); ok {
					v = s[:min(len(s), k.prefix)]
				} else {
					v = nil
				}
			}
			kv[i] = v
			sig.WriteString(identity(v))
			sig.WriteByte(0)
		}
		g := groups[sig.String()]
		if g == nil {
			g = &group{keys: kv, accs: make([]*accumulator, len(ms))}
			for i, m := range ms {
				g.accs[i] = &accumulator{op: m.op, distinct: map[string]bool{}}
			}
			groups[sig.String()] = g
			groupsInOrder = append(groupsInOrder, g)
		}
		for i, m := range ms {
			var v any
			if m.path != "" {
				if v, err = value(raw, m.path); err != nil {
					return nil, err
				}
			}
			g.accs[i].add(v)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	rows := make([]store.AggregateRow, len(groupsInOrder))
	for i, g := range groupsInOrder {
		rows[i] = store.AggregateRow{Keys: g.keys, Values: make([]any, len(ms))}
		for j, a := range g.accs {
			rows[i].Values[j] = a.result()
		}
	}
	sortRows(rows, order)
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	return rows, nil
}

// sortRows orders rows as the pipeline's $sort does: by order, then by
// the keys ascending.
func sortRows(rows []store.AggregateRow, order []store.AggregateOrder) {
	sort.SliceStable(rows, func(i, j int) bool {
		for _, o := range order {
			a, b := rows[i].Keys, rows[j].Keys
			if o.Measure {
				a, b = rows[i].Values, rows[j].Values
			}
			if c := compare(a[o.Index], b[o.Index]); c != 0 {
				return (c < 0) != o.Desc
			}
		}
		for k := range rows[i].Keys {
			if c := compare(rows[i].Keys[k], rows[j].Keys[k]); c != 0 {
				return c < 0
			}
		}
		return false
	})
}

func keyPaths(keys []groupKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.path
	}
	return out
}

func measurePaths(ms []measure) []string {
	var out []string
	for _, m := range ms {
		if m.path != "" {
			out = append(out, m.path)
		}
	}
	return out
}

type accumulator struct {
	op       string
	n        int64 // count; numbers seen for avg
	isum     int64
	fsum     float64
	float    bool // a double was summed: the sum is a double, as in MongoDB
	best     any  // min or max so far
	distinct map[string]bool
}

func (a *accumulator) add(v any) {
	switch a.op {
	case "count":
		a.n++
		return
	case "count_distinct":
		if v != nil {
			a.distinct[identity(v)] = true
		}
		return
	case "min", "max":
		if v == nil {
			return
		}
		if a.best == nil {
			a.best = v
			return
		}
		c := compare(v, a.best)
		if (a.op == "min" && c < 0) || (a.op == "max" && c > 0) {
			a.best = v
		}
		return
	}
	switch x := v.(type) {
	case int64:
		if (x > 0 && a.isum > math.MaxInt64-x) || (x < 0 && a.isum < math.MinInt64-x) {
			a.float = true // beyond int64 the sum is a double, as in MongoDB
		}
		a.isum += x
		a.fsum += float64(x)
		a.n++
	case float64:
		a.fsum += x
		a.float = true
		a.n++
	}
}

func (a *accumulator) result() any {
	switch a.op {
	case "count":
		return a.n
	case "count_distinct":
		return int64(len(a.distinct))
	case "min", "max":
		return a.best
	case "avg":
		if a.n == 0 {
			return nil
		}
		return a.fsum / float64(a.n)
	}
	if a.n == 0 {
		return nil // a sum over no numbers, as SQL's
	}
	if a.float {
		return a.fsum
	}
	return a.isum
}

// identity is a value's group identity: numbers by value (1 and 1.0 are the
// same, as in MongoDB), everything else by type and content.
func identity(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case int64:
		return fmt.Sprintf("n:%v", float64(x))
	case float64:
		return fmt.Sprintf("n:%v", x)
	case string:
		return "s:" + x
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// rank orders values of different types the way BSON comparison does:
// null, numbers, strings, objects, arrays, booleans.
func rank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case int64, float64:
		return 1
	case string:
		return 2
	case map[string]any:
		return 3
	case []any:
		return 4
	case bool:
		return 5
	}
	return 6
}

func compare(a, b any) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	switch x := a.(type) {
	case nil:
		return 0
	case int64, float64:
		fa, fb := toFloat(x), toFloat(b)
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

// bucketExpr is a stored date or datetime string's bucket key in zone,
// computed by the server: the string is parsed as an instant
// ($dateFromString reads both 2006-01-02 and 2006-01-02T15:04:05.000Z;
// null for anything else) and formatted in the zone — a date (10 bytes)
// in UTC, since it is a calendar day already. A quarter has no format
// specifier, so it is the year and the month's quarter joined.
func bucketExpr(field, unit, zone string) bson.D {
	if zone == "" {
		zone = "UTC"
	}
	isString := bson.D{{Key: "$eq", Value: bson.A{bson.D{{Key: "$type", Value: field}}, "string"}}}
	tz := bson.D{{Key: "$cond", Value: bson.A{
		bson.D{{Key: "$eq", Value: bson.A{bson.D{{Key: "$strLenBytes", Value: field}}, 10}}}, "UTC", zone,
	}}}
	date := bson.D{{Key: "$dateFromString", Value: bson.D{
		{Key: "dateString", Value: field}, {Key: "onError", Value: nil}, {Key: "onNull", Value: nil},
	}}}
	format := func(f string) bson.D {
		return bson.D{{Key: "$dateToString", Value: bson.D{{Key: "date", Value: "$$d"}, {Key: "format", Value: f}, {Key: "timezone", Value: "$$tz"}, {Key: "onNull", Value: nil}}}}
	}
	var in any
	switch unit {
	case "hour":
		in = format("%Y-%m-%dT%H")
	case "day":
		in = format("%Y-%m-%d")
	case "week":
		in = format("%G-W%V")
	case "month":
		in = format("%Y-%m")
	case "quarter":
		month := bson.D{{Key: "$month", Value: bson.D{{Key: "date", Value: "$$d"}, {Key: "timezone", Value: "$$tz"}}}}
		q := bson.D{{Key: "$toString", Value: bson.D{{Key: "$ceil", Value: bson.D{{Key: "$divide", Value: bson.A{month, 3}}}}}}}
		in = bson.D{{Key: "$cond", Value: bson.A{
			bson.D{{Key: "$eq", Value: bson.A{"$$d", nil}}}, nil,
			bson.D{{Key: "$concat", Value: bson.A{format("%Y"), "-Q", q}}},
		}}}
	default:
		in = format("%Y")
	}
	// $let keeps the parse to once per row; the outer $cond keeps
	// non-strings (a number in a date field) out of $dateFromString.
	return bson.D{{Key: "$cond", Value: bson.A{isString,
		bson.D{{Key: "$let", Value: bson.D{
			{Key: "vars", Value: bson.D{{Key: "d", Value: date}, {Key: "tz", Value: tz}}},
			{Key: "in", Value: in},
		}}},
		nil,
	}}}
}
