//go:build tools

// Package ferretdb pins the FerretDB server that the MongoDB store tests run
// against. It is a module of its own so that FerretDB and its many
// dependencies never enter the main module's go.mod; the test harness
// (engine/store/mongo/mongotest) runs `go build
// github.com/FerretDB/FerretDB/cmd/ferretdb` inside this directory.
//
// Building from this module (rather than `go install ...@v1.24.0`) also
// matters at run time: FerretDB's build/version package panics at start-up
// when the main module is FerretDB itself and build/version/version.txt was
// not generated, which is the case for a plain `go install` from the proxy.
// With this module as the main module that check is skipped.
package ferretdb

import _ "github.com/FerretDB/FerretDB/cmd/ferretdb"
