package workflows

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/activity"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/workflows/action"
	_ "github.com/jimu-crm/jimu/workflows/actions" // the bundled actions register themselves
	"github.com/jimu-crm/jimu/workflows/mail"
	"github.com/jimu-crm/jimu/workflows/notifications"
	"github.com/jimu-crm/jimu/workflows/webhook"
)

// Limits are the governor's: what one run may do.
type Limits struct {
	// MaxDepth stops a chain of rules changing records that trigger rules:
	// a run at this depth still runs, the next is refused (and logged).
	MaxDepth int
	// MaxActions is the effects one run may apply (a step that updates
	// ten records applies ten).
	MaxActions int
	// RunTimeout is a run's wall-time budget; its lease outlasts it by
	// LeaseMargin, so a run can never be "running" past its lease.
	RunTimeout time.Duration
	// MaxAttempts a run gets before it is dead-lettered; Backoff is the
	// wait before the second, doubled for each later one, with jitter.
	MaxAttempts int
	Backoff     time.Duration
	// Workers run this many runs at once on the node holding the runner.
	Workers int
	// ExprBudget is the memory budget of one expression evaluation
	// (expr's units), ExprTime its time budget.
	ExprBudget uint
	ExprTime   time.Duration
	// MaxRecords caps the runs one schedule time or manual request makes.
	MaxRecords int
}

// DefaultLimits are jimu serve's defaults.
var DefaultLimits = Limits{MaxDepth: 8, MaxActions: 100, RunTimeout: time.Minute, MaxAttempts: 5,
	Backoff: 10 * time.Second, Workers: 8, ExprBudget: 100_000, ExprTime: 50 * time.Millisecond, MaxRecords: 10_000}

// LeaseMargin is how long a run's lease outlasts its wall-time budget.
const LeaseMargin = 30 * time.Second

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxActions > 0 {
		d.MaxActions = l.MaxActions
	}
	if l.RunTimeout > 0 {
		d.RunTimeout = l.RunTimeout
	}
	if l.MaxAttempts > 0 {
		d.MaxAttempts = l.MaxAttempts
	}
	if l.Backoff > 0 {
		d.Backoff = l.Backoff
	}
	if l.Workers > 0 {
		d.Workers = l.Workers
	}
	if l.ExprBudget > 0 {
		d.ExprBudget = l.ExprBudget
	}
	if l.ExprTime > 0 {
		d.ExprTime = l.ExprTime
	}
	if l.MaxRecords > 0 {
		d.MaxRecords = l.MaxRecords
	}
	return d
}

// Config is what the workflow service needs.
type Config struct {
	Store      store.Store
	Catalog    *catalog.Catalog
	Records    *records.Service
	Activities *activity.Service
	Auth       *auth.Service
	Access     *access.Policy // its roles say who is an admin, its directory the teams
	// Mail is the SMTP server (nil: none; e-mail actions are refused).
	Mail *mail.Mailer
	// Webhooks delivers outbound webhooks (nil: one with no allowlist).
	Webhooks *webhook.Client
	Log      *slog.Logger
	// Node names this process as a lease holder.
	Node string
	// Timezone is a rule's time zone unless it names one (nil: UTC).
	Timezone *time.Location
	Limits   Limits
	// Now is the clock (nil: time.Now); tests drive time through it.
	Now func() time.Time
}

// Service is the workflow module: rules, their triggers, the runner and
// the run log.
type Service struct {
	st     store.Store
	cat    *catalog.Catalog
	recs   *records.Service
	auth   *auth.Service
	access *access.Policy
	svc    *action.Services
	log    *slog.Logger
	node   string
	loc    *time.Location
	limits Limits
	now    func() time.Time

	rules     *ruleCache
	versions  sync.Map // "<id>:<version>" → *Rule
	nversions atomic.Int64
	notes     *notifications.Store

	// runner state (runner.go)
	rn        *runner
	work      chan *Run
	inflight  sync.Map       // run id → true while a worker holds it
	busy      sync.WaitGroup // runs handed to the workers and not yet done
	wg        sync.WaitGroup // the runner's goroutines
	forceTick bool           // Drain: tick and poll at every step
	users     *userCache
}

// New returns the workflow service; Ensure creates its tables.
func New(cfg Config) *Service {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	loc := cfg.Timezone
	if loc == nil {
		loc = time.UTC
	}
	hooks := cfg.Webhooks
	if hooks == nil {
		hooks = webhook.New(&webhook.Guard{})
	}
	var dir *access.Directory
	if cfg.Access != nil {
		dir = cfg.Access.Dir
	}
	notes := notifications.New(cfg.Store)
	s := &Service{st: cfg.Store, cat: cfg.Catalog, recs: cfg.Records, auth: cfg.Auth, access: cfg.Access, log: log,
		node: cfg.Node, loc: loc, limits: cfg.Limits.withDefaults(), now: now, notes: notes}
	if s.node == "" {
		s.node = "node-" + store.NewID()
	}
	s.svc = &action.Services{Store: cfg.Store, Catalog: cfg.Catalog, Records: cfg.Records, Activities: cfg.Activities,
		Teams: dir, Notifications: notes, Mail: cfg.Mail, Webhooks: hooks, Log: log}
	s.rules = newRuleCache(s)
	s.users = &userCache{s: s, m: map[string]userEntry{}}
	s.work = make(chan *Run, 4*s.limits.Workers)
	s.rn = &runner{}
	return s
}

// Ensure creates the run log's and the inbox's tables.
func (s *Service) Ensure(ctx context.Context) error {
	if err := s.st.EnsureEntity(ctx, runDefinition()); err != nil {
		return fmt.Errorf("workflows: run log: %w", err)
	}
	if err := s.notes.Ensure(ctx); err != nil {
		return fmt.Errorf("workflows: notifications: %w", err)
	}
	return nil
}

// Notifications is the in-app inbox.
func (s *Service) Notifications() *notifications.Store { return s.notes }
