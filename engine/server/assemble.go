package server

import (
	"context"
	"log/slog"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/activity"
	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
)

// Config is what Assemble needs besides the store.
type Config struct {
	Log *slog.Logger
	// Auth are the auth options; Assemble fills in the logger and, unless
	// set, what the roles decide (second factor, admin rights).
	Auth       auth.Options
	CountCap   int64 // 0: the records service's default
	HeavyReads int   // 0: half the CPUs
	Version    string
	HSTS       bool
}

// Assemble wires the engine's services over st as every jimu serve node
// does: the catalog and the roles loaded, auth, the access policy and the
// records service. The binary and every test harness start from it, then
// add their modules and call New.
func Assemble(ctx context.Context, st store.Store, cfg Config) (Deps, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	cat := catalog.New(st, log)
	if err := cat.Load(ctx); err != nil {
		return Deps{}, err
	}
	roles := access.NewRoles(st, cat)
	if err := roles.Load(ctx); err != nil {
		return Deps{}, err
	}
	opts := cfg.Auth
	opts.Logger = log
	if opts.RequireSecondFactor == nil {
		opts.RequireSecondFactor = roles.RequireSecondFactor
	}
	if opts.AdminRoles == nil {
		opts.AdminRoles = roles.AdminRoles
	}
	au := auth.New(st, opts)
	policy := &access.Policy{Roles: roles, Dir: access.NewDirectory(st, au), St: st, Log: log}
	recs := records.New(st, cat, policy, log)
	if cfg.CountCap > 0 {
		recs.CountCap = cfg.CountCap
	}
	recs.Heavy = records.NewAdmission(records.AdmissionLimits{Running: cfg.HeavyReads})
	if err := activity.Ensure(ctx, cat, log); err != nil {
		return Deps{}, err
	}
	return Deps{Store: st, Catalog: cat, Records: recs, Auth: au, Access: policy, Log: log,
		Activities: activity.New(st, cat, recs), Version: cfg.Version, HSTS: cfg.HSTS}, nil
}
