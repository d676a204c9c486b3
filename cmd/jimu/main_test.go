package main

import (
	"bytes"
	"io"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestCLI(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run([]string{"version"}, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "jimu ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
	if err := run([]string{"frobnicate"}, &out, &errb); err == nil {
		t.Fatal("unknown command accepted")
	}
	db := "sqlite://" + filepath.Join(t.TempDir(), "jimu.db")
	out.Reset()
	args := []string{"admin", "create", "--db", db, "--email", "Boss@Example.com", "--password", "a long enough password"}
	if err := run(args, &out, &errb); err != nil || !strings.Contains(out.String(), "created admin boss@example.com") {
		t.Fatalf("admin create: %q %v %s", out.String(), err, errb.String())
	}
	if err := run(args, &out, &errb); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second admin create: %v", err)
	}
	if err := run([]string{"admin", "create", "--db", db, "--email", "x@example.com", "--password", "short"}, &out, &errb); err == nil {
		t.Fatal("short password accepted")
	}
	if err := run([]string{"serve", "--db", "postgres://x"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "sqlite://") {
		t.Fatalf("bad --db: %v", err)
	}
	if err := run([]string{"serve", "--db", db, "--durability", "fast"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "normal or full") {
		t.Fatalf("bad --durability: %v", err)
	}
	if err := run([]string{"serve", "--db", db, "--outbox-retention", "-1h"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "outbox-retention") {
		t.Fatalf("bad --outbox-retention: %v", err)
	}
	for _, c := range []struct{ flag, value, want string }{
		{"--timezone", "Mars/Olympus", "--timezone"},
		{"--webhook-allow", "10.0.0.0/99", "--webhook-allow"},
		{"--workflow-max-actions", "0", "at least 1"},
		{"--workflow-run-timeout", "10ms", "at least 1s"},
		{"--smtp-from", "not an address", "--smtp-*"},
	} {
		args := []string{"serve", "--db", db, c.flag, c.value}
		if c.flag == "--smtp-from" {
			args = append(args, "--smtp-host", "localhost")
		}
		if err := run(args, &out, &errb); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %s %s: %v, want %q", c.flag, c.value, err, c.want)
		}
	}
	t.Setenv("JIMU_OUTBOX_RETENTION", "a week")
	if err := run([]string{"serve", "--db", db}, &out, &errb); err == nil || !strings.Contains(err.Error(), "JIMU_OUTBOX_RETENTION") {
		t.Fatalf("bad JIMU_OUTBOX_RETENTION: %v", err)
	}
}

// TestTokenLifetimeFlags: serve refuses token lifetimes that make no sense
// before it opens anything.
func TestTokenLifetimeFlags(t *testing.T) {
	var out, errb bytes.Buffer
	db := "sqlite://" + filepath.Join(t.TempDir(), "never", "jimu.db")
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--token-ttl", "0s"}, "", "must be positive"},
		{[]string{"--token-max-ttl", "-1h"}, "", "must be positive"},
		{[]string{"--token-ttl", "9000h"}, "", "longer than --token-max-ttl"},
		{[]string{"--token-ttl", "2h", "--token-max-ttl", "1h"}, "", "longer than --token-max-ttl"},
		{nil, "ninety days", "JIMU_TOKEN_TTL"},
	} {
		t.Setenv("JIMU_TOKEN_TTL", c.env)
		err := run(append([]string{"serve", "--db", db}, c.args...), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %v (JIMU_TOKEN_TTL=%q): %v, want %q", c.args, c.env, err, c.want)
		}
	}
}

// TestGCPercent: serve collects garbage at defaultGCPercent unless GOGC is
// set, and leaves an operator's GOGC alone.
func TestGCPercent(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	setGCPercent(log)
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("GOGC unset: GC percent %d, want %d", got, defaultGCPercent)
	}
	t.Setenv("GOGC", "150")
	setGCPercent(log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set: GC percent changed to %d", got)
	}
}
