package sqlite

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jimu-crm/jimu/engine/store"
)

// sharedPasses counts hash passes that answered more than one aggregate,
// for tests.
var sharedPasses atomic.Int64

// AggregateMany answers several aggregates of one entity (a dashboard's
// widgets): those the aggregate cache holds from it; the same aggregate
// asked twice once; those that would each read every matching row
// through the hash aggregate, and share their filter, in one pass; the
// rest each as Aggregate does, at the same time as that pass. Each answer
// is kept in the aggregate cache as Aggregate keeps it. errs[i] is
// query i's error.
func (s *Store) AggregateMany(ctx context.Context, entity string, qs []store.AggregateQuery) ([][]store.AggregateRow, []error) {
	out, errs := make([][]store.AggregateRow, len(qs)), make([]error, len(qs))
	gen := s.aggs.gen(entity).Load()
	ev, err := s.lastEvent(ctx, entity)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return out, errs
	}
	plans := make([]*aggPlan, len(qs))
	same := map[string][]int{} // cache key → the queries asking it
	var todo []int             // one query per key not kept
	for i, q := range qs {
		if plans[i], errs[i] = s.planAggregate(ctx, entity, q); errs[i] != nil {
			continue
		}
		if rows, ok := s.aggs.get(plans[i].key, gen, ev); ok {
			out[i] = rows
			continue
		}
		k := plans[i].key
		if same[k] == nil {
			todo = append(todo, i)
		}
		same[k] = append(same[k], i)
	}
	// Group-bys by their WHERE and its arguments: where one of a set
	// would read every matching row through the hash aggregate, the whole
	// set is one pass — a group-by an index would have answered alone
	// (a funnel by stage over its index) costs that pass a few dozen
	// nanoseconds a row more, where alone it walks a million index
	// entries on the same two cores.
	passes := map[string][]int{}
	scans := map[string]bool{}
	var order []string
	var alone []int
	for _, i := range todo {
		pl := plans[i]
		if len(pl.raw) == 0 || !groupInGo {
			alone = append(alone, i)
			continue
		}
		w := pl.where + "\x00" + fmt.Sprintf("%#v", pl.args)
		if passes[w] == nil {
			order = append(order, w)
		}
		passes[w] = append(passes[w], i)
		if !scans[w] && s.sortsToGroup(ctx, pl.query, pl.args) {
			scans[w] = true
		}
	}
	for _, w := range order {
		if !scans[w] {
			alone = append(alone, passes[w]...)
			passes[w] = nil
		}
	}
	var wg sync.WaitGroup
	run := func(i int) {
		defer wg.Done()
		out[i], errs[i] = s.runPlan(ctx, entity, plans[i])
	}
	for _, w := range order {
		if ids := passes[w]; len(ids) == 1 {
			alone = append(alone, ids[0])
		}
	}
	for _, i := range alone {
		wg.Add(1)
		go run(i)
	}
	for _, w := range order {
		ids := passes[w]
		if len(ids) < 2 {
			continue
		}
		specs := make([]hashSpec, len(ids))
		for j, i := range ids {
			pl := plans[i]
			specs[j] = hashSpec{pl.raw, pl.prefixes, pl.buckets, pl.measures, pl.ops, pl.q.OrderBy, pl.q.Limit}
		}
		pl := plans[ids[0]]
		rows, ok, err := s.hashAggregates(ctx, entity, pl.where, pl.args, specs)
		switch {
		case err != nil:
			for _, i := range ids {
				errs[i] = err
			}
		case ok:
			sharedPasses.Add(1)
			for j, i := range ids {
				out[i] = rows[j]
			}
		default:
			// Something the hash pass does not handle: each on its own.
			for _, i := range ids {
				wg.Add(1)
				go run(i)
			}
		}
	}
	wg.Wait()
	for _, i := range todo {
		if errs[i] != nil {
			continue
		}
		s.aggs.put(plans[i].key, gen, ev, out[i])
		for _, j := range same[plans[i].key][1:] {
			out[j] = copyRows(out[i])
		}
	}
	for _, i := range todo {
		for _, j := range same[plans[i].key][1:] {
			errs[j] = errs[i]
		}
	}
	return out, errs
}
