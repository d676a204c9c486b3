package actions

import (
	"context"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/activity"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
	"github.com/jimu-crm/jimu/workflows/action"
)

// CreateTask hangs a task (a to-do, or a reminder with a due date) on the
// run's record, through the activity module, so it shows on the record's
// timeline and in its assignee's task list: {"title": "Onboard {{
// record.name }}", "due_in": "3d", "assignee": "record.owner"}.
type CreateTask struct {
	Title    string `json:"title"`     // a template
	Body     string `json:"body"`      // a template
	DueIn    string `json:"due_in"`    // an offset from the run ("3d")
	DueDate  string `json:"due_date"`  // or an expression giving a date
	Assignee string `json:"assignee"`  // an expression giving a user id (default: the record's owner)
	Timezone string `json:"time_zone"` // of due_in's days (default: the rule's)
	title    *action.Template
	body     *action.Template
	due      *expression.Program
	assignee *expression.Program
	dueIn    *action.Offset
}

func (*CreateTask) ID() string { return "actions.create_task" }

func (a *CreateTask) Prepare(c *action.Compiler) {
	if c.Entity == nil {
		c.Fail("", "no_record", "a task hangs on a record: create_task needs a rule on an entity")
		return
	}
	if strings.TrimSpace(a.Title) == "" {
		c.Fail("title", "required", "a task needs a title")
	} else {
		a.title = c.Template("title", a.Title)
	}
	if a.Body != "" {
		a.body = c.Template("body", a.Body)
	}
	switch {
	case a.DueIn != "" && a.DueDate != "":
		c.Fail("due_in", "invalid", "give due_in or due_date, not both")
	case a.DueIn != "":
		o, err := action.ParseOffset(a.DueIn)
		if err != nil {
			c.Fail("due_in", "invalid_offset", "%v", err)
		} else {
			a.dueIn = &o
		}
	case a.DueDate != "":
		a.due = c.Expr("due_date", a.DueDate)
	}
	if a.Timezone != "" {
		if _, err := time.LoadLocation(a.Timezone); err != nil {
			c.Fail("time_zone", "unknown_time_zone", "unknown time zone %q", a.Timezone)
		}
	}
	if a.Assignee != "" {
		a.assignee = c.Expr("assignee", a.Assignee)
	}
}

func (a *CreateTask) Do(ctx context.Context, x *action.Exec) (any, error) {
	if err := needRecord(x, "create_task"); err != nil {
		return nil, err
	}
	if x.Ledger.Done("task") {
		return map[string]any{"skipped": "created by an earlier attempt"}, nil
	}
	title, err := a.title.Render(x, nil)
	if err != nil {
		return nil, action.Permanent(err)
	}
	body := map[string]any{"title": strings.TrimSpace(title)}
	if a.body != nil {
		text, err := a.body.Render(x, nil)
		if err != nil {
			return nil, action.Permanent(err)
		}
		body["body"] = text
	}
	switch {
	case a.dueIn != nil:
		loc := x.Loc
		if a.Timezone != "" {
			loc, _ = time.LoadLocation(a.Timezone)
		}
		body["due_date"] = a.dueIn.From(x.Now, loc).In(loc).Format(metadata.DateLayout)
	case a.due != nil:
		v, err := x.Eval(a.due)
		if err != nil {
			return nil, action.Permanentf("due_date: %w", err)
		}
		if v != nil {
			body["due_date"] = action.ForField(nil, "", v)
			if t, ok := v.(time.Time); ok {
				body["due_date"] = t.In(x.Loc).Format(metadata.DateLayout)
			}
		}
	}
	assignee := any(x.Record["owner"])
	if a.assignee != nil {
		if assignee, err = x.Eval(a.assignee); err != nil {
			return nil, action.Permanentf("assignee: %w", err)
		}
	}
	if s, _ := assignee.(string); s != "" {
		body["assignee"] = s
	}
	out := func(r *store.Record) any {
		m := map[string]any{"task": body}
		if r != nil {
			m["id"] = r.ID
		}
		return m
	}
	r, err := x.Ledger.Write(ctx, "task", func(ctx context.Context) (*store.Record, error) {
		return x.Svc.Activities.Add(ctx, x.As, x.Entity.Name, x.RecordID, activity.Task, body)
	}, out)
	if err != nil {
		return map[string]any{"task": body}, err
	}
	return out(r), nil
}
