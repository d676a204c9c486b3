package mongo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// The outbox is the events collection, and an event's _id is its sequence
// number (20 digits, so string order is number order, and FerretDB, which
// looks up only string and ObjectID _ids by index, finds one directly).
// Numbers are taken in order: a writer takes n+1 only once it has seen n
// committed, and the unique _id lets one writer have each number. So when
// n+1 is visible, n is too, and a reader that read up to n and asks for
// what follows can never miss an event that commits later
// (docs/decisions.md, "A commit-ordered outbox").
//
// In a transaction the number is taken last, as the event is written: the
// transactions of every node that write an event queue on the next number
// (a write conflict, which the driver retries), and a transaction commits
// with the number it read in its snapshot or not at all. Without
// transactions (FerretDB v1, a standalone mongod) the insert is the commit;
// a node takes numbers one at a time, and another node's number makes the
// insert fail with a duplicate key and the writer look further.

// maxSeqAttempts bounds how often a writer tries again for a number
// another node took first.
const maxSeqAttempts = 1000

// errSeqTaken makes atomic run a transaction again.
var errSeqTaken = errors.New("outbox sequence number taken by another writer")

func seqKey(n int64) string { return fmt.Sprintf("%020d", n) }

func seqOf(c store.Cursor) (int64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(c), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("mongo: invalid outbox cursor %q", c)
	}
	return n, nil
}

// loadLastSeq starts the node at the newest event (PruneEvents keeps it).
func (s *Store) loadLastSeq(ctx context.Context) error {
	raw, err := s.db.Collection(collEvents).FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: keyID, Value: -1}}).SetProjection(bson.D{{Key: keyID, Value: 1}})).Raw()
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mongo: newest event: %w", err)
	}
	n, err := strconv.ParseInt(str(raw, keyID), 10, 64)
	if err != nil {
		return fmt.Errorf("mongo: corrupt event id %q", str(raw, keyID))
	}
	s.lastSeq = n
	return nil
}

func (s *Store) seqTaken(ctx context.Context, n int64) (bool, error) {
	c, err := s.db.Collection(collEvents).CountDocuments(ctx, bson.D{{Key: keyID, Value: seqKey(n)}}, options.Count().SetLimit(1))
	return c > 0, err
}

// firstFree returns the first number after from-1 that no event has,
// from-1 being taken (or nothing). Numbers in use form one run up to the
// newest, so it doubles its step, then halves the gap.
func (s *Store) firstFree(ctx context.Context, from int64) (int64, error) {
	taken, err := s.seqTaken(ctx, from)
	if err != nil || !taken {
		return from, err
	}
	lo, step := from, int64(1)
	hi := lo + step
	for {
		if taken, err = s.seqTaken(ctx, hi); err != nil {
			return 0, err
		}
		if !taken {
			break
		}
		lo, step = hi, step*2
		hi = lo + step
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if taken, err = s.seqTaken(ctx, mid); err != nil {
			return 0, err
		}
		if taken {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}

// insertEvent gives the event the next sequence number and writes it.
func (s *Store) insertEvent(ctx context.Context, fields bson.D) error {
	coll := s.db.Collection(collEvents)
	if s.txn {
		// Reads in the transaction see its snapshot: what they find taken
		// is committed.
		s.seqMu.Lock()
		from := s.lastSeq + 1
		s.seqMu.Unlock()
		n, err := s.firstFree(ctx, from)
		if err != nil {
			return err
		}
		s.noteSeq(n - 1)
		if _, err := coll.InsertOne(ctx, append(bson.D{{Key: keyID, Value: seqKey(n)}}, fields...)); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return errSeqTaken
			}
			return err
		}
		return nil
	}
	// One number at a time on this node, so its own writers never collide.
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	n := s.lastSeq + 1
	for range maxSeqAttempts {
		_, err := coll.InsertOne(ctx, append(bson.D{{Key: keyID, Value: seqKey(n)}}, fields...))
		if err == nil {
			s.lastSeq = n
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return err
		}
		// Another node has it: it was committed, and so was every number
		// below it.
		if n, err = s.firstFree(ctx, n+1); err != nil {
			return err
		}
		s.lastSeq = n - 1
	}
	return errSeqTaken
}

func (s *Store) noteSeq(n int64) {
	s.seqMu.Lock()
	s.lastSeq = max(s.lastSeq, n)
	s.seqMu.Unlock()
}

func eventDoc(e *store.Event) (bson.D, error) {
	if e.ID == "" {
		return nil, fmt.Errorf("event without id")
	}
	body, err := store.MarshalEventBody(e)
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	return bson.D{
		{Key: "id", Value: e.ID},
		{Key: "type", Value: e.Type},
		{Key: "entity", Value: e.Entity},
		{Key: "record_id", Value: e.RecordID},
		{Key: keyVersion, Value: e.Version},
		{Key: "actor", Value: e.Actor},
		{Key: "at", Value: metadata.FormatDateTime(e.At)},
		{Key: "body", Value: string(body)},
	}, nil
}

// Events returns the events after the cursor, by sequence number, read on
// one snapshot (when the server has transactions), so a find that yields
// half-way cannot see a later number without the one before it.
func (s *Store) Events(ctx context.Context, after store.Cursor, limit int) ([]*store.Event, error) {
	return s.EventsFor(ctx, after, limit, nil)
}

func (s *Store) EventsFor(ctx context.Context, after store.Cursor, limit int, want func(typ, entity string) bool) ([]*store.Event, error) {
	seq, err := seqOf(after)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	var out []*store.Event
	err = s.snapshot(ctx, func(ctx context.Context) error {
		out = out[:0]
		cur, err := s.db.Collection(collEvents).Find(ctx,
			bson.D{{Key: keyID, Value: bson.D{{Key: "$gt", Value: seqKey(seq)}}}},
			options.Find().SetSort(bson.D{{Key: keyID, Value: 1}}).SetLimit(int64(limit)))
		if err != nil {
			return err
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			raw := cur.Current
			n, err := strconv.ParseInt(str(raw, keyID), 10, 64)
			if err != nil {
				return fmt.Errorf("corrupt event id %q", str(raw, keyID))
			}
			e := &store.Event{
				ID:       str(raw, "id"),
				Cursor:   store.Cursor(strconv.FormatInt(n, 10)),
				Type:     str(raw, "type"),
				Entity:   str(raw, "entity"),
				RecordID: str(raw, "record_id"),
				Actor:    str(raw, "actor"),
				At:       parseTime(raw.Lookup("at")),
			}
			e.Version, _ = asInt64(raw.Lookup(keyVersion))
			if want != nil && !want(e.Type, e.Entity) {
				e.Bare = true
			} else if err := store.UnmarshalEventBody([]byte(str(raw, "body")), e); err != nil {
				return fmt.Errorf("event %d: %w", n, err)
			}
			out = append(out, e)
		}
		return cur.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("mongo: events: %w", err)
	}
	return out, nil
}

// SaveCheckpoint records a consumer's cursor.
func (s *Store) SaveCheckpoint(ctx context.Context, consumer string, c store.Cursor) error {
	seq, err := seqOf(c)
	if err != nil {
		return err
	}
	if consumer == "" {
		return errors.New("mongo: checkpoint without a consumer name")
	}
	_, err = s.db.Collection(collCheckpoints).ReplaceOne(ctx, bson.D{{Key: keyID, Value: consumer}},
		bson.D{{Key: keyID, Value: consumer}, {Key: "seq", Value: seq}, {Key: "at", Value: metadata.FormatDateTime(time.Now())}},
		options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("mongo: checkpoint %s: %w", consumer, err)
	}
	return nil
}

// Checkpoint returns a consumer's cursor, zero when it has none.
func (s *Store) Checkpoint(ctx context.Context, consumer string) (store.Cursor, error) {
	raw, err := s.db.Collection(collCheckpoints).FindOne(ctx, bson.D{{Key: keyID, Value: consumer}}).Raw()
	if notFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("mongo: checkpoint %s: %w", consumer, err)
	}
	n, _ := asInt64(raw.Lookup("seq"))
	return store.Cursor(strconv.FormatInt(n, 10)), nil
}

// DeleteCheckpoint forgets a consumer.
func (s *Store) DeleteCheckpoint(ctx context.Context, consumer string) error {
	if _, err := s.db.Collection(collCheckpoints).DeleteOne(ctx, bson.D{{Key: keyID, Value: consumer}}); err != nil {
		return fmt.Errorf("mongo: checkpoint %s: %w", consumer, err)
	}
	return nil
}

// PruneEvents deletes, oldest first, up to limit events older than before
// that every checkpoint has passed, keeping the newest. It stops at the
// first event too young, so it reads at most limit events.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	events := s.db.Collection(collEvents)
	newest, err := events.FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: keyID, Value: -1}}).SetProjection(bson.D{{Key: keyID, Value: 1}})).Raw()
	if notFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("mongo: prune: %w", err)
	}
	bound := str(newest, keyID) // exclusive
	oldest, err := s.db.Collection(collCheckpoints).FindOne(ctx, bson.D{},
		options.FindOne().SetSort(bson.D{{Key: "seq", Value: 1}})).Raw()
	switch {
	case notFound(err):
	case err != nil:
		return 0, fmt.Errorf("mongo: prune: %w", err)
	default:
		if n, _ := asInt64(oldest.Lookup("seq")); seqKey(n+1) < bound {
			bound = seqKey(n + 1)
		}
	}
	cur, err := events.Find(ctx, bson.D{{Key: keyID, Value: bson.D{{Key: "$lt", Value: bound}}}},
		options.Find().SetSort(bson.D{{Key: keyID, Value: 1}}).SetLimit(int64(limit)).
			SetProjection(bson.D{{Key: keyID, Value: 1}, {Key: "at", Value: 1}}))
	if err != nil {
		return 0, fmt.Errorf("mongo: prune: %w", err)
	}
	cut := metadata.FormatDateTime(before)
	last := ""
	for cur.Next(ctx) {
		if str(cur.Current, "at") >= cut {
			break
		}
		last = str(cur.Current, keyID)
	}
	err = cur.Err()
	cur.Close(ctx)
	if err != nil {
		return 0, fmt.Errorf("mongo: prune: %w", err)
	}
	if last == "" {
		return 0, nil
	}
	res, err := events.DeleteMany(ctx, bson.D{{Key: keyID, Value: bson.D{{Key: "$lte", Value: last}}}})
	if err != nil {
		return 0, fmt.Errorf("mongo: prune: %w", err)
	}
	return int(res.DeletedCount), nil
}
