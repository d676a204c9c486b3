// Command ferretdb runs FerretDB v1 (a MongoDB wire-protocol server backed
// by SQLite) for the MongoDB store tests.
//
// It is a thin main over FerretDB's embeddable package rather than
// FerretDB's own cmd/ferretdb because that binary, built from the module
// proxy (`go install …/cmd/ferretdb@v1.24.0` or `go build` of it here),
// panics at start-up: its build/version package insists on a generated
// build/version/version.txt whenever the main package belongs to the FerretDB
// module, and module zips do not carry that file. With the main package in
// this module the check does not apply.
//
// The flags it understands carry the same names as FerretDB's, so the test
// harness can start either binary the same way; flags that only matter for a
// full FerretDB deployment are accepted and ignored.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	handler := flag.String("handler", "sqlite", "backend handler: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite URI (an existing directory) for the sqlite handler")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL for the postgresql handler")
	listen := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on (port 0 picks a free one)")
	logLevel := flag.String("log-level", "error", "log level: debug, info, warn or error")
	// Accepted for compatibility with FerretDB's own binary: the embedded
	// server never reports telemetry, keeps no state directory and serves no
	// debug HTTP handlers.
	flag.String("telemetry", "disable", "ignored")
	flag.String("state-dir", "", "ignored")
	flag.String("debug-addr", "", "ignored")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: --log-level: %v\n", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        logger,
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *pgURL,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}

	// The listener is bound by now; printing the URI lets a caller that
	// asked for port 0 learn the real one.
	fmt.Println(f.MongoDBURI())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := f.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
}
