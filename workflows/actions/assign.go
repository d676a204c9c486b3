package actions

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
	"github.com/jimu-crm/jimu/workflows/action"
)

// AssignOwner sets the owner of the run's record: a fixed user (an
// expression: "\"<user id>\"" or record.created_by), the next member of a
// team in turn (round_robin), or the team member owning the fewest open
// records of the entity (least_loaded; open is a filter, "stage not in
// [\"won\", \"lost\"]", and without it every record counts).
type AssignOwner struct {
	Mode string `json:"mode"` // fixed, round_robin, least_loaded
	User string `json:"user"` // fixed: an expression giving a user id
	Team string `json:"team"` // round_robin, least_loaded: a team id
	Open string `json:"open"` // least_loaded: which records count
	user *expression.Program
	// counter names the round-robin sequence of this rule and step, so
	// two rules take turns independently.
	counter string
}

func (*AssignOwner) ID() string { return "actions.assign_owner" }

func (a *AssignOwner) Prepare(c *action.Compiler) {
	if c.Entity == nil || !c.Entity.Ownership {
		c.Fail("", "no_owner", "assign_owner needs a rule on an entity whose records have owners")
		return
	}
	switch a.Mode {
	case "fixed":
		if a.User == "" {
			c.Fail("user", "required", "a fixed owner needs user (an expression giving a user id)")
			return
		}
		a.user = c.Expr("user", a.User)
	case "round_robin", "least_loaded":
		if a.Team == "" {
			c.Fail("team", "required", "%s picks from a team: give its id", a.Mode)
			return
		}
		if c.Svc != nil && c.Svc.Teams != nil {
			if _, err := c.Svc.Teams.Get(context.Background(), a.Team); err != nil {
				c.Fail("team", "unknown_team", "there is no team %q", a.Team)
			}
		}
		if a.Mode == "least_loaded" && a.Open != "" {
			res := &expression.EntityResolver{Entity: c.Entity.Entity, Vars: map[string]any{"user": map[string]any{}}}
			if _, err := expression.Pushdown(a.Open, res, time.Now()); err != nil {
				c.Fail("open", "invalid_filter", "%v", err)
			}
		}
		a.counter = "wf_rr:" + c.Rule + ":" + c.Path
	default:
		c.Fail("mode", "enum", "mode is fixed, round_robin or least_loaded, not %q", a.Mode)
	}
}

func (a *AssignOwner) Do(ctx context.Context, x *action.Exec) (any, error) {
	if err := needRecord(x, "assign_owner"); err != nil {
		return nil, err
	}
	if x.Ledger.Done("owner") {
		return map[string]any{"skipped": "assigned by an earlier attempt"}, nil
	}
	owner, why, err := a.pick(ctx, x)
	if err != nil {
		return nil, err
	}
	out := func(r *store.Record) any { return map[string]any{"owner": owner, "why": why, "version": versionOf(r)} }
	r, err := x.Ledger.Write(ctx, "owner", func(ctx context.Context) (*store.Record, error) {
		return x.Svc.Records.Update(ctx, x.As, x.Entity.Name, x.RecordID, map[string]any{"owner": owner}, 0, false)
	}, out)
	if err != nil {
		return map[string]any{"owner": owner, "why": why}, err
	}
	return out(r), nil
}

func (a *AssignOwner) pick(ctx context.Context, x *action.Exec) (string, string, error) {
	if a.Mode == "fixed" {
		v, err := x.Eval(a.user)
		if err != nil {
			return "", "", action.Permanentf("user: %w", err)
		}
		id, ok := v.(string)
		if !ok || id == "" {
			return "", "", action.Permanentf("user gives %v, not a user id", v)
		}
		return id, "fixed", nil
	}
	if x.Svc.Teams == nil {
		return "", "", action.Permanentf("no team directory")
	}
	t, err := x.Svc.Teams.Get(ctx, a.Team)
	if err != nil {
		return "", "", action.Permanentf("team %s: %w", a.Team, err)
	}
	members := slices.Clone(t.Members)
	slices.Sort(members)
	if len(members) == 0 {
		return "", "", action.Permanentf("team %s has no members", t.Name)
	}
	if a.Mode == "round_robin" {
		if x.DryRun {
			return members[0], "round robin (a dry run does not advance the turn)", nil
		}
		n, err := x.Svc.Store.NextSequence(ctx, a.counter)
		if err != nil {
			return "", "", err
		}
		return members[int((n-1)%int64(len(members)))], fmt.Sprintf("round robin in %s, turn %d", t.Name, n), nil
	}
	var open *store.Cond
	if a.Open != "" {
		res := &expression.EntityResolver{Entity: x.Entity.Entity, Vars: map[string]any{"user": x.As.Vars()}}
		if open, err = expression.Pushdown(a.Open, res, time.Now()); err != nil {
			return "", "", action.Permanentf("open: %w", err)
		}
	}
	best, bestN := "", int64(-1)
	for _, m := range members {
		mine := &store.Cond{Op: store.OpEq, Field: "owner", Kind: metadata.KindString, Value: m}
		n, _, err := x.Svc.Store.Count(ctx, x.Entity.Name, store.And(mine, open), 1_000_000)
		if err != nil {
			return "", "", err
		}
		if bestN < 0 || n < bestN {
			best, bestN = m, n
		}
	}
	return best, fmt.Sprintf("least loaded in %s (%d open records)", t.Name, bestN), nil
}
