// Command jimu is the Jimu CRM server: `jimu serve`, `jimu admin create`,
// `jimu version`. Every flag has a JIMU_* environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only when JIMU_PPROF is set
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jimu-crm/jimu/dashboards"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/doctor"
	"github.com/jimu-crm/jimu/engine/outbox"
	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/forms"
	"github.com/jimu-crm/jimu/ui"
	"github.com/jimu-crm/jimu/workflows"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jimu:", err)
		os.Exit(1)
	}
}

const usage = `Jimu (积木) — a low-code, metadata-driven CRM.

Usage:
  jimu serve [flags]          start the server
  jimu admin create [flags]   create an admin user
  jimu doctor [--repair]      list (and remove) stored values this version cannot serve
  jimu version                print the version

Run "jimu <command> -h" for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "admin":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, usage)
			return errors.New(`unknown admin command; did you mean "jimu admin create"?`)
		}
		return adminCreate(args[2:], stdout, stderr)
	case "doctor":
		return doctorCmd(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "jimu", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// config is what serve and admin create share.
type config struct {
	http, data, db, logLevel, logFormat string
	durability                          string
	idle                                time.Duration
	tokenTTL, tokenMaxTTL               time.Duration
	secure                              bool
	countCap                            int64
	heavyReads                          int
	retention                           time.Duration
	envErr                              error // an environment variable that does not parse
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.http, "http", env("JIMU_HTTP", "127.0.0.1:8080"), "listen address (JIMU_HTTP)")
	fs.StringVar(&c.data, "data", env("JIMU_DATA", "./jimu_data"), "data directory of the embedded store (JIMU_DATA)")
	fs.StringVar(&c.db, "db", env("JIMU_DB", ""), "store URL: sqlite:///path/jimu.db or mongodb://host/db (JIMU_DB; default: SQLite in the data directory)")
	fs.StringVar(&c.durability, "durability", env("JIMU_DURABILITY", "normal"),
		"SQLite: normal (survives a killed process) or full (also survives power loss, fewer writes/s) (JIMU_DURABILITY)")
	fs.StringVar(&c.logLevel, "log-level", env("JIMU_LOG_LEVEL", "info"), "debug, info, warn or error (JIMU_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", env("JIMU_LOG_FORMAT", "text"), "text or json (JIMU_LOG_FORMAT)")
	fs.Int64Var(&c.countCap, "count-cap", c.envInt("JIMU_COUNT_CAP", 10_000), "count=true is exact up to this many records, then says count_capped (JIMU_COUNT_CAP)")
	fs.IntVar(&c.heavyReads, "heavy-reads", int(c.envInt("JIMU_HEAVY_READS", 0)),
		"counts, aggregates and unindexed lists run at once (JIMU_HEAVY_READS; 0: half the CPUs, at least 1)")
	fs.DurationVar(&c.idle, "session-idle", c.envDuration("JIMU_SESSION_IDLE", 30*time.Minute), "sign a browser session out after this long unused (JIMU_SESSION_IDLE)")
	fs.DurationVar(&c.tokenTTL, "token-ttl", c.envDuration("JIMU_TOKEN_TTL", auth.DefaultTokenTTL),
		"lifetime of an API token created without expires_at (JIMU_TOKEN_TTL)")
	fs.DurationVar(&c.tokenMaxTTL, "token-max-ttl", c.envDuration("JIMU_TOKEN_MAX_TTL", auth.DefaultTokenMaxTTL),
		"the longest expires_at an API token may ask for, from now (JIMU_TOKEN_MAX_TTL)")
	fs.DurationVar(&c.retention, "outbox-retention", c.envDuration("JIMU_OUTBOX_RETENTION", outbox.DefaultRetention),
		"delete outbox events every consumer has processed once older than this; 0 keeps them (JIMU_OUTBOX_RETENTION)")
	fs.BoolVar(&c.secure, "secure-cookies", env("JIMU_SECURE_COOKIES", "") == "true",
		"mark session cookies Secure even on plain-HTTP loopback (JIMU_SECURE_COOKIES=true); they always are otherwise")
}

// envDuration reads a duration from the environment, remembering a value
// that does not parse for check to report.
func (c *config) envDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil && c.envErr == nil {
		c.envErr = fmt.Errorf("%s: %w", name, err)
	}
	if err != nil {
		return def
	}
	return d
}

// envInt is envDuration for whole numbers.
func (c *config) envInt(name string, def int64) int64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		if c.envErr == nil {
			c.envErr = fmt.Errorf("%s: %q is not a whole number", name, v)
		}
		return def
	}
	return n
}

// check refuses environment values that do not parse and token lifetimes
// that make no sense.
func (c *config) check() error {
	switch {
	case c.envErr != nil:
		return c.envErr
	case c.tokenTTL <= 0 || c.tokenMaxTTL <= 0:
		return fmt.Errorf("--token-ttl and --token-max-ttl must be positive, not %v and %v", c.tokenTTL, c.tokenMaxTTL)
	case c.tokenTTL > c.tokenMaxTTL:
		return fmt.Errorf("--token-ttl %v is longer than --token-max-ttl %v", c.tokenTTL, c.tokenMaxTTL)
	}
	return nil
}

func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
}

// openStore opens the store the URL names.
func (c *config) openStore(ctx context.Context) (store.Store, string, error) {
	u := c.db
	if u == "" {
		u = "sqlite://" + filepath.Join(c.data, "jimu.db")
	}
	switch {
	case strings.HasPrefix(u, "mongodb://"), strings.HasPrefix(u, "mongodb+srv://"):
		s, err := mongo.Open(ctx, u)
		return s, "mongodb", err
	case strings.HasPrefix(u, "sqlite://"):
		s, err := sqlite.OpenWith(ctx, strings.TrimPrefix(u, "sqlite://"), sqlite.Options{Durability: c.durability})
		return s, "sqlite", err
	}
	return nil, "", fmt.Errorf("--db %q: use sqlite://path or mongodb://host/db", u)
}

// defaultGCPercent is the server's GOGC unless the environment sets one.
// The Go heap of a running server is small (SQLite's page caches live
// outside it) while every request allocates, so at Go's default of 100 it
// collected several times a second; the collector's workers and assists
// then took processor time from requests on a two-core machine. At 400,
// alternating jimubench runs against the 1M-deal database measured ~15%
// more creates/s (docs/decisions.md 13).
const defaultGCPercent = 400

func setGCPercent(log *slog.Logger) {
	if os.Getenv("GOGC") != "" {
		return // the operator's choice
	}
	debug.SetGCPercent(defaultGCPercent)
	log.Debug("garbage collection", "gogc", defaultGCPercent)
}

func serve(args []string, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveUntil(ctx, args, stderr, nil)
}

// serveUntil serves until ctx ends; listening, if not nil, learns the
// address (the browser tests listen on port 0).
func serveUntil(ctx context.Context, args []string, stderr io.Writer, listening func(net.Addr)) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.flags(fs)
	var wcfg wfConfig
	wcfg.flags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.check(); err != nil {
		return err
	}
	if err := wcfg.check(); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	setGCPercent(log)

	st, kind, err := cfg.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.countCap < 1 {
		return fmt.Errorf("--count-cap must be at least 1, not %d", cfg.countCap)
	}
	if cfg.heavyReads < 0 {
		return fmt.Errorf("--heavy-reads must be 0 (automatic) or more, not %d", cfg.heavyReads)
	}
	if cfg.retention < 0 {
		return fmt.Errorf("--outbox-retention (JIMU_OUTBOX_RETENTION) must be a duration such as 168h, or 0 to keep every event")
	}
	deps, err := server.Assemble(ctx, st, server.Config{Log: log, CountCap: cfg.countCap, HeavyReads: cfg.heavyReads,
		Version: version, HSTS: cfg.secure, Auth: auth.Options{SessionIdleTimeout: cfg.idle,
			AlwaysSecureCookies: cfg.secure, TokenTTL: cfg.tokenTTL, TokenMaxTTL: cfg.tokenMaxTTL}})
	if err != nil {
		return err
	}
	cat := deps.Catalog
	// A database older versions wrote may hold numbers no JSON carries:
	// scanned once, beside the server (reads only), before the store
	// closes.
	var scan sync.WaitGroup
	defer scan.Wait()
	scanCtx, stopScan := context.WithCancel(ctx)
	defer stopScan() // runs first: a serve that ends stops the scan
	scan.Add(1)
	go func() {
		defer scan.Done()
		if err := doctor.Startup(scanCtx, st, cat, log); err != nil && scanCtx.Err() == nil {
			log.Warn("checking stored numbers", "err", err)
		}
	}()
	if err := firstAdmin(ctx, deps.Auth, log, stderr, cfg.http); err != nil {
		return err
	}
	wf := wcfg.service(deps, log)
	wire(&deps, wf)
	deps.UI = ui.Files()
	if !ui.Built() {
		log.Warn("this binary holds no web app, only a page that says how to build it: run make run (or make ui build)")
	}
	srv := server.New(deps)
	runCtx, stopRunner := context.WithCancel(ctx)
	waitRunner, err := startWorkflows(runCtx, wf)
	if err != nil {
		stopRunner()
		return err
	}
	// Runs the writes of which must reach the store before it closes:
	// the runner stops after the server, before the store.
	defer waitRunner()
	defer stopRunner()

	if addr := os.Getenv("JIMU_PPROF"); addr != "" {
		// Profiles for performance work, on their own (loopback) listener,
		// never on the API's.
		go func() {
			log.Info("pprof serving", "addr", addr)
			if err := http.ListenAndServe(addr, nil); err != nil {
				log.Warn("pprof stopped", "err", err)
			}
		}()
	}
	pruner := &outbox.Pruner{Store: st, Retention: cfg.retention, Node: wcfg.node, Log: log}
	go pruner.Run(ctx)
	ln, err := net.Listen("tcp", cfg.http)
	if err != nil {
		return err
	}
	if listening != nil {
		listening(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("jimu serving", "version", version, "http", "http://"+ln.Addr().String(), "store", kind, "entities", len(cat.List()))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// wire adds the feature modules every node serves beside the engine: forms
// (which also checks writes through a form on the records API), automation
// and dashboards.
func wire(d *server.Deps, wf *workflows.Service) {
	fm := forms.NewModule(*d)
	d.Modules = []server.Module{fm, &workflows.Module{Service: wf},
		&dashboards.Module{Dashboards: dashboards.New(d.Store, d.Catalog, d.Records)}}
	d.Forms = fm
}

// firstAdmin makes sure an empty Jimu can be signed into: from
// JIMU_ADMIN_EMAIL/JIMU_ADMIN_PASSWORD, or with a one-time setup link.
func firstAdmin(ctx context.Context, au *auth.Service, log *slog.Logger, w io.Writer, addr string) error {
	email, pass := os.Getenv("JIMU_ADMIN_EMAIL"), os.Getenv("JIMU_ADMIN_PASSWORD")
	if email != "" && pass != "" {
		u, created, err := au.EnsureAdmin(ctx, email, pass)
		if err != nil {
			return fmt.Errorf("JIMU_ADMIN_EMAIL: %w", err)
		}
		if created {
			log.Info("created the first admin from JIMU_ADMIN_EMAIL", "email", u.Email)
		}
		return nil
	}
	has, err := au.HasUsers(ctx)
	if err != nil || has {
		return err
	}
	token, err := au.SetupToken(ctx)
	if err != nil {
		return err
	}
	log.Warn("no users yet: create the first admin with the one-time setup command printed below (valid 24 hours)")
	fmt.Fprintf(w, "\n  Jimu has no users yet. Create the first admin (this token works once, for 24 hours) in the browser:\n\n"+
		"  http://%s/setup?token=%s\n\n  or with curl:\n\n"+
		"  curl -X POST http://%s/api/v1/setup -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"token\":\"%s\",\"email\":\"you@example.com\",\"name\":\"Admin\",\"password\":\"choose-a-long-password\"}'\n\n"+
		"  or restart with JIMU_ADMIN_EMAIL and JIMU_ADMIN_PASSWORD set, or run: jimu admin create --email … --password …\n\n", addr, token, addr, token)
	return nil
}

func adminCreate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.flags(fs)
	email := fs.String("email", os.Getenv("JIMU_ADMIN_EMAIL"), "the admin's e-mail (JIMU_ADMIN_EMAIL)")
	pass := fs.String("password", os.Getenv("JIMU_ADMIN_PASSWORD"), "the admin's password (JIMU_ADMIN_PASSWORD)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || *pass == "" {
		return errors.New("admin create needs --email and --password (or JIMU_ADMIN_EMAIL and JIMU_ADMIN_PASSWORD)")
	}
	ctx := context.Background()
	st, _, err := cfg.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	u, created, err := auth.New(st, auth.Options{Logger: log}).EnsureAdmin(ctx, *email, *pass)
	if err != nil {
		return err
	}
	if !created {
		return fmt.Errorf("a user with e-mail %s already exists", u.Email)
	}
	fmt.Fprintf(stdout, "created admin %s (%s)\n", u.Email, u.ID)
	return nil
}
