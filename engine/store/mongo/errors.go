package mongo

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jimu-crm/jimu/engine/store"
)

// Server error codes this store branches on.
const (
	codeCommandNotFound = 59
	codeNamespaceExists = 48
	codeIndexNotFound   = 27
	codeNamespaceNotFnd = 26
	codeNotImplemented  = 238
	codeDuplicateKey    = 11000
)

func hasCode(err error, code int) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(code)
}

// dupIndexRE finds the index a MongoDB duplicate-key message names:
// "E11000 duplicate key error collection: db.rec_deal index: ux_email dup key: …".
var dupIndexRE = regexp.MustCompile(`index: (\S+) dup key`)

// dupIndex returns the index named by a duplicate-key error, or "" when the
// server did not say (FerretDB v1 never does).
func dupIndex(err error) string {
	if !mongo.IsDuplicateKeyError(err) {
		return ""
	}
	if m := dupIndexRE.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// writeConflict explains a failed write to a record collection in the
// store's terms: ErrExists for a taken id, *store.UniqueError for a taken
// unique value. MongoDB names the index in its duplicate-key error; FerretDB
// v1 does not, and reports a unique violation on update as an internal
// error, so when the server did not say, the store asks the collection which
// unique value (if any) is taken. It returns nil when the error is not a
// conflict of either kind. ctx must not be a session context of the aborted
// transaction.
func (s *Store) writeConflict(ctx context.Context, coll *mongo.Collection, doc bson.D, checkID bool, err error) error {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return nil // network, context, encoding: nothing to probe
	}
	if idx := dupIndex(err); idx != "" {
		switch {
		case idx == "_id_":
			return store.ErrExists
		case strings.HasPrefix(idx, "ux_"):
			return &store.UniqueError{Field: strings.TrimPrefix(idx, "ux_")}
		}
	}
	dup := mongo.IsDuplicateKeyError(err)
	if !dup && !s.ferret {
		return nil // MongoDB always reports a taken unique value as such
	}
	id := lookup(doc, keyID)
	if checkID && dup {
		n, cerr := coll.CountDocuments(ctx, bson.D{{Key: keyID, Value: id}}, options.Count().SetLimit(1))
		if cerr == nil && n > 0 {
			return store.ErrExists
		}
	}
	fields, lerr := s.uniqueFields(ctx, coll)
	if lerr != nil {
		return nil
	}
	for _, f := range fields {
		v := lookup(doc, f)
		if v == nil {
			continue
		}
		n, cerr := coll.CountDocuments(ctx, bson.D{
			{Key: f, Value: bson.D{{Key: "$eq", Value: v}}},
			{Key: keyID, Value: bson.D{{Key: "$ne", Value: id}}},
		}, options.Count().SetLimit(1))
		if cerr == nil && n > 0 {
			return &store.UniqueError{Field: f}
		}
	}
	return nil
}

// uniqueFields lists the fields with a ux_ index on coll.
func (s *Store) uniqueFields(ctx context.Context, coll *mongo.Collection) ([]string, error) {
	names, err := indexNames(ctx, coll)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "ux_") {
			out = append(out, strings.TrimPrefix(n, "ux_"))
		}
	}
	return out, nil
}

func indexNames(ctx context.Context, coll *mongo.Collection) ([]string, error) {
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		if hasCode(err, codeNamespaceNotFnd) {
			return nil, nil
		}
		return nil, err
	}
	defer cur.Close(ctx)
	var out []string
	for cur.Next(ctx) {
		if n, ok := cur.Current.Lookup("name").StringValueOK(); ok {
			out = append(out, n)
		}
	}
	return out, cur.Err()
}

func lookup(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}
