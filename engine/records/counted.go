package records

import (
	"context"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/store"
)

// findCounter is a store that can count a list's matches in the read
// that picks its page (the SQLite store, for scans); ok is false when it
// would gain nothing over a Count and a Find.
type findCounter interface {
	FindCounted(ctx context.Context, entity string, q store.Query, limit int64) (recs []*store.Record, n int64, capped, ok bool, err error)
}

// countedPage is a counted list's page and its count of the records
// matching where (first: q's filter is where, no cursor added to it). No
// page is read when the count is 0.
func (s *Service) countedPage(ctx context.Context, e *catalog.Entity, where *store.Cond, q store.Query, first bool) ([]*store.Record, int64, bool, error) {
	if narrowed(e, where) {
		// An index range: the count first, the page only if something
		// matches. Asking anyway is not free: the page's query walks the
		// sort order, and with nothing matching it walks every record (a
		// kanban column of records without a stage, over a million
		// deals), where the count had an index.
		n, capped, err := s.st.Count(ctx, e.Name, where, s.CountCap)
		if err != nil || n == 0 {
			return nil, n, capped, err
		}
		recs, err := s.st.Find(ctx, e.Name, q)
		return recs, n, capped, err
	}
	if fc, ok := s.st.(findCounter); ok && first {
		// One read for both: the scan's matches counted as its page is
		// picked.
		recs, n, capped, ok, err := fc.FindCounted(ctx, e.Name, q, s.CountCap)
		if err != nil || ok {
			return recs, n, capped, err
		}
	}
	// Two queries, each a scan of the entity when no index range narrows
	// it: asked at once, they take one scan's time rather than two on a
	// machine with a core for each.
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	type found struct {
		recs []*store.Record
		err  error
	}
	page := make(chan found, 1)
	go func() {
		recs, err := s.st.Find(fctx, e.Name, q)
		page <- found{recs, err}
	}()
	n, capped, err := s.st.Count(ctx, e.Name, where, s.CountCap)
	if err != nil || n == 0 {
		// The page is not needed; its query is cancelled and waited for,
		// so it does not hold a scan connection after the request ended.
		stop()
		<-page
		return nil, n, capped, err
	}
	f := <-page
	return f.recs, n, capped, f.err
}
