package actions

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/workflows/action"
	"github.com/jimu-crm/jimu/workflows/notifications"
)

// MaxRecipients caps the people one notification step writes to.
const MaxRecipients = 500

// Notify leaves an in-app notification (the bell) for users: those an
// expression names ({"to": "record.owner"}, or a list) and the members of
// a team ({"team": "<team id>"}), with a title and an optional body, both
// templates, linked to the run's record.
type Notify struct {
	To    string `json:"to"`
	Team  string `json:"team"`
	Title string `json:"title"`
	Body  string `json:"body"`
	to    *expression.Program
	title *action.Template
	body  *action.Template
}

func (*Notify) ID() string { return "actions.notify" }

func (a *Notify) Prepare(c *action.Compiler) {
	if a.To == "" && a.Team == "" {
		c.Fail("to", "required", "say who: to (an expression giving user ids) or team")
	}
	if a.To != "" {
		a.to = c.Expr("to", a.To)
	}
	if a.Team != "" && c.Svc != nil && c.Svc.Teams != nil {
		if _, err := c.Svc.Teams.Get(context.Background(), a.Team); err != nil {
			c.Fail("team", "unknown_team", "there is no team %q", a.Team)
		}
	}
	if strings.TrimSpace(a.Title) == "" {
		c.Fail("title", "required", "a notification needs a title")
	} else {
		a.title = c.Template("title", a.Title)
	}
	if a.Body != "" {
		a.body = c.Template("body", a.Body)
	}
}

// ids reads the user ids an expression gives: one id, or a list of them.
func ids(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		if t == "" {
			return nil, nil
		}
		return []string{t}, nil
	case []any:
		var out []string
		for _, x := range t {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%v is not a user id", x)
			}
			if s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case []string:
		return t, nil
	}
	return nil, fmt.Errorf("%v (%T) is not a user id or a list of them", v, v)
}

func (a *Notify) recipients(ctx context.Context, x *action.Exec) ([]string, error) {
	var users []string
	if a.to != nil {
		v, err := x.Eval(a.to)
		if err != nil {
			return nil, action.Permanentf("to: %w", err)
		}
		if users, err = ids(v); err != nil {
			return nil, action.Permanentf("to: %w", err)
		}
	}
	if a.Team != "" {
		if x.Svc.Teams == nil {
			return nil, action.Permanentf("no team directory")
		}
		t, err := x.Svc.Teams.Get(ctx, a.Team)
		if err != nil {
			return nil, action.Permanentf("team %s: %w", a.Team, err)
		}
		users = append(users, t.Members...)
		if t.Manager != "" {
			users = append(users, t.Manager)
		}
	}
	slices.Sort(users)
	users = slices.Compact(users)
	if len(users) > MaxRecipients {
		return nil, action.Permanentf("%d recipients; at most %d", len(users), MaxRecipients)
	}
	return users, nil
}

func (a *Notify) Do(ctx context.Context, x *action.Exec) (any, error) {
	if x.Ledger.Done("notify") {
		return map[string]any{"skipped": "sent by an earlier attempt"}, nil
	}
	users, err := a.recipients(ctx, x)
	if err != nil {
		return nil, err
	}
	title, err := a.title.Render(x, nil)
	if err != nil {
		return nil, action.Permanent(err)
	}
	body, err := a.body.Render(x, nil)
	if err != nil {
		return nil, action.Permanent(err)
	}
	out := map[string]any{"to": users, "title": title}
	if body != "" {
		out["body"] = body
	}
	if len(users) == 0 {
		out["note"] = "nobody to notify"
		return out, x.Ledger.Mark(ctx, "notify")
	}
	entity := ""
	if x.Entity != nil {
		entity = x.Entity.Name
	}
	err = x.Ledger.Commit(ctx, "notify", func(tx store.Writes) error {
		for _, u := range users {
			n := &notifications.Notification{User: u, Title: title, Body: body, Entity: entity, RecordID: x.RecordID, Workflow: x.Rule, Run: x.RunID}
			if err := x.Svc.Notifications.Add(ctx, tx, n); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
