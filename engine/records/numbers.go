package records

import (
	"math"
	"strconv"
	"sync"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// servable makes records read from the store safe to serve: an integer
// field holding a float (12345678901234567890 was stored as 1.23e19 by
// versions before issue 13) becomes the int64 it stands for, or, when no
// int64 does, is left out like the values the store could not read at all
// (±Inf). Each record holding such values is logged once, by entity, id
// and field, so an operator learns to run `jimu doctor --repair`; the
// record itself reads, lists, updates and deletes as if they were empty.
func (s *Service) servable(e *catalog.Entity, rs ...*store.Record) {
	for _, r := range rs {
		for name, v := range r.Data {
			f, ok := v.(float64)
			if !ok {
				continue
			}
			if kind, _ := e.KindOf(name); kind != metadata.KindInteger {
				continue
			}
			if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
				r.Data[name] = int64(f)
				continue
			}
			delete(r.Data, name)
			r.Unreadable.Add(name, strconv.FormatFloat(f, 'g', -1, 64))
		}
		if len(r.Unreadable) > 0 && s.warned.first(e.Name, r.ID) {
			s.log.Warn("record holds numbers that cannot be served; they read as empty until repaired with jimu doctor --repair",
				"entity", e.Name, "id", r.ID, "fields", r.Unreadable.Fields(), "stored", map[string]string(r.Unreadable))
		}
	}
}

// logOnce remembers which records were logged, so a list read every few
// seconds does not repeat the warning; it forgets everything past a bound.
type logOnce struct {
	mu   sync.Mutex
	seen map[string]bool
}

const maxWarned = 10000

func (o *logOnce) first(entity, id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := entity + "/" + id
	if o.seen[key] {
		return false
	}
	if o.seen == nil || len(o.seen) >= maxWarned {
		o.seen = map[string]bool{}
	}
	o.seen[key] = true
	return true
}

// finiteRows replaces non-finite aggregate results with nil: a sum over an
// unreadable value (SQLite reads 1e400 as +Inf) or one that overflows
// float64 has no JSON form. It reports whether any was replaced.
func finiteRows(rows []store.AggregateRow) bool {
	replaced := false
	for _, r := range rows {
		for _, vals := range [][]any{r.Keys, r.Values} {
			for i, v := range vals {
				if f, ok := v.(float64); ok && !store.Finite(f) {
					vals[i] = nil
					replaced = true
				}
			}
		}
	}
	return replaced
}
