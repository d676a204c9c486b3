package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/jimu-crm/jimu/engine/server"
	"github.com/jimu-crm/jimu/workflows"
	"github.com/jimu-crm/jimu/workflows/mail"
	"github.com/jimu-crm/jimu/workflows/webhook"
)

// wfConfig is how jimu serve runs automation: the SMTP server, which
// internal addresses webhooks may reach, the governor's limits.
type wfConfig struct {
	smtpHost, smtpUser, smtpFrom, smtpTLS string
	smtpPort                              int
	webhookAllow                          string
	webhookTimeout                        time.Duration
	timezone                              string
	node                                  string
	maxActions, attempts, workers         int
	runTimeout, backoff                   time.Duration

	// What check made of them.
	loc    *time.Location
	allow  []netip.Prefix
	mailer *mail.Mailer
}

func (w *wfConfig) flags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&w.smtpHost, "smtp-host", env("JIMU_SMTP_HOST", ""), "SMTP server for e-mail actions (JIMU_SMTP_HOST; empty: e-mail actions are refused)")
	fs.IntVar(&w.smtpPort, "smtp-port", int(c.envInt("JIMU_SMTP_PORT", 0)), "SMTP port (JIMU_SMTP_PORT; 0: 587, or 465 with --smtp-tls tls)")
	fs.StringVar(&w.smtpUser, "smtp-user", env("JIMU_SMTP_USER", ""), "SMTP user name (JIMU_SMTP_USER; the password only from JIMU_SMTP_PASSWORD)")
	fs.StringVar(&w.smtpFrom, "smtp-from", env("JIMU_SMTP_FROM", ""), "sender of workflow e-mails, e.g. \"Jimu <crm@example.com>\" (JIMU_SMTP_FROM)")
	fs.StringVar(&w.smtpTLS, "smtp-tls", env("JIMU_SMTP_TLS", "starttls"), "starttls (required), tls (implicit), opportunistic or none (JIMU_SMTP_TLS)")
	fs.StringVar(&w.webhookAllow, "webhook-allow", env("JIMU_WEBHOOK_ALLOW", ""),
		"networks outbound webhooks may reach although internal, comma-separated: 10.1.0.0/16,127.0.0.1 (JIMU_WEBHOOK_ALLOW)")
	fs.DurationVar(&w.webhookTimeout, "webhook-timeout", c.envDuration("JIMU_WEBHOOK_TIMEOUT", 10*time.Second), "time one webhook attempt may take (JIMU_WEBHOOK_TIMEOUT)")
	fs.StringVar(&w.timezone, "timezone", env("JIMU_TIMEZONE", "Local"), "time zone of rules that name none, an IANA name such as Asia/Shanghai (JIMU_TIMEZONE)")
	host, _ := os.Hostname()
	fs.StringVar(&w.node, "node", env("JIMU_NODE", fmt.Sprintf("%s/%d", host, os.Getpid())),
		"this process's name among the nodes of one store; unique per live process (JIMU_NODE)")
	d := workflows.DefaultLimits
	fs.IntVar(&w.maxActions, "workflow-max-actions", int(c.envInt("JIMU_WORKFLOW_MAX_ACTIONS", int64(d.MaxActions))), "effects one workflow run may apply (JIMU_WORKFLOW_MAX_ACTIONS)")
	fs.DurationVar(&w.runTimeout, "workflow-run-timeout", c.envDuration("JIMU_WORKFLOW_RUN_TIMEOUT", d.RunTimeout), "wall-time budget of one workflow run (JIMU_WORKFLOW_RUN_TIMEOUT)")
	fs.IntVar(&w.attempts, "workflow-attempts", int(c.envInt("JIMU_WORKFLOW_ATTEMPTS", int64(d.MaxAttempts))), "attempts before a failing run is dead-lettered (JIMU_WORKFLOW_ATTEMPTS)")
	fs.DurationVar(&w.backoff, "workflow-backoff", c.envDuration("JIMU_WORKFLOW_BACKOFF", d.Backoff), "wait before a run's second attempt, doubled for each later one (JIMU_WORKFLOW_BACKOFF)")
	fs.IntVar(&w.workers, "workflow-workers", int(c.envInt("JIMU_WORKFLOW_WORKERS", int64(d.Workers))), "workflow runs executed at once (JIMU_WORKFLOW_WORKERS)")
}

// check reads and checks the settings before anything is opened.
func (w *wfConfig) check() error {
	var err error
	if w.loc, err = time.LoadLocation(w.timezone); err != nil {
		return fmt.Errorf("--timezone %q: %w", w.timezone, err)
	}
	switch {
	case w.maxActions < 1, w.attempts < 1, w.workers < 1:
		return errors.New("--workflow-max-actions, --workflow-attempts and --workflow-workers must be at least 1")
	case w.runTimeout < time.Second:
		return errors.New("--workflow-run-timeout must be at least 1s")
	case w.backoff <= 0 || w.webhookTimeout <= 0:
		return errors.New("--workflow-backoff and --webhook-timeout must be positive")
	}
	if w.allow, err = webhook.ParseAllow(w.webhookAllow); err != nil {
		return fmt.Errorf("--webhook-allow: %w", err)
	}
	if w.smtpHost != "" {
		if w.mailer, err = mail.New(mail.Config{Host: w.smtpHost, Port: w.smtpPort, Username: w.smtpUser,
			Password: os.Getenv("JIMU_SMTP_PASSWORD"), From: w.smtpFrom, TLS: w.smtpTLS}); err != nil {
			return fmt.Errorf("--smtp-*: %w", err)
		}
	}
	return nil
}

// service builds the workflow service over the assembled engine.
func (w *wfConfig) service(d server.Deps, log *slog.Logger) *workflows.Service {
	hooks := webhook.New(&webhook.Guard{Allow: w.allow})
	hooks.Timeout = w.webhookTimeout
	return workflows.New(workflows.Config{Store: d.Store, Catalog: d.Catalog, Records: d.Records, Activities: d.Activities,
		Auth: d.Auth, Access: d.Access, Mail: w.mailer, Webhooks: hooks, Log: log, Node: w.node, Timezone: w.loc,
		Limits: workflows.Limits{MaxActions: w.maxActions, RunTimeout: w.runTimeout, MaxAttempts: w.attempts,
			Backoff: w.backoff, Workers: w.workers}})
}

// startWorkflows creates the run log's tables and starts the runner;
// stop waits for it once ctx has ended.
func startWorkflows(ctx context.Context, wf *workflows.Service) (stop func(), err error) {
	if err := wf.Ensure(ctx); err != nil {
		return nil, err
	}
	wf.Start(ctx)
	return wf.Wait, nil
}
