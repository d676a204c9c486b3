// Package mongo is Jimu's MongoDB store: the official Go driver (v2), one
// collection per entity (rec_<entity>) with its recycle bin
// (trash_<entity>), indexes that follow the metadata, filters from the
// query IR translated into filter documents (see Translate), aggregation
// pipelines for dashboards, and system documents, audit log and outbox in
// their own collections.
//
// A record write, its audit entry and its outbox event commit in one
// multi-document transaction when the server has transactions (a replica
// set or a sharded cluster). A standalone mongod and FerretDB v1, which the
// tests run against, have none: there the three are written one after the
// other, record first, so a failure can leave a record without its audit
// entry or event, never the reverse. Production deployments should run a
// replica set (a single-node one is enough).
//
// Besides records (records.go) and system documents, audit log (docs.go):
// the outbox and its checkpoints (outbox.go), leases (lease.go) and units
// of work (atomic.go).
package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/jimu-crm/jimu/engine/store"
)

// DefaultDatabase is used when the URI names no database.
const DefaultDatabase = "jimu"

// Collections of system data.
const (
	collDocs        = "docs"
	collAudit       = "audit"
	collEvents      = "events" // the outbox (outbox.go); "outbox", before it, is left as it was
	collCheckpoints = "checkpoints"
	collLeases      = "leases"
	collSequences   = "sequences"
)

// Store is the MongoDB implementation of store.Store.
type Store struct {
	client *mongo.Client
	db     *mongo.Database

	uri string

	// txn: the server runs multi-document transactions.
	txn bool
	// ferret: the server is FerretDB, whose aggregation pipeline lacks the
	// accumulators and expressions Aggregate needs; see aggregateLocal.
	ferret bool

	// seqMu and lastSeq allocate outbox sequence numbers (outbox.go):
	// lastSeq is the highest this node knows to be committed.
	seqMu   sync.Mutex
	lastSeq int64
}

var _ store.Store = (*Store)(nil)

// Open connects to the server at uri (mongodb:// or mongodb+srv://), checks
// that it answers, learns what it supports and creates the system
// collections. The database is the URI's path, "jimu" when it has none.
func Open(ctx context.Context, uri string) (*Store, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("mongo: %w", err)
	}
	dbName := cs.Database
	if dbName == "" {
		dbName = DefaultDatabase
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("mongo: connect: %w", err)
	}
	s := &Store{client: client, db: client.Database(dbName), uri: uri}
	if err := s.init(ctx); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return fmt.Errorf("mongo: ping: %w", err)
	}
	info, err := s.db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err != nil {
		return fmt.Errorf("mongo: buildInfo: %w", err)
	}
	_, s.ferret = info.Lookup("ferretdbVersion").StringValueOK()
	hello, err := s.db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Raw()
	if hasCode(err, codeCommandNotFound) {
		// Servers before 4.4.2 only know the legacy name.
		hello, err = s.db.RunCommand(ctx, bson.D{{Key: "isMaster", Value: 1}}).Raw()
	}
	if err != nil {
		return fmt.Errorf("mongo: hello: %w", err)
	}
	_, replSet := hello.Lookup("setName").StringValueOK()
	msg, _ := hello.Lookup("msg").StringValueOK()
	// FerretDB v1 can claim a replica set name (--repl-set-name) but has no
	// transactions.
	s.txn = (replSet || msg == "isdbgrid") && !s.ferret

	// Collections are created up front: older servers cannot create one
	// inside a transaction.
	if err := s.ensureCollections(ctx, collDocs, collAudit, collEvents, collCheckpoints, collLeases, collSequences); err != nil {
		return err
	}
	if err := ensureIndexes(ctx, s.db.Collection(collLeases), []index{
		{"sx_name_epoch", bson.D{{Key: "name", Value: 1}, {Key: "epoch", Value: -1}}},
	}); err != nil {
		return fmt.Errorf("mongo: lease index: %w", err)
	}
	if err := s.loadLastSeq(ctx); err != nil {
		return err
	}
	docIdx, err := indexNames(ctx, s.db.Collection(collDocs))
	if err != nil {
		return fmt.Errorf("mongo: docs indexes: %w", err)
	}
	if !slices.Contains(docIdx, "ux_kind_key") {
		// key is left out of documents that have none.
		keys := bson.D{{Key: "kind", Value: 1}, {Key: "key", Value: 1}}
		if err := s.createUnique(ctx, s.db.Collection(collDocs), "ux_kind_key", keys, "key"); err != nil {
			return fmt.Errorf("mongo: docs index: %w", err)
		}
	}
	if err := ensureIndexes(ctx, s.db.Collection(collDocs), []index{
		{"sx_kind_id", bson.D{{Key: "kind", Value: 1}, {Key: "id", Value: 1}}},
	}); err != nil {
		return fmt.Errorf("mongo: docs index: %w", err)
	}
	if err := ensureIndexes(ctx, s.db.Collection(collAudit), []index{
		{"sx_record", bson.D{{Key: "entity", Value: 1}, {Key: "record_id", Value: 1}, {Key: "_id", Value: -1}}},
		{"sx_actor", bson.D{{Key: "actor", Value: 1}, {Key: "_id", Value: -1}}},
	}); err != nil {
		return fmt.Errorf("mongo: audit indexes: %w", err)
	}
	return nil
}

// Transactions reports whether writes and their sides commit atomically on
// this server. Tests use it to skip what cannot hold without.
func (s *Store) Transactions() bool { return s.txn }

// URI is the connection string the store was opened with, credentials
// included: never log it.
func (s *Store) URI() string { return s.uri }

// FerretDB reports whether the server is FerretDB.
func (s *Store) FerretDB() bool { return s.ferret }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.client.Ping(ctx, nil)
}

// Close disconnects from the server.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

// ensureCollections creates the named collections that do not exist.
func (s *Store) ensureCollections(ctx context.Context, names ...string) error {
	have, err := s.db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$in", Value: names}}}})
	if err != nil {
		return fmt.Errorf("mongo: list collections: %w", err)
	}
	exists := map[string]bool{}
	for _, n := range have {
		exists[n] = true
	}
	for _, n := range names {
		if exists[n] {
			continue
		}
		// Another node may create it at the same moment.
		if err := s.db.CreateCollection(ctx, n); err != nil && !hasCode(err, codeNamespaceExists) {
			return fmt.Errorf("mongo: create collection %s: %w", n, err)
		}
	}
	return nil
}

// createUnique creates a unique index that only holds documents having
// field (partialFilterExpression {field: {$exists: true}}), so documents
// without a value never collide. A server without partial indexes (FerretDB
// v1 answers NotImplemented) gets a sparse index instead: FerretDB ignores
// sparse, but its SQLite backend indexes a missing field as NULL, and NULLs
// never collide in a SQLite unique index, which gives the same behaviour.
func (s *Store) createUnique(ctx context.Context, coll *mongo.Collection, name string, keys bson.D, field string) error {
	partial := bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}}
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys,
		Options: options.Index().SetName(name).SetUnique(true).SetPartialFilterExpression(partial)})
	if err == nil || !isNotImplemented(err) {
		return err
	}
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys,
		Options: options.Index().SetName(name).SetUnique(true).SetSparse(true)})
	return err
}

// index is a plain (not unique) index.
type index struct {
	name string
	keys bson.D
}

// ensureIndexes creates the indexes coll does not have yet, one at a time:
// FerretDB v1 crashes the connection when one createIndexes command names
// several indexes that already exist.
func ensureIndexes(ctx context.Context, coll *mongo.Collection, want []index) error {
	have, err := indexNames(ctx, coll)
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, n := range have {
		exists[n] = true
	}
	for _, ix := range want {
		if exists[ix.name] {
			continue
		}
		if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name)}); err != nil {
			return fmt.Errorf("index %s: %w", ix.name, err)
		}
	}
	return nil
}

func isNotImplemented(err error) bool {
	return hasCode(err, codeNotImplemented)
}

// atomic runs fn in a multi-document transaction when the server has them,
// else directly (see the package comment). fn must use the context it is
// given, which carries the session. A transaction that lost the race for
// an outbox sequence number runs again (the driver already retries one
// that lost a write conflict).
func (s *Store) atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	if !s.txn {
		return fn(ctx)
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return fmt.Errorf("mongo: start session: %w", err)
	}
	defer sess.EndSession(ctx)
	for attempt := 0; ; attempt++ {
		_, err = sess.WithTransaction(ctx, func(sc context.Context) (any, error) {
			return nil, fn(sc)
		})
		if !errors.Is(err, errSeqTaken) || attempt >= maxSeqAttempts {
			return err
		}
	}
}

// snapshot runs the reads of fn on one point in time when the server has
// transactions (a read-only transaction at read concern "snapshot": data
// committed to a majority), else directly.
func (s *Store) snapshot(ctx context.Context, fn func(ctx context.Context) error) error {
	if !s.txn {
		return fn(ctx)
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return fmt.Errorf("mongo: start session: %w", err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(sc context.Context) (any, error) {
		return nil, fn(sc)
	}, options.Transaction().SetReadConcern(readconcern.Snapshot()))
	return err
}

// writeSides writes the audit entry and the outbox event of a change.
func (s *Store) writeSides(ctx context.Context, sd store.Sides) error {
	if sd.Audit != nil {
		d, err := auditDoc(sd.Audit)
		if err != nil {
			return err
		}
		if _, err := s.db.Collection(collAudit).InsertOne(ctx, d); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if sd.Event != nil {
		d, err := eventDoc(sd.Event)
		if err != nil {
			return err
		}
		if err := s.insertEvent(ctx, d); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}

// notFound reports whether err says a single-document read found nothing.
func notFound(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }
