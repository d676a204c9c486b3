package records

import (
	"context"
	"errors"

	"github.com/jimu-crm/jimu/engine/store"
)

// Unit ties one write of the pipeline to a caller's own bookkeeping: a
// workflow action marks its step done in the run log in the same unit of
// work as the record it creates or changes, so a retried run finds the
// mark and never applies the change twice. The caller passes it in the
// context (WithUnit) because the write may be reached through another
// service (a task created through the activity module).
type Unit struct {
	// Before is written in the unit ahead of the record's own write, with
	// the record about to be written (the old one for a delete); it may
	// read through tx what the unit sees. The pipeline may run the unit
	// again (another writer changed the record in between), so Before must
	// find its own write already made and not fail on it. Where a
	// store has no transactions the unit's writes are made one after the
	// other and stop at the first failure, so writing the mark first
	// makes the change happen at most once even there.
	Before func(ctx context.Context, tx store.Tx, entity string, r *store.Record) error
	// Prepare, when set, is called with the same record before the unit
	// is queued for the store's writer, outside it: what Before will
	// write can be made (encoded) there, so that the single writer, which
	// every write waits for, only writes it. It runs again whenever the
	// unit does.
	Prepare func(entity string, r *store.Record) error
	// DryRun runs the pipeline up to the write and stops: nothing is
	// written (an auto-number is not drawn), Would holds the record that
	// would have been written and the write returns ErrDryRun.
	DryRun bool
	Would  *store.Record
	// Used is set once the unit has committed a write.
	Used bool
}

// ErrDryRun is what a write under a dry-run Unit returns instead of
// writing.
var ErrDryRun = errors.New("dry run: nothing written")

type unitKey struct{}

// WithUnit returns a context whose next pipeline write runs under u.
func WithUnit(ctx context.Context, u *Unit) context.Context {
	return context.WithValue(ctx, unitKey{}, u)
}

func unitFrom(ctx context.Context) *Unit {
	u, _ := ctx.Value(unitKey{}).(*Unit)
	return u
}

// commit makes a pipeline's final write: on its own, or in a unit of work
// after the caller's Before. r is the record written (or deleted).
func (s *Service) commit(ctx context.Context, entity string, r *store.Record, write func(w store.Writes) error) error {
	u := unitFrom(ctx)
	if u == nil {
		return write(s.st)
	}
	if u.DryRun {
		u.Would = cloneRecord(r)
		return ErrDryRun
	}
	if u.Before == nil {
		return write(s.st)
	}
	if u.Prepare != nil {
		if err := u.Prepare(entity, r); err != nil {
			return &UnitError{Err: err}
		}
	}
	var before error
	err := store.GroupedAtomic(ctx, s.st, func(tx store.Tx) error {
		if before = u.Before(ctx, tx, entity, r); before != nil {
			return before
		}
		return write(tx)
	})
	if before != nil {
		// Not the record's conflict: the pipeline must not take it for a
		// race with another writer of the record and try again.
		return &UnitError{Err: before}
	}
	if err == nil {
		u.Used = true
	}
	return err
}

// UnitError is a Unit's own write failing, which failed the record's
// write with it. It does not unwrap: a conflict on the caller's document
// is not a conflict on the record.
type UnitError struct{ Err error }

func (e *UnitError) Error() string { return "records: the unit's own write failed: " + e.Err.Error() }
