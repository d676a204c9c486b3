// Package outbox keeps the outbox of a running Jimu in shape: the pruner
// deletes events that every consumer has passed once they are older than
// the retention, in bounded batches, on one node at a time.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

// DefaultRetention is how long processed events are kept.
const DefaultRetention = 7 * 24 * time.Hour

// leaseName is the lease the nodes of one store take turns on, so one of
// them prunes at a time.
const leaseName = "outbox:prune"

// Pruner deletes old events (store.Outbox.PruneEvents).
type Pruner struct {
	Store     store.Store
	Retention time.Duration // events younger than this stay; 0: every event stays
	Batch     int           // events per delete (0: 1,000)
	Every     time.Duration // between runs (0: 10 minutes)
	Node      string        // this node's name, as the holder of the lease
	Log       *slog.Logger
	Now       func() time.Time // nil: time.Now
}

func (p *Pruner) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pruner) every() time.Duration {
	if p.Every > 0 {
		return p.Every
	}
	return 10 * time.Minute
}

// Run prunes every p.Every until ctx ends.
func (p *Pruner) Run(ctx context.Context) {
	if p.Retention <= 0 {
		return
	}
	t := time.NewTicker(p.every())
	defer t.Stop()
	for {
		if n, err := p.Once(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.Log.Warn("outbox: pruning failed", "err", err)
		} else if n > 0 {
			p.Log.Info("outbox: pruned events", "events", n, "older_than", p.Retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once prunes what is due now, batch after batch, when this node holds
// the pruning lease; it reports how many events it deleted.
func (p *Pruner) Once(ctx context.Context) (int, error) {
	if p.Retention <= 0 {
		return 0, nil
	}
	now := p.now()
	// Held for two periods: a node that stops pruning hands over after that.
	if _, ok, err := p.Store.ClaimLease(ctx, leaseName, p.Node, now, 2*p.every()); err != nil || !ok {
		return 0, err
	}
	batch := p.Batch
	if batch <= 0 {
		batch = 1000
	}
	total := 0
	for {
		n, err := p.Store.PruneEvents(ctx, now.Add(-p.Retention), batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
}
