package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jimu-crm/jimu/engine/store"
)

// A dashboard asks the same aggregates again and again while the data
// changes far less often, so an aggregate's rows are kept until the next
// write to its entity, exactly. A kept answer carries two versions of its
// entity, read before the query ran, and is used only while both are
// still current: this process's write generation, bumped after each of its
// writes commits (writes without an outbox event included), and the seq of
// the entity's newest outbox event, which every write through the pipeline
// commits — so a write by another jimu serve on the same file counts too.
// The key is the statement and its bound arguments, row rules included,
// so one user's answer never serves another whose rules differ.

// maxCachedAggregates bounds the answers kept, past which the cache starts
// over; an answer of more than maxCachedRows groups is not kept at all.
const (
	maxCachedAggregates = 256
	maxCachedRows       = 1000
)

type aggCache struct {
	gens sync.Map // entity → *atomic.Uint64

	mu   sync.Mutex
	rows map[string]cachedAgg
}

type cachedAgg struct {
	gen  uint64
	ev   int64 // the entity's newest event, 0 for none
	rows []store.AggregateRow
}

func (c *aggCache) gen(entity string) *atomic.Uint64 {
	if g, ok := c.gens.Load(entity); ok {
		return g.(*atomic.Uint64)
	}
	g, _ := c.gens.LoadOrStore(entity, new(atomic.Uint64))
	return g.(*atomic.Uint64)
}

// wrote marks the entity's kept aggregates out of date; call it after the
// write committed (or failed: a spare bump only costs a recomputation).
func (c *aggCache) wrote(entity string) { c.gen(entity).Add(1) }

func aggKey(entity, query string, args []any) string {
	var sb strings.Builder
	sb.WriteString(entity + "\x00" + query)
	for _, a := range args {
		fmt.Fprintf(&sb, "\x00%T:%v", a, a)
	}
	return sb.String()
}

func (c *aggCache) get(key string, gen uint64, ev int64) ([]store.AggregateRow, bool) {
	c.mu.Lock()
	e, ok := c.rows[key]
	c.mu.Unlock()
	if !ok || e.gen != gen || e.ev != ev {
		return nil, false
	}
	return copyRows(e.rows), true
}

func (c *aggCache) put(key string, gen uint64, ev int64, rows []store.AggregateRow) {
	if len(rows) > maxCachedRows {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil || len(c.rows) >= maxCachedAggregates {
		c.rows = map[string]cachedAgg{}
	}
	c.rows[key] = cachedAgg{gen: gen, ev: ev, rows: copyRows(rows)}
}

func copyRows(rows []store.AggregateRow) []store.AggregateRow {
	out := make([]store.AggregateRow, len(rows))
	for i, r := range rows {
		out[i] = store.AggregateRow{Keys: append([]any(nil), r.Keys...), Values: append([]any(nil), r.Values...)}
	}
	return out
}

// lastEvent is the seq of entity's newest outbox event (0: none), read
// through the entity index.
func (s *Store) lastEvent(ctx context.Context, entity string) (int64, error) {
	var seq sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT max(seq) FROM events WHERE entity = ?`, entity).Scan(&seq)
	return seq.Int64, err
}
