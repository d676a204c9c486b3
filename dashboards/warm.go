package dashboards

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// warm asks the store for the first aggregates of every widget of d at
// once (records.Service.AggregateMany), so the widgets' own requests —
// the app asks them all together — find their answers kept rather than
// each reading a million rows: on SQLite the widgets that read every row
// share one pass, a query two widgets ask runs once, and the rest run
// beside that pass. Concurrent requests for the same board, viewer and
// filters wait for one warm-up. Nothing it finds is returned: each
// widget is then computed exactly as alone, its refusals its own.
func (s *Service) warm(ctx context.Context, p *identity.Principal, d *Dashboard, values map[string]string) {
	// A store without AggregateMany (MongoDB) keeps no answers either:
	// warming would only ask everything twice.
	if _, ok := s.st.(store.ManyAggregator); !ok || len(d.Widgets) < 2 {
		return
	}
	keys := make([]string, 0, len(values))
	for k, v := range values {
		keys = append(keys, k+"="+v)
	}
	slices.Sort(keys)
	flight := strings.Join(append([]string{d.ID, strconv.FormatInt(d.Version, 10), p.UserID}, keys...), "\x00")
	// One viewer's request ending early must not cut the others' short.
	ctx = context.WithoutCancel(ctx)
	s.flights.Do(flight, func() (any, error) {
		byEntity := map[string][]records.AggregateParams{}
		var order []string
		for i := range d.Widgets {
			pl, err := s.plan(p, d, &d.Widgets[i], values)
			if err != nil {
				continue
			}
			if byEntity[pl.e.Name] == nil {
				order = append(order, pl.e.Name)
			}
			byEntity[pl.e.Name] = append(byEntity[pl.e.Name], pl.upfront()...)
		}
		for _, e := range order {
			if aps := byEntity[e]; len(aps) > 1 {
				s.rec.AggregateMany(ctx, p, e, aps)
			}
		}
		return nil, nil
	})
}
