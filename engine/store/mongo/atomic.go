package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/jimu-crm/jimu/engine/store"
)

// Atomic runs fn in one multi-document transaction, which the driver (and
// atomic, for an outbox number taken first) may run again. Without
// transactions the writes are made one after the other: a failure stops the
// unit there, and what was written before it stays (docs/decisions.md 5).
func (s *Store) Atomic(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.atomic(ctx, func(sc context.Context) error {
		u := &unit{s: s, outer: ctx, sc: sc}
		if err := fn(u); err != nil {
			return err
		}
		return u.failed
	})
}

// unit is a store.Tx. Its writes run in the unit's session whatever
// context they are given: a caller's context does not carry it.
type unit struct {
	s     *Store
	outer context.Context // for explaining errors: the transaction is aborted by then
	sc    context.Context
	// failed is the first write that failed: the transaction is aborted,
	// or (without transactions) the unit stops there.
	failed error
}

var _ store.Tx = (*unit)(nil)

func (u *unit) ctx() context.Context { return u.sc }

func (u *unit) run(err error) error {
	if err != nil && u.failed == nil {
		u.failed = err
	}
	return err
}

func (u *unit) stopped() error {
	if u.failed != nil {
		return fmt.Errorf("mongo: the unit of work failed earlier: %w", u.failed)
	}
	return nil
}

func (u *unit) Insert(_ context.Context, entity string, r *store.Record, sd store.Sides) error {
	if err := u.stopped(); err != nil {
		return err
	}
	coll, err := u.s.records(entity)
	if err != nil {
		return u.run(err)
	}
	doc, err := recordDoc(r)
	if err != nil {
		return u.run(fmt.Errorf("%s: %w", entity, err))
	}
	err = u.s.insertIn(u.ctx(), coll, doc, sd)
	return u.run(u.s.recordErr(u.outer, coll, entity, doc, true, err))
}

func (u *unit) Update(_ context.Context, entity string, r *store.Record, sd store.Sides) error {
	if err := u.stopped(); err != nil {
		return err
	}
	coll, err := u.s.records(entity)
	if err != nil {
		return u.run(err)
	}
	if r.CreatedAt.IsZero() {
		old, err := u.Get(u.ctx(), entity, r.ID)
		if err != nil {
			return u.run(err)
		}
		rr := *r
		rr.CreatedAt, rr.CreatedBy = old.CreatedAt, old.CreatedBy
		r = &rr
	}
	doc, err := recordDoc(r)
	if err != nil {
		return u.run(fmt.Errorf("%s: %w", entity, err))
	}
	err = u.s.updateIn(u.ctx(), coll, entity, r, doc, sd)
	return u.run(u.s.recordErr(u.outer, coll, entity, doc, false, err))
}

func (u *unit) Delete(_ context.Context, entity, id string, version int64, sd store.Sides) error {
	if err := u.stopped(); err != nil {
		return err
	}
	coll, err := u.s.records(entity)
	if err != nil {
		return u.run(err)
	}
	err = u.s.deleteIn(u.ctx(), coll, entity, id, version, sd)
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		err = fmt.Errorf("mongo: delete %s %s: %w", entity, id, err)
	}
	return u.run(err)
}

func (u *unit) UnsetField(_ context.Context, entity, field string, sd store.Sides) error {
	if err := u.stopped(); err != nil {
		return err
	}
	return u.run(u.s.unsetIn(u.ctx(), entity, field, sd))
}

func (u *unit) PutDoc(_ context.Context, d *store.Doc, sd store.Sides) error {
	if err := u.stopped(); err != nil {
		return err
	}
	err := u.s.putDocIn(u.ctx(), d, sd)
	return u.run(u.s.putDocErr(u.outer, d, err))
}

func (u *unit) DeleteDoc(_ context.Context, kind, id string, sd store.Sides) error {
	if err := u.stopped(); err != nil {
		return err
	}
	return u.run(deleteDocErr(kind, id, u.s.deleteDocIn(u.ctx(), kind, id, sd)))
}

func (u *unit) Get(_ context.Context, entity, id string) (*store.Record, error) {
	coll, err := u.s.records(entity)
	if err != nil {
		return nil, err
	}
	raw, err := coll.FindOne(u.ctx(), bson.D{{Key: keyID, Value: id}}).Raw()
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s %s: %w", entity, id, store.ErrNotFound)
		}
		return nil, fmt.Errorf("mongo: %s: %w", entity, err)
	}
	return decodeRecord(raw)
}
