package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jimu-crm/jimu/engine/store"
)

// A lease is a run of documents, one per change (epoch): _id
// "<name>#<epoch>", the newest being the lease's state. A change reads the
// newest and inserts the next epoch; the unique _id lets one of two
// racing changes win, the other sees a duplicate key and looks again.
// Inserts are the only write whose outcome does not depend on a read: on
// FerretDB v1 an update or findAndModify reads the document and writes it
// back without isolation, so two claims by update could both succeed.
// Older epochs are deleted after each change.

// maxLeaseRaces bounds how often a lease change is tried again after
// losing a race.
const maxLeaseRaces = 8

type leaseState struct {
	store.Lease
	epoch int64
	until int64 // Unix milliseconds
}

func leaseKey(name string, epoch int64) string { return fmt.Sprintf("%s#%020d", name, epoch) }

func (s *Store) currentLease(ctx context.Context, name string) (leaseState, error) {
	st := leaseState{Lease: store.Lease{Name: name}}
	raw, err := s.db.Collection(collLeases).FindOne(ctx, bson.D{{Key: "name", Value: name}},
		options.FindOne().SetSort(bson.D{{Key: "epoch", Value: -1}})).Raw()
	if notFound(err) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("mongo: lease %s: %w", name, err)
	}
	st.epoch, _ = asInt64(raw.Lookup("epoch"))
	st.until, _ = asInt64(raw.Lookup("until"))
	st.Token, _ = asInt64(raw.Lookup("token"))
	st.Holder = str(raw, "holder")
	if st.Holder != "" {
		st.Until = time.UnixMilli(st.until).UTC()
	}
	return st, nil
}

// changeLease applies next to the current state until it wins a race or
// next declines (returns false).
func (s *Store) changeLease(ctx context.Context, name string, next func(cur leaseState) (leaseState, bool)) (leaseState, bool, error) {
	coll := s.db.Collection(collLeases)
	for range maxLeaseRaces {
		cur, err := s.currentLease(ctx, name)
		if err != nil {
			return cur, false, err
		}
		n, ok := next(cur)
		if !ok {
			return cur, false, nil
		}
		n.epoch = cur.epoch + 1
		_, err = coll.InsertOne(ctx, bson.D{
			{Key: keyID, Value: leaseKey(name, n.epoch)}, {Key: "name", Value: name}, {Key: "epoch", Value: n.epoch},
			{Key: "holder", Value: n.Holder}, {Key: "until", Value: n.until}, {Key: "token", Value: n.Token},
		})
		if mongo.IsDuplicateKeyError(err) {
			continue // changed under us: look again
		}
		if err != nil {
			return cur, false, fmt.Errorf("mongo: lease %s: %w", name, err)
		}
		// Best effort: a later change deletes what this one leaves.
		_, _ = coll.DeleteMany(ctx, bson.D{{Key: "name", Value: name}, {Key: "epoch", Value: bson.D{{Key: "$lt", Value: n.epoch}}}})
		if n.Holder != "" {
			n.Until = time.UnixMilli(n.until).UTC()
		}
		return n, true, nil
	}
	return leaseState{}, false, fmt.Errorf("mongo: lease %s: lost %d races in a row", name, maxLeaseRaces)
}

// ClaimLease takes the lease when free or expired, or extends holder's own.
func (s *Store) ClaimLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, bool, error) {
	if name == "" || holder == "" {
		return store.Lease{}, false, errors.New("mongo: a lease needs a name and a holder")
	}
	at := now.UnixMilli()
	st, ok, err := s.changeLease(ctx, name, func(cur leaseState) (leaseState, bool) {
		live := cur.Holder != "" && cur.until > at
		if live && cur.Holder != holder {
			return cur, false
		}
		n := leaseState{Lease: store.Lease{Name: name, Holder: holder, Token: cur.Token + 1}, until: now.Add(ttl).UnixMilli()}
		if live {
			n.Token = cur.Token // the holder extends its own tenure
		}
		return n, true
	})
	return st.Lease, ok, err
}

// RenewLease extends holder's lease while it still holds it.
func (s *Store) RenewLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	if holder == "" {
		return false, nil
	}
	at := now.UnixMilli()
	_, ok, err := s.changeLease(ctx, name, func(cur leaseState) (leaseState, bool) {
		if cur.Holder != holder || cur.until <= at {
			return cur, false
		}
		n := cur
		n.until = now.Add(ttl).UnixMilli()
		return n, true
	})
	return ok, err
}

// ReleaseLease frees holder's lease, keeping its token.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if holder == "" {
		return nil
	}
	_, _, err := s.changeLease(ctx, name, func(cur leaseState) (leaseState, bool) {
		if cur.Holder != holder {
			return cur, false
		}
		return leaseState{Lease: store.Lease{Name: name, Token: cur.Token}}, true
	})
	return err
}

// GetLease returns the lease's newest state.
func (s *Store) GetLease(ctx context.Context, name string) (store.Lease, error) {
	st, err := s.currentLease(ctx, name)
	return st.Lease, err
}
