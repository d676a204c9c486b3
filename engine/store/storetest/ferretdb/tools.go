//go:build tools

// Package ferretdb pins FerretDB v1.24.0, the MongoDB wire-protocol server
// (backed by SQLite) that the MongoDB store's tests run against when no
// real MongoDB is given. It is a Go module of its own so that FerretDB and
// its many dependencies never enter the main module's go.mod.
//
// The test harness (engine/store/mongo/mongotest) builds ./cmd/ferretdb
// from this module: a thin main over FerretDB's embeddable package, because
// FerretDB's own cmd/ferretdb panics at start-up when built from the module
// proxy (see cmd/ferretdb/main.go). This file keeps FerretDB's command and
// its dependencies in go.mod and go.sum, so either can be built with the
// pinned versions:
//
//	cd engine/store/storetest/ferretdb && go build -o /tmp/ferretdb ./cmd/ferretdb
package ferretdb

import _ "github.com/FerretDB/FerretDB/cmd/ferretdb"
