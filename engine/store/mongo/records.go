package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

func recColl(entity string) string   { return "rec_" + entity }
func trashColl(entity string) string { return "trash_" + entity }

// records returns the collection of an entity's records. Entity names reach
// collection names, so they are checked like field names.
func (s *Store) records(entity string) (*mongo.Collection, error) {
	if !metadata.ValidName(entity) {
		return nil, fmt.Errorf("invalid entity name %q", entity)
	}
	return s.db.Collection(recColl(entity)), nil
}

// systemIndexes serve what every list and access rule asks: recent first,
// mine first.
var systemIndexes = []index{
	{"sx_created_at", bson.D{{Key: keyCreatedAt, Value: 1}}},
	{"sx_updated_at", bson.D{{Key: keyUpdatedAt, Value: 1}}},
	{"sx_owner", bson.D{{Key: keyOwner, Value: 1}}},
}

// EnsureEntity creates the entity's collections and brings the indexes of
// its fields in line with the metadata: ux_<field> (unique) for unique
// fields, ix_<field> for other indexed ones; ix_/ux_ indexes no field wants
// any more are dropped. The trash has no unique indexes, so a deleted
// record's values are free again.
func (s *Store) EnsureEntity(ctx context.Context, e *metadata.Entity) error {
	coll, err := s.records(e.Name)
	if err != nil {
		return err
	}
	if err := s.ensureCollections(ctx, recColl(e.Name), trashColl(e.Name)); err != nil {
		return err
	}
	if err := ensureIndexes(ctx, coll, systemIndexes); err != nil {
		return fmt.Errorf("mongo: %s system indexes: %w", e.Name, err)
	}
	want := map[string]*metadata.Field{}
	for _, f := range e.LiveFields() {
		if !metadata.ValidName(f.Name) {
			return fmt.Errorf("mongo: invalid field name %q", f.Name)
		}
		switch {
		case f.Unique:
			want["ux_"+f.Name] = f
		case f.Indexed:
			want["ix_"+f.Name] = f
		}
	}
	// Compound indexes (cx_): an equality field first, then a range or sort
	// field, as the metadata lists them.
	compound := map[string]bson.D{}
	for _, ix := range e.Indexes {
		var keys bson.D
		for _, f := range ix.Fields {
			if _, ok := e.KindOf(f); !ok {
				keys = nil // a field deleted since: the index goes
				break
			}
			if f == "id" {
				f = "_id"
			}
			keys = append(keys, bson.E{Key: f, Value: 1})
		}
		if len(keys) >= 2 {
			compound["cx_"+ix.Name()] = keys
		}
	}
	have, err := indexNames(ctx, coll)
	if err != nil {
		return fmt.Errorf("mongo: %s indexes: %w", e.Name, err)
	}
	exists := map[string]bool{}
	for _, n := range have {
		exists[n] = true
		stale := (strings.HasPrefix(n, "ix_") || strings.HasPrefix(n, "ux_")) && want[n] == nil ||
			strings.HasPrefix(n, "cx_") && compound[n] == nil
		if stale {
			if err := coll.Indexes().DropOne(ctx, n); err != nil && !hasCode(err, codeIndexNotFound) {
				return fmt.Errorf("mongo: drop index %s.%s: %w", e.Name, n, err)
			}
		}
	}
	for n, keys := range compound {
		if exists[n] {
			continue
		}
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys, Options: options.Index().SetName(n)}); err != nil {
			return fmt.Errorf("mongo: create index %s.%s: %w", e.Name, n, err)
		}
	}
	for n, f := range want {
		if exists[n] {
			continue
		}
		keys := bson.D{{Key: f.Name, Value: 1}}
		if strings.HasPrefix(n, "ix_") {
			if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys, Options: options.Index().SetName(n)}); err != nil {
				return fmt.Errorf("mongo: create index %s.%s: %w", e.Name, n, err)
			}
			continue
		}
		if err := s.createUnique(ctx, coll, n, keys, f.Name); err != nil {
			if s.hasDuplicates(ctx, coll, f.Name) {
				return fmt.Errorf("mongo: existing records hold duplicate values of %s: %w", f.Name, &store.UniqueError{Field: f.Name})
			}
			return fmt.Errorf("mongo: create index %s.%s: %w", e.Name, n, err)
		}
	}
	return nil
}

// hasDuplicates reports whether two records share a value of field. It
// explains a failed unique index build: MongoDB says "duplicate key", but
// FerretDB v1 only reports an internal error.
func (s *Store) hasDuplicates(ctx context.Context, coll *mongo.Collection, field string) bool {
	pipe := mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: field, Value: bson.D{{Key: "$ne", Value: nil}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$" + field}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
		{{Key: "$match", Value: bson.D{{Key: "n", Value: bson.D{{Key: "$gt", Value: 1}}}}}},
		{{Key: "$limit", Value: 1}},
	}
	cur, err := coll.Aggregate(ctx, pipe)
	if err != nil {
		return false
	}
	defer cur.Close(ctx)
	return cur.Next(ctx)
}

// Insert adds a record; its id must be new (ErrExists).
func (s *Store) Insert(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	coll, err := s.records(entity)
	if err != nil {
		return err
	}
	doc, err := recordDoc(r)
	if err != nil {
		return fmt.Errorf("%s: %w", entity, err)
	}
	err = s.atomic(ctx, func(ctx context.Context) error { return s.insertIn(ctx, coll, doc, sd) })
	return s.recordErr(ctx, coll, entity, doc, true, err)
}

// insertIn, updateIn, deleteIn and unsetIn make a write and its sides in
// the session ctx carries (a transaction, when the server has them): on
// their own, or inside a unit of work.
func (s *Store) insertIn(ctx context.Context, coll *mongo.Collection, doc bson.D, sd store.Sides) error {
	if _, err := coll.InsertOne(ctx, doc); err != nil {
		return err
	}
	return s.writeSides(ctx, sd)
}

// recordErr maps a failed record write to the store's errors.
func (s *Store) recordErr(ctx context.Context, coll *mongo.Collection, entity string, doc bson.D, insert bool, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return err
	}
	if c := s.writeConflict(ctx, coll, doc, insert, err); c != nil {
		return fmt.Errorf("%s %v: %w", entity, lookup(doc, keyID), c)
	}
	return fmt.Errorf("mongo: %s: %w", entity, err)
}

// Get reads one record.
func (s *Store) Get(ctx context.Context, entity, id string) (*store.Record, error) {
	coll, err := s.records(entity)
	if err != nil {
		return nil, err
	}
	raw, err := coll.FindOne(ctx, bson.D{{Key: keyID, Value: id}}).Raw()
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s %s: %w", entity, id, store.ErrNotFound)
		}
		return nil, fmt.Errorf("mongo: %s: %w", entity, err)
	}
	return decodeRecord(raw)
}

// Update replaces the record whose stored version is r.Version-1. The
// document is written whole, as recordDoc builds it, so data fields left out
// of r.Data are gone afterwards. created_at and created_by are taken from
// r, which the engine read before changing it; a caller that did not set
// CreatedAt gets the stored ones.
func (s *Store) Update(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	coll, err := s.records(entity)
	if err != nil {
		return err
	}
	if r.CreatedAt.IsZero() {
		old, err := s.Get(ctx, entity, r.ID)
		if err != nil {
			return err
		}
		rr := *r
		rr.CreatedAt, rr.CreatedBy = old.CreatedAt, old.CreatedBy
		r = &rr
	}
	doc, err := recordDoc(r)
	if err != nil {
		return fmt.Errorf("%s: %w", entity, err)
	}
	err = s.atomic(ctx, func(ctx context.Context) error { return s.updateIn(ctx, coll, entity, r, doc, sd) })
	return s.recordErr(ctx, coll, entity, doc, false, err)
}

func (s *Store) updateIn(ctx context.Context, coll *mongo.Collection, entity string, r *store.Record, doc bson.D, sd store.Sides) error {
	res, err := coll.ReplaceOne(ctx, bson.D{{Key: keyID, Value: r.ID}, {Key: keyVersion, Value: r.Version - 1}}, doc)
	if err != nil {
		return err
	}
	if res.MatchedCount == 0 {
		return s.missingOrConflict(ctx, coll, r.ID, entity+" "+r.ID)
	}
	return s.writeSides(ctx, sd)
}

// missingOrConflict explains why a write conditioned on _id and version
// matched nothing; what names the document in the error.
func (s *Store) missingOrConflict(ctx context.Context, coll *mongo.Collection, id, what string) error {
	n, err := coll.CountDocuments(ctx, bson.D{{Key: keyID, Value: id}}, options.Count().SetLimit(1))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, store.ErrConflict)
}

// Delete moves a record to the trash when its version matches (0: any).
// Without transactions the trash copy is written before the record is
// removed, so a failure in between leaves a duplicate in the trash rather
// than losing the record; a later delete replaces that copy.
func (s *Store) Delete(ctx context.Context, entity, id string, version int64, sd store.Sides) error {
	coll, err := s.records(entity)
	if err != nil {
		return err
	}
	err = s.atomic(ctx, func(ctx context.Context) error { return s.deleteIn(ctx, coll, entity, id, version, sd) })
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return err
	}
	return fmt.Errorf("mongo: delete %s %s: %w", entity, id, err)
}

func (s *Store) deleteIn(ctx context.Context, coll *mongo.Collection, entity, id string, version int64, sd store.Sides) error {
	trash := s.db.Collection(trashColl(entity))
	filter := bson.D{{Key: keyID, Value: id}}
	if version > 0 {
		filter = append(filter, bson.E{Key: keyVersion, Value: version})
	}
	actor := ""
	if sd.Audit != nil {
		actor = sd.Audit.Actor
	}
	raw, err := coll.FindOne(ctx, filter).Raw()
	if notFound(err) {
		return s.missingOrConflict(ctx, coll, id, entity+" "+id)
	}
	if err != nil {
		return err
	}
	var doc bson.D
	if err := bson.Unmarshal(raw, &doc); err != nil {
		return err
	}
	doc = append(doc,
		bson.E{Key: keyDeletedAt, Value: metadata.FormatDateTime(time.Now())},
		bson.E{Key: keyDeletedBy, Value: actor})
	if _, err := trash.ReplaceOne(ctx, bson.D{{Key: keyID, Value: id}}, doc, options.Replace().SetUpsert(true)); err != nil {
		return fmt.Errorf("trash: %w", err)
	}
	res, err := coll.DeleteOne(ctx, filter)
	if err != nil {
		return err
	}
	if res.DeletedCount == 0 {
		// Changed or deleted since it was read. Within a transaction the
		// trash write is rolled back; without, take it back.
		if !s.txn {
			_, _ = trash.DeleteOne(ctx, bson.D{{Key: keyID, Value: id}, {Key: keyDeletedAt, Value: lookup(doc, keyDeletedAt)}})
		}
		return s.missingOrConflict(ctx, coll, id, entity+" "+id)
	}
	return s.writeSides(ctx, sd)
}

// findOptions builds sort, projection and limit of a query.
func findOptions(q store.Query) (*options.FindOptionsBuilder, error) {
	opts := options.Find()
	if len(q.Sort) > 0 {
		// MongoDB orders null and missing values before every other value,
		// so ascending puts them first and descending last, as the store
		// contract wants.
		sort := make(bson.D, 0, len(q.Sort))
		for _, k := range q.Sort {
			p, err := path(k.Field)
			if err != nil {
				return nil, err
			}
			dir := 1
			if k.Desc {
				dir = -1
			}
			sort = append(sort, bson.E{Key: p, Value: dir})
		}
		opts.SetSort(sort)
	}
	if q.Fields != nil {
		proj := bson.D{
			{Key: keyVersion, Value: 1}, {Key: keyCreatedAt, Value: 1}, {Key: keyUpdatedAt, Value: 1},
			{Key: keyCreatedBy, Value: 1}, {Key: keyUpdatedBy, Value: 1}, {Key: keyOwner, Value: 1},
		}
		for _, f := range q.Fields {
			if !metadata.ValidName(f) {
				return nil, fmt.Errorf("invalid field name %q", f)
			}
			if _, sys := metadata.SystemFields[f]; sys {
				continue // always there
			}
			proj = append(proj, bson.E{Key: f, Value: 1})
		}
		opts.SetProjection(proj)
	}
	if q.Limit > 0 {
		opts.SetLimit(int64(q.Limit))
	}
	return opts, nil
}

// Find returns the records matching q.Filter, sorted and limited.
func (s *Store) Find(ctx context.Context, entity string, q store.Query) ([]*store.Record, error) {
	coll, err := s.records(entity)
	if err != nil {
		return nil, err
	}
	filter, err := Translate(q.Filter)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", entity, err)
	}
	opts, err := findOptions(q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", entity, err)
	}
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("mongo: find %s: %w", entity, err)
	}
	defer cur.Close(ctx)
	var out []*store.Record
	for cur.Next(ctx) {
		r, err := decodeRecord(cur.Current)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", entity, err)
		}
		out = append(out, r)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("mongo: find %s: %w", entity, err)
	}
	return out, nil
}

// Count counts matching records, stopping at limit+1 so a large collection
// is never counted in full; capped is true when there are more than limit.
func (s *Store) Count(ctx context.Context, entity string, filter *store.Cond, limit int64) (int64, bool, error) {
	coll, err := s.records(entity)
	if err != nil {
		return 0, false, err
	}
	f, err := Translate(filter)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", entity, err)
	}
	if limit < 0 {
		limit = 0
	}
	n, err := coll.CountDocuments(ctx, f, options.Count().SetLimit(limit+1))
	if err != nil {
		return 0, false, fmt.Errorf("mongo: count %s: %w", entity, err)
	}
	if n > limit {
		return limit, true, nil
	}
	return n, false, nil
}

// UnsetField removes a field's values from every record, live and trashed.
func (s *Store) UnsetField(ctx context.Context, entity, field string, sd store.Sides) error {
	return s.atomic(ctx, func(ctx context.Context) error { return s.unsetIn(ctx, entity, field, sd) })
}

func (s *Store) unsetIn(ctx context.Context, entity, field string, sd store.Sides) error {
	coll, err := s.records(entity)
	if err != nil {
		return err
	}
	if !metadata.ValidName(field) {
		return fmt.Errorf("invalid field name %q", field)
	}
	if _, sys := metadata.SystemFields[field]; sys {
		return fmt.Errorf("%s is a system field", field)
	}
	filter := bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}}
	update := bson.D{{Key: "$unset", Value: bson.D{{Key: field, Value: ""}}}}
	for _, c := range []*mongo.Collection{coll, s.db.Collection(trashColl(entity))} {
		if _, err := c.UpdateMany(ctx, filter, update); err != nil {
			return fmt.Errorf("mongo: unset %s.%s: %w", entity, field, err)
		}
	}
	return s.writeSides(ctx, sd)
}

// NextSequence increments the named counter and returns its new value,
// starting at 1.
func (s *Store) NextSequence(ctx context.Context, name string) (int64, error) {
	coll := s.db.Collection(collSequences)
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)
	update := bson.D{{Key: "$inc", Value: bson.D{{Key: "value", Value: int64(1)}}}}
	var err error
	// Two first calls racing both try to insert the counter; the loser gets
	// a duplicate-key error and simply increments the winner's.
	for range 3 {
		var raw bson.Raw
		raw, err = coll.FindOneAndUpdate(ctx, bson.D{{Key: keyID, Value: name}}, update, opts).Raw()
		if err == nil {
			n, ok := asInt64(raw.Lookup("value"))
			if !ok {
				return 0, fmt.Errorf("mongo: sequence %s: corrupt counter", name)
			}
			return n, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	return 0, fmt.Errorf("mongo: sequence %s: %w", name, err)
}
