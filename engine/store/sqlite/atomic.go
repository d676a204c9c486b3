package sqlite

import (
	"context"

	"github.com/jimu-crm/jimu/engine/store"
)

// Atomic runs fn as one job of the single writer, in a transaction of its
// own: its writes commit together or not at all, and no other write
// interleaves, so what fn reads through tx cannot change under it. fn
// runs on the writer's goroutine and holds every other write back while it
// runs; it must not call the Store's own writes (they would wait for the
// writer it is holding).
func (s *Store) Atomic(ctx context.Context, fn func(tx store.Tx) error) error {
	u := &unit{s: s}
	err := s.txSolo(ctx, func(w *wtx) error {
		u.w, u.failed, u.wrote = w, nil, nil
		if err := fn(u); err != nil {
			return err
		}
		return u.failed // rolls the unit back even if fn carried on
	})
	// After the commit (see aggCache); harmless after a rollback.
	for _, e := range u.wrote {
		s.aggs.wrote(e)
	}
	return err
}

// AtomicGrouped is Atomic in the writer's group commit: fn runs in the
// batch's transaction after the writes queued before it (each job of a
// batch runs alone on the writer, so nothing interleaves within fn), and
// runs again, in a savepoint of its own, if another write of the batch
// fails. For small units made often (store.Grouped).
func (s *Store) AtomicGrouped(ctx context.Context, fn func(tx store.Tx) error) error {
	u := &unit{s: s}
	err := s.tx(ctx, func(w *wtx) error {
		u.w, u.failed, u.wrote = w, nil, nil
		if err := fn(u); err != nil {
			return err
		}
		return u.failed
	})
	for _, e := range u.wrote {
		s.aggs.wrote(e)
	}
	return err
}

var _ store.Grouped = (*Store)(nil)

// unit is a store.Tx over the writer's transaction.
type unit struct {
	s      *Store
	w      *wtx
	failed error
	wrote  []string // entities written, whose kept aggregates go
}

var _ store.Tx = (*unit)(nil)

func (u *unit) run(ctx context.Context, w write, err error) error {
	if err == nil {
		if err = u.failed; err == nil {
			err = w(ctx, u.w)
		}
	}
	if err != nil && u.failed == nil {
		u.failed = err
	}
	return err
}

func (u *unit) Insert(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	u.wrote = append(u.wrote, entity)
	w, err := u.s.prepareInsert(ctx, entity, r, sd)
	return u.run(ctx, w, err)
}

func (u *unit) Update(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	u.wrote = append(u.wrote, entity)
	w, err := u.s.prepareUpdate(ctx, entity, r, sd)
	return u.run(ctx, w, err)
}

func (u *unit) Delete(ctx context.Context, entity, id string, version int64, sd store.Sides) error {
	u.wrote = append(u.wrote, entity)
	w, err := u.s.prepareDelete(ctx, entity, id, version, sd)
	return u.run(ctx, w, err)
}

// UnsetField drops the field's column inside the unit; the writer reads
// the entity's columns again after the commit (keepPrepared).
func (u *unit) UnsetField(ctx context.Context, entity, field string, sd store.Sides) error {
	u.wrote = append(u.wrote, entity)
	es, err := encodeSides(sd)
	return u.run(ctx, func(ctx context.Context, tx *wtx) error {
		if err := dropField(ctx, tx.Tx, entity, field); err != nil {
			return err
		}
		l, err := readLayout(ctx, tx.Tx, entity)
		if err != nil {
			return err
		}
		if tx.layouts == nil {
			tx.layouts = map[string]*layout{}
		}
		tx.layouts[entity] = l
		return writeSides(ctx, tx, es)
	}, err)
}

func (u *unit) PutDoc(ctx context.Context, d *store.Doc, sd store.Sides) error {
	w, err := preparePutDoc(d, sd)
	return u.run(ctx, w, err)
}

func (u *unit) DeleteDoc(ctx context.Context, kind, id string, sd store.Sides) error {
	w, err := prepareDeleteDoc(kind, id, sd)
	return u.run(ctx, w, err)
}

func (u *unit) Get(ctx context.Context, entity, id string) (*store.Record, error) {
	return u.s.getRecord(ctx, u.w, entity, id)
}
