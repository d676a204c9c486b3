package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// System documents live in one collection, _id = kind + "/" + id. Data is
// kept as the JSON text it came as: the store never looks inside, and a
// string gives back exactly the bytes it was given.

func docID(kind, id string) string { return kind + "/" + id }

func docDoc(d *store.Doc, version int64) bson.D {
	out := bson.D{
		{Key: keyID, Value: docID(d.Kind, d.ID)},
		{Key: "kind", Value: d.Kind},
		{Key: "id", Value: d.ID},
	}
	if d.Key != "" {
		// Absent, not empty, when there is none: the unique (kind, key)
		// index only holds documents with a key.
		out = append(out, bson.E{Key: "key", Value: d.Key})
	}
	return append(out,
		bson.E{Key: keyVersion, Value: version},
		bson.E{Key: "data", Value: string(d.Data)})
}

func decodeDoc(raw bson.Raw) (*store.Doc, error) {
	var d store.Doc
	var ok bool
	if d.Kind, ok = raw.Lookup("kind").StringValueOK(); !ok {
		return nil, fmt.Errorf("corrupt document: no kind")
	}
	d.ID, _ = raw.Lookup("id").StringValueOK()
	d.Key, _ = raw.Lookup("key").StringValueOK()
	d.Version, _ = asInt64(raw.Lookup(keyVersion))
	data, _ := raw.Lookup("data").StringValueOK()
	d.Data = []byte(data)
	return &d, nil
}

func (s *Store) findDoc(ctx context.Context, filter bson.D, what string) (*store.Doc, error) {
	raw, err := s.db.Collection(collDocs).FindOne(ctx, filter).Raw()
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s: %w", what, store.ErrNotFound)
		}
		return nil, fmt.Errorf("mongo: %s: %w", what, err)
	}
	return decodeDoc(raw)
}

// GetDoc reads a system document by kind and id.
func (s *Store) GetDoc(ctx context.Context, kind, id string) (*store.Doc, error) {
	return s.findDoc(ctx, bson.D{{Key: keyID, Value: docID(kind, id)}}, kind+" "+id)
}

// GetDocByKey reads a system document by kind and secondary key.
func (s *Store) GetDocByKey(ctx context.Context, kind, key string) (*store.Doc, error) {
	if key == "" {
		return nil, fmt.Errorf("%s with empty key: %w", kind, store.ErrNotFound)
	}
	return s.findDoc(ctx, bson.D{{Key: "kind", Value: kind}, {Key: "key", Value: key}}, kind+" key "+key)
}

// ListDocs returns every document of a kind, by id.
func (s *Store) ListDocs(ctx context.Context, kind string) ([]*store.Doc, error) {
	cur, err := s.db.Collection(collDocs).Find(ctx, bson.D{{Key: "kind", Value: kind}},
		options.Find().SetSort(bson.D{{Key: "id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: list %s: %w", kind, err)
	}
	defer cur.Close(ctx)
	var out []*store.Doc
	for cur.Next(ctx) {
		d, err := decodeDoc(cur.Current)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, cur.Err()
}

// PutDoc inserts a document (d.Version <= 1) or replaces the one whose
// stored version is d.Version-1. A taken id or key is ErrExists.
func (s *Store) PutDoc(ctx context.Context, d *store.Doc, sd store.Sides) error {
	err := s.atomic(ctx, func(ctx context.Context) error { return s.putDocIn(ctx, d, sd) })
	return s.putDocErr(ctx, d, err)
}

func (s *Store) putDocIn(ctx context.Context, d *store.Doc, sd store.Sides) error {
	coll := s.db.Collection(collDocs)
	insert := d.Version <= 1
	version := d.Version
	if insert {
		version = 1
	}
	doc := docDoc(d, version)
	if insert {
		if _, err := coll.InsertOne(ctx, doc); err != nil {
			return err
		}
	} else {
		res, err := coll.ReplaceOne(ctx, bson.D{{Key: keyID, Value: docID(d.Kind, d.ID)}, {Key: keyVersion, Value: d.Version - 1}}, doc)
		if err != nil {
			return err
		}
		if res.MatchedCount == 0 {
			return s.missingOrConflict(ctx, coll, docID(d.Kind, d.ID), d.Kind+" "+d.ID)
		}
	}
	return s.writeSides(ctx, sd)
}

// putDocErr maps the outcome of putDocIn, setting d.Version on success.
func (s *Store) putDocErr(ctx context.Context, d *store.Doc, err error) error {
	coll := s.db.Collection(collDocs)
	what := d.Kind + " " + d.ID
	version := d.Version
	if version <= 1 {
		version = 1
	}
	switch {
	case err == nil:
		d.Version = version
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		return err
	case s.docTaken(ctx, coll, d, err):
		return fmt.Errorf("%s: %w", what, store.ErrExists)
	}
	return fmt.Errorf("mongo: put %s: %w", what, err)
}

// docTaken reports whether a failed PutDoc collided with another document's
// id or key. FerretDB v1 reports a key collision on replace as an internal
// error, so the collection is asked when the error is not a duplicate key.
func (s *Store) docTaken(ctx context.Context, coll *mongo.Collection, d *store.Doc, err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	if !s.ferret || !errors.As(err, &se) || d.Key == "" {
		return false
	}
	n, cerr := coll.CountDocuments(ctx, bson.D{
		{Key: "kind", Value: d.Kind}, {Key: "key", Value: d.Key},
		{Key: keyID, Value: bson.D{{Key: "$ne", Value: docID(d.Kind, d.ID)}}},
	}, options.Count().SetLimit(1))
	return cerr == nil && n > 0
}

// DeleteDoc removes a system document.
func (s *Store) DeleteDoc(ctx context.Context, kind, id string, sd store.Sides) error {
	err := s.atomic(ctx, func(ctx context.Context) error { return s.deleteDocIn(ctx, kind, id, sd) })
	return deleteDocErr(kind, id, err)
}

func (s *Store) deleteDocIn(ctx context.Context, kind, id string, sd store.Sides) error {
	res, err := s.db.Collection(collDocs).DeleteOne(ctx, bson.D{{Key: keyID, Value: docID(kind, id)}})
	if err != nil {
		return err
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("%s %s: %w", kind, id, store.ErrNotFound)
	}
	return s.writeSides(ctx, sd)
}

func deleteDocErr(kind, id string, err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return err
	}
	return fmt.Errorf("mongo: delete %s %s: %w", kind, id, err)
}

// --- audit log and outbox ---

// Changes and payloads are kept as JSON text, like document data: their
// keys come from users and must not reach the server as field names.

func jsonText(v map[string]any) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func fromJSONText(raw bson.Raw, key string) map[string]any {
	s, ok := raw.Lookup(key).StringValueOK()
	if !ok || s == "" {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

func str(raw bson.Raw, key string) string {
	s, _ := raw.Lookup(key).StringValueOK()
	return s
}

func auditDoc(a *store.AuditEntry) (bson.D, error) {
	if a.ID == "" {
		return nil, fmt.Errorf("audit entry without id")
	}
	changes, err := jsonText(a.Changes)
	if err != nil {
		return nil, fmt.Errorf("audit changes: %w", err)
	}
	d := bson.D{
		{Key: keyID, Value: a.ID},
		{Key: "at", Value: metadata.FormatDateTime(a.At)},
		{Key: "actor", Value: a.Actor},
		{Key: "ip", Value: a.IP},
		{Key: "action", Value: a.Action},
		{Key: "entity", Value: a.Entity},
		{Key: "record_id", Value: a.RecordID},
	}
	if changes != nil {
		d = append(d, bson.E{Key: "changes", Value: changes})
	}
	return d, nil
}

// AppendAudit writes an audit entry on its own.
func (s *Store) AppendAudit(ctx context.Context, a *store.AuditEntry) error {
	if err := s.writeSides(ctx, store.Sides{Audit: a}); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("audit %s: %w", a.ID, store.ErrExists)
		}
		return fmt.Errorf("mongo: %w", err)
	}
	return nil
}

// ListAudit returns audit entries, newest first. Ids are sortable, so
// "newest" is the highest id.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEntry, error) {
	filter := bson.D{}
	for _, c := range []struct{ key, v string }{
		{"entity", q.Entity}, {"record_id", q.RecordID}, {"actor", q.Actor}, {"action", q.Action},
	} {
		if c.v != "" {
			filter = append(filter, bson.E{Key: c.key, Value: c.v})
		}
	}
	if q.Before != "" {
		filter = append(filter, bson.E{Key: keyID, Value: bson.D{{Key: "$lt", Value: q.Before}}})
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	cur, err := s.db.Collection(collAudit).Find(ctx, filter,
		options.Find().SetSort(bson.D{{Key: keyID, Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: audit: %w", err)
	}
	defer cur.Close(ctx)
	var out []*store.AuditEntry
	for cur.Next(ctx) {
		raw := cur.Current
		a := &store.AuditEntry{
			ID:       str(raw, keyID),
			Actor:    str(raw, "actor"),
			IP:       str(raw, "ip"),
			Action:   str(raw, "action"),
			Entity:   str(raw, "entity"),
			RecordID: str(raw, "record_id"),
			Changes:  fromJSONText(raw, "changes"),
		}
		a.At = parseTime(raw.Lookup("at"))
		out = append(out, a)
	}
	return out, cur.Err()
}
