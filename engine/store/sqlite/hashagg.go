package sqlite

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	msqlite "modernc.org/sqlite"

	"github.com/jimu-crm/jimu/engine/store"
)

// A group-by that no index orders makes SQLite sort every matching row
// (a temporary b-tree) before it aggregates: at a million deals that sort
// was two thirds of a group-by's time. jimu_group is an aggregate function
// that groups in a Go hash map instead, in one pass over the rows: the
// statement is `SELECT jimu_group(?, keys…, measures…) FROM … WHERE …`,
// the bound handle names the groupRun that collects the groups, and the
// groups are sorted afterwards (there are few). Its results match SQLite's
// GROUP BY: the same ordering of keys, NULLs first; sum of integers an
// integer, of reals a compensated sum (Kahan–Babuška–Neumaier, as SQLite's
// sum does); avg a real; min and max in SQLite's order of types.
func init() {
	// jimu_bucket(value, unit, zone) is a stored date or datetime's
	// bucket key in a time zone (store.Bucketer), NULL for anything else:
	// the SQL GROUP BY's form of what jimu_group computes itself.
	msqlite.MustRegisterDeterministicScalarFunction("jimu_bucket", 3, func(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		s, ok := args[0].(string)
		unit, _ := args[1].(string)
		zone, _ := args[2].(string)
		if !ok {
			return nil, nil
		}
		b, err := store.BucketerFor(unit, zone)
		if err != nil {
			return nil, err
		}
		if k, ok := b.Key(s); ok {
			return k, nil
		}
		return nil, nil
	})
	msqlite.MustRegisterFunction("jimu_groups", &msqlite.FunctionImpl{
		NArgs:        -1,
		VolatileArgs: true,
		MakeAggregate: func(msqlite.FunctionContext) (msqlite.AggregateFunction, error) {
			return &groupsAgg{}, nil
		},
	})
	msqlite.MustRegisterFunction("jimu_group", &msqlite.FunctionImpl{
		NArgs:        -1,
		VolatileArgs: true, // strings are copied before they are kept
		MakeAggregate: func(msqlite.FunctionContext) (msqlite.AggregateFunction, error) {
			return &groupAgg{}, nil
		},
	})
}

// maxGroups bounds the groups held in memory; past it the group-by runs
// as SQL (SQLite's sorter spills to disk).
const maxGroups = 100_000

var (
	errTooManyGroups = errors.New("sqlite: too many groups for the hash aggregate")
	errUnsupported   = errors.New("sqlite: a value the hash aggregate does not handle")
)

// groupRun is one group-by's state, found by its handle.
type groupRun struct {
	seen   int64 // rows stepped
	nKeys  int
	prefix []int             // per key: group by its first n characters (a date bucket); 0: the whole value
	bucket []*store.Bucketer // per key: group by its date bucket in a zone; nil: not bucketed
	nums   []int64           // this row's bucket numbers
	ops    []string
	index  map[string]*group
	groups []*group
	buf    []byte
}

type group struct {
	keys []any
	accs []acc
}

// acc accumulates one measure of one group.
type acc struct {
	rows     int64 // count: rows; other measures: non-null values
	iSum     int64
	rSum     float64
	rErr     float64
	approx   bool // a real was summed
	min, max any
	distinct map[string]struct{}
}

var (
	groupRuns sync.Map // int64 → *groupRun
	groupSeq  atomic.Int64
	hashRuns  atomic.Int64 // group-bys answered by jimu_group, for tests
)

type groupAgg struct{ run *groupRun }

// bucketed stands for a key's bucket while a row is grouped.
type bucketed struct{}

func (a *groupAgg) Step(_ *msqlite.FunctionContext, args []driver.Value) error {
	if a.run == nil {
		h, _ := args[0].(int64)
		r, ok := groupRuns.Load(h)
		if !ok {
			return errors.New("jimu_group: unknown handle")
		}
		a.run = r.(*groupRun)
	}
	return a.run.step(args[1:1+a.run.nKeys], args[1+a.run.nKeys:])
}

// step adds one row, its keys (which it may rewrite) and measured values.
func (r *groupRun) step(keys, vals []driver.Value) error {
	r.seen++
	r.buf = r.buf[:0]
	for i, k := range keys {
		if bk := r.bucket[i]; bk != nil {
			// The bucket's number, not its name, keys the group: the
			// name is made once per group.
			s, ok := k.(string)
			var n int64
			if ok {
				n, ok = bk.Number(s)
			}
			if !ok {
				keys[i] = nil
				r.buf = append(r.buf, 0)
				continue
			}
			r.nums[i], keys[i] = n, bucketed{}
			r.buf = binary.LittleEndian.AppendUint64(append(r.buf, 4), uint64(n))
			continue
		}
		if n := r.prefix[i]; n > 0 && k != nil {
			// substr(k, 1, n) without SQLite making a new value per row.
			s, ok := k.(string)
			if !ok {
				return errUnsupported
			}
			keys[i] = prefix(s, n)
			k = keys[i]
		}
		var ok bool
		if r.buf, ok = appendKey(r.buf, k); !ok {
			return errUnsupported
		}
	}
	g := r.index[string(r.buf)]
	if g == nil {
		if len(r.groups) >= maxGroups {
			return errTooManyGroups
		}
		g = &group{keys: make([]any, len(keys)), accs: make([]acc, len(r.ops))}
		for i, k := range keys {
			if _, ok := k.(bucketed); ok {
				g.keys[i] = r.bucket[i].Name(r.nums[i])
				continue
			}
			g.keys[i] = keep(k)
		}
		r.index[string(r.buf)] = g
		r.groups = append(r.groups, g)
	}
	for i, op := range r.ops {
		if err := g.accs[i].step(op, vals[i], &r.buf); err != nil {
			return err
		}
	}
	return nil
}

// groupsAgg is jimu_groups(handle, columns…): one call per row feeds the
// row to several group-bys (a multiRun), each column converted from
// SQLite's value once for all of them.
type groupsAgg struct{ run *multiRun }

// multiRun is several groupRuns over one row's columns: run i's keys are
// columns keys[i], its measured values columns vals[i] (-1: none, count).
type multiRun struct {
	runs       []*groupRun
	keys, vals [][]int
	kbuf, vbuf [][]driver.Value
}

var multiRuns sync.Map // int64 → *multiRun

func (a *groupsAgg) Step(_ *msqlite.FunctionContext, args []driver.Value) error {
	if a.run == nil {
		h, _ := args[0].(int64)
		r, ok := multiRuns.Load(h)
		if !ok {
			return errors.New("jimu_groups: unknown handle")
		}
		a.run = r.(*multiRun)
	}
	m, cols := a.run, args[1:]
	for i, r := range m.runs {
		ks, vs := m.kbuf[i], m.vbuf[i]
		for j, c := range m.keys[i] {
			ks[j] = cols[c]
		}
		for j, c := range m.vals[i] {
			if c < 0 {
				vs[j] = nil
			} else {
				vs[j] = cols[c]
			}
		}
		if err := r.step(ks, vs); err != nil {
			return err
		}
	}
	return nil
}

func (a *groupsAgg) WindowInverse(*msqlite.FunctionContext, []driver.Value) error {
	return errors.New("jimu_groups is not a window function")
}

func (a *groupsAgg) WindowValue(*msqlite.FunctionContext) (driver.Value, error) {
	return int64(0), nil
}

func (a *groupsAgg) Final(*msqlite.FunctionContext) {}

func (a *groupAgg) WindowInverse(*msqlite.FunctionContext, []driver.Value) error {
	return errors.New("jimu_group is not a window function")
}

func (a *groupAgg) WindowValue(*msqlite.FunctionContext) (driver.Value, error) {
	if a.run == nil {
		return int64(0), nil
	}
	return int64(len(a.run.groups)), nil
}

func (a *groupAgg) Final(*msqlite.FunctionContext) {}

// prefix is the first n characters of s.
func prefix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// keepStored copies a value that may point into SQLite's memory, as it
// is.
func keepStored(v driver.Value) any {
	if b, ok := v.([]byte); ok {
		return bytes.Clone(b)
	}
	return keep(v)
}

// keep copies a value that may point into SQLite's memory.
func keep(v driver.Value) any {
	switch x := v.(type) {
	case string:
		return strings.Clone(x)
	case []byte:
		return blobText(x) // as the SQL path reports it
	case float64:
		if x == 0 {
			return 0.0 // -0 groups with 0, as in SQLite
		}
	}
	return v
}

// appendKey encodes a value so that values SQLite's GROUP BY puts together
// encode alike (an integral real with the integer).
func appendKey(b []byte, v driver.Value) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, 0), true
	case int64:
		return binary.LittleEndian.AppendUint64(append(b, 1), uint64(x)), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return binary.LittleEndian.AppendUint64(append(b, 1), uint64(int64(x))), true
		}
		return binary.LittleEndian.AppendUint64(append(b, 2), math.Float64bits(x)), true
	case string:
		b = binary.AppendUvarint(append(b, 3), uint64(len(x)))
		return append(b, x...), true
	case []byte: // a blob is never equal to text, in SQLite's GROUP BY too
		b = binary.AppendUvarint(append(b, 4), uint64(len(x)))
		return append(b, x...), true
	}
	return b, false
}

func (a *acc) step(op string, v driver.Value, buf *[]byte) error {
	if op == "count" {
		a.rows++
		return nil
	}
	if v == nil {
		return nil
	}
	switch op {
	case "sum", "avg":
		switch x := v.(type) {
		case int64:
			if a.approx {
				kbn(&a.rSum, &a.rErr, float64(x))
			} else if s, ok := addInt(a.iSum, x); ok {
				a.iSum = s
			} else {
				return errUnsupported // SQLite reports the overflow: let it
			}
		case float64:
			if !a.approx {
				a.approx = true
				a.rSum, a.rErr = float64(a.iSum), 0
			}
			kbn(&a.rSum, &a.rErr, x)
		default:
			return errUnsupported
		}
	// min and max compare values as stored (a compact id as its bytes,
	// as SQLite does) and read as the API shows them only at the end.
	case "min":
		if a.min == nil || compareValues(v, a.min) < 0 {
			a.min = keepStored(v)
		}
	case "max":
		if a.max == nil || compareValues(v, a.max) > 0 {
			a.max = keepStored(v)
		}
	case "count_distinct":
		var ok bool
		*buf = (*buf)[:0]
		if *buf, ok = appendKey(*buf, v); !ok {
			return errUnsupported
		}
		if a.distinct == nil {
			a.distinct = map[string]struct{}{}
		}
		if _, seen := a.distinct[string(*buf)]; !seen {
			a.distinct[string(*buf)] = struct{}{}
		}
	default:
		return errUnsupported
	}
	a.rows++
	return nil
}

func (a *acc) value(op string) any {
	switch op {
	case "count":
		return a.rows
	case "sum":
		if a.rows == 0 {
			return nil
		}
		if a.approx {
			return a.rSum + a.rErr
		}
		return a.iSum
	case "avg":
		if a.rows == 0 {
			return nil
		}
		if a.approx {
			return (a.rSum + a.rErr) / float64(a.rows)
		}
		return float64(a.iSum) / float64(a.rows)
	case "min":
		return blobText(a.min)
	case "max":
		return blobText(a.max)
	case "count_distinct":
		return int64(len(a.distinct))
	}
	return nil
}

func addInt(a, b int64) (int64, bool) {
	s := a + b
	if (s > a) == (b > 0) {
		return s, true
	}
	return 0, false
}

// kbn is one step of the Kahan–Babuška–Neumaier sum SQLite's sum() uses.
func kbn(sum, err *float64, x float64) {
	s := *sum
	t := s + x
	if math.Abs(s) > math.Abs(x) {
		*err += (s - t) + x
	} else {
		*err += (x - t) + s
	}
	*sum = t
}

// compareValues orders values as SQLite does: NULL, numbers (integers
// and reals by value), text (byte by byte), blobs.
func compareValues(a, b any) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	switch ra {
	case 1:
		return compareNumbers(a, b)
	case 2:
		return strings.Compare(text(a), text(b))
	case 3:
		x, _ := a.([]byte)
		y, _ := b.([]byte)
		return bytes.Compare(x, y)
	}
	return 0
}

func rank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case int64, float64:
		return 1
	case string:
		return 2
	}
	return 3
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

func compareNumbers(a, b any) int {
	ai, aInt := a.(int64)
	bi, bInt := b.(int64)
	if aInt && bInt {
		switch {
		case ai < bi:
			return -1
		case ai > bi:
			return 1
		}
		return 0
	}
	af, bf := toF(a), toF(b)
	switch {
	case af < bf:
		return -1
	case af > bf:
		return 1
	}
	return 0
}

func toF(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

// hashAggregate runs a group-by through jimu_group. keys and measures are
// SQL expressions (a measure is "" for count), a key cut to its first
// prefixes[i] characters when that is not 0; ok is false when the rows
// held something it does not handle or too many groups, and the caller
// runs the SQL GROUP BY instead.
func (s *Store) hashAggregate(ctx context.Context, entity, where string, args []any, keys []string, prefixes []int, buckets []*store.Bucketer, measures, ops []string, order []store.AggregateOrder, limit int) ([]store.AggregateRow, bool, error) {
	out, ok, err := s.hashAggregates(ctx, entity, where, args, []hashSpec{{keys, prefixes, buckets, measures, ops, order, limit}})
	if !ok || err != nil {
		return nil, ok, err
	}
	return out[0], true, nil
}

// hashSpec is one group-by of a hash pass.
type hashSpec struct {
	keys     []string
	prefixes []int
	buckets  []*store.Bucketer
	measures []string
	ops      []string
	order    []store.AggregateOrder
	limit    int
}

// hashAggregates runs several group-bys over the records matching one
// WHERE in one pass: SQLite reads and decodes each row once, and one call
// of jimu_groups hands it, each column converted once, to every group-by.
// ok is false as for hashAggregate, if any of them cannot be answered so.
// Over a large table the pass may run as two halves at once (split.go).
func (s *Store) hashAggregates(ctx context.Context, entity, where string, args []any, specs []hashSpec) ([][]store.AggregateRow, bool, error) {
	runs, ok, err := s.splitPass(ctx, entity, where, args, specs)
	if err == nil && !ok {
		runs, ok, err = hashPass(ctx, s.scan, entity, where, args, specs)
		if ok && err == nil {
			s.sawRows(entity, runs[0].seen)
		}
	}
	if !ok || err != nil {
		return nil, ok, err
	}
	hashRuns.Add(1)
	out := make([][]store.AggregateRow, len(specs))
	for i, sp := range specs {
		out[i] = runs[i].rows(sp.ops, sp.order, sp.limit)
	}
	return out, true, nil
}

// hashPass runs specs over the rows of entity matching where through db,
// returning each spec's groups.
func hashPass(ctx context.Context, db rowQuerier, entity, where string, args []any, specs []hashSpec) ([]*groupRun, bool, error) {
	runs := make([]*groupRun, len(specs))
	for i, sp := range specs {
		buckets := sp.buckets
		if buckets == nil {
			buckets = make([]*store.Bucketer, len(sp.keys))
		}
		runs[i] = &groupRun{nKeys: len(sp.keys), prefix: sp.prefixes, bucket: buckets, nums: make([]int64, len(sp.keys)), ops: sp.ops, index: map[string]*group{}}
	}
	h := groupSeq.Add(1)
	var q string
	if len(specs) == 1 {
		groupRuns.Store(h, runs[0])
		defer groupRuns.Delete(h)
		cols := append([]string{"?"}, specs[0].keys...)
		for _, m := range specs[0].measures {
			if m == "" {
				m = "NULL"
			}
			cols = append(cols, m)
		}
		q = `SELECT jimu_group(` + strings.Join(cols, ", ") + `)`
	} else {
		// One call per row for all of them, each column once.
		m := &multiRun{runs: runs}
		at := map[string]int{}
		var cols []string
		col := func(c string) int {
			if c == "" {
				return -1
			}
			i, ok := at[c]
			if !ok {
				i = len(cols)
				at[c], cols = i, append(cols, c)
			}
			return i
		}
		for _, sp := range specs {
			var ks, vs []int
			for _, k := range sp.keys {
				ks = append(ks, col(k))
			}
			for _, v := range sp.measures {
				vs = append(vs, col(v))
			}
			m.keys, m.vals = append(m.keys, ks), append(m.vals, vs)
			m.kbuf, m.vbuf = append(m.kbuf, make([]driver.Value, len(ks))), append(m.vbuf, make([]driver.Value, len(vs)))
		}
		multiRuns.Store(h, m)
		defer multiRuns.Delete(h)
		q = `SELECT jimu_groups(?, ` + strings.Join(cols, ", ") + `)`
	}
	q += ` FROM ` + recTable(entity) + ` WHERE ` + where
	var n int64
	if err := db.QueryRowContext(ctx, q, append([]any{h}, args...)...).Scan(&n); err != nil {
		if msg := err.Error(); strings.Contains(msg, errTooManyGroups.Error()) || strings.Contains(msg, errUnsupported.Error()) {
			return nil, false, nil
		}
		return nil, false, mapErr(entity, err)
	}
	return runs, true, nil
}

// rows is a run's groups measured, in order, the first limit of them.
func (run *groupRun) rows(ops []string, order []store.AggregateOrder, limit int) []store.AggregateRow {
	out := make([]store.AggregateRow, len(run.groups))
	for i, g := range run.groups {
		vals := make([]any, len(ops))
		for j, op := range ops {
			vals[j] = g.accs[j].value(op)
		}
		out[i] = store.AggregateRow{Keys: g.keys, Values: vals}
	}
	sort.Slice(out, func(i, j int) bool {
		for _, o := range order {
			a, b := out[i].Keys, out[j].Keys
			if o.Measure {
				a, b = out[i].Values, out[j].Values
			}
			if c := compareValues(a[o.Index], b[o.Index]); c != 0 {
				return (c < 0) != o.Desc
			}
		}
		a, b := out[i].Keys, out[j].Keys
		for k := range a {
			if c := compareValues(a[k], b[k]); c != 0 {
				return c < 0
			}
		}
		return false
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
