package sqlite

import (
	"context"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jimu-crm/jimu/engine/store"
)

// A list or count that no index serves reads every record of its entity:
// tens of milliseconds at 20,000 records, hundreds at a million. The same
// list view is opened again and again (each salesperson's "open deals",
// the page the app reloads after a dialog closes) far more often than its
// entity is written, so such an answer is kept until the entity's next
// write, on the terms of the aggregate cache (aggcache.go): the key is the
// statement with its bound arguments, row rules included, and a kept
// answer serves only while the entity's write generation and newest outbox
// event are those read before it was computed. Answers an index serves are
// never kept: they cost less than the check.

// maxCachedFinds bounds the answers kept, past which the cache starts over;
// a page of more than maxCachedRecords records is not kept.
const (
	maxCachedFinds   = 256
	maxCachedRecords = 200
	maxScanVerdicts  = 1024
)

// scansRun counts the whole-table lists and counts computed, for tests.
var scansRun atomic.Int64

type findCache struct {
	mu    sync.Mutex
	pages map[string]cachedFind
	// scans holds, by statement, whether SQLite's plan for it reads the
	// whole record table; the plan of a statement does not depend on its
	// arguments' values here (no index to choose between on the scanned
	// columns), and asking costs a prepare.
	scans map[string]scanPlan
}

type cachedFind struct {
	gen   uint64
	ev    int64
	recs  []*store.Record
	count int64
}

func (c *findCache) get(key string, gen uint64, ev int64) (cachedFind, bool) {
	c.mu.Lock()
	e, ok := c.pages[key]
	c.mu.Unlock()
	if !ok || e.gen != gen || e.ev != ev {
		return cachedFind{}, false
	}
	e.recs = copyRecords(e.recs)
	return e, true
}

func (c *findCache) put(key string, e cachedFind) {
	if len(e.recs) > maxCachedRecords {
		return
	}
	e.recs = copyRecords(e.recs)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pages == nil || len(c.pages) >= maxCachedFinds {
		c.pages = map[string]cachedFind{}
	}
	c.pages[key] = e
}

// scans reports whether query reads every record of entity: SQLite's
// plan SCANs its table without an index, and either a filter leaves it
// reading until enough records match (or to the end) or it sorts them all
// (a temporary b-tree). An unfiltered SCAN without a sort is a walk of the
// primary key — what a WITHOUT ROWID table's plan calls a SCAN — which a
// LIMIT stops after a page. The plan is asked once per statement.
func (s *Store) scans(ctx context.Context, entity, query string, args []any, filtered bool) bool {
	p, ok := s.planOf(ctx, entity, query, args)
	return ok && p.table && (filtered || p.sorts)
}

// scanPlan is what scans needs of a statement's plan.
type scanPlan struct{ table, sorts bool }

func (s *Store) planOf(ctx context.Context, entity, query string, args []any) (scanPlan, bool) {
	c := &s.finds
	c.mu.Lock()
	v, ok := c.scans[query]
	c.mu.Unlock()
	if ok {
		return v, true
	}
	plan, err := s.explain(ctx, query, args)
	if err != nil {
		return scanPlan{}, false
	}
	table := "SCAN " + strings.Trim(recTable(entity), `"`)
	var p scanPlan
	for _, detail := range plan {
		if detail == table || strings.HasPrefix(detail, table+" ") && !strings.Contains(detail, "INDEX") {
			p.table = true
		}
		if strings.Contains(detail, "TEMP B-TREE FOR ORDER BY") {
			p.sorts = true
		}
	}
	c.mu.Lock()
	if c.scans == nil || len(c.scans) >= maxScanVerdicts {
		c.scans = map[string]scanPlan{}
	}
	c.scans[query] = p
	c.mu.Unlock()
	return p, true
}

// kept runs compute unless an answer to the same statement is kept and
// current; it keeps what compute returns when the statement scans, and
// tells compute whether it does.
func (s *Store) kept(ctx context.Context, entity, query string, args []any, filtered bool, compute func(scans bool) (cachedFind, error)) (cachedFind, error) {
	if !s.scans(ctx, entity, query, args, filtered) {
		return compute(false)
	}
	gen := s.aggs.gen(entity).Load()
	ev, err := s.lastEvent(ctx, entity)
	if err != nil {
		return cachedFind{}, err
	}
	key := aggKey(entity, query, args)
	if e, ok := s.finds.get(key, gen, ev); ok {
		return e, nil
	}
	scansRun.Add(1)
	e, err := compute(true)
	if err != nil {
		return e, err
	}
	e.gen, e.ev = gen, ev
	s.finds.put(key, e)
	return e, nil
}

// copyRecords copies records deeply enough that a caller changing one
// (its data, a list in it) never changes a kept one.
func copyRecords(recs []*store.Record) []*store.Record {
	if recs == nil {
		return nil
	}
	out := make([]*store.Record, len(recs))
	for i, r := range recs {
		c := *r
		c.Data = copyValue(r.Data).(map[string]any)
		c.Unreadable = maps.Clone(r.Unreadable)
		out[i] = &c
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = copyValue(x)
		}
		return m
	case []any:
		if v == nil {
			return v
		}
		s := make([]any, len(v))
		for i, x := range v {
			s[i] = copyValue(x)
		}
		return s
	}
	return v
}
