package action

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/access"
	"github.com/jimu-crm/jimu/engine/activity"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
	"github.com/jimu-crm/jimu/workflows/mail"
	"github.com/jimu-crm/jimu/workflows/notifications"
	"github.com/jimu-crm/jimu/workflows/webhook"
)

// Services are what actions act through. Every record write goes through
// the records service (the write pipeline, under the rule's identity).
type Services struct {
	Store         store.Store
	Catalog       *catalog.Catalog
	Records       *records.Service
	Activities    *activity.Service
	Teams         *access.Directory // nil: no teams (round robin and team notifications fail)
	Notifications *notifications.Store
	Mail          *mail.Mailer // nil: no SMTP server configured
	Webhooks      *webhook.Client
	Log           *slog.Logger
}

// Exec is one action of one run, as the runner hands it to the action.
type Exec struct {
	// Env is what the action's expressions see (see Env).
	Env map[string]any
	// Entity and RecordID are the rule's entity and the record the run is
	// about ("" for none: a schedule without records, a webhook).
	Entity   *catalog.Entity
	RecordID string
	// Record and Old are the record as the API shows it, and the values
	// it had before the change (nil unless an update).
	Record, Old map[string]any
	// As is the rule's identity: every write is made, and checked, as
	// this user.
	As *identity.Principal
	// DryRun: change nothing, say what would be done (POST …/test).
	DryRun bool
	Svc    *Services
	// RunID and Step name the step; with Key they make the idempotency
	// keys a receiver can deduplicate on (Message-ID, Idempotency-Key).
	RunID string
	Step  int
	// Rule is the rule's id.
	Rule string
	// Ledger applies each effect at most once per run.
	Ledger Ledger
	// Budget is the memory budget of one expression evaluation.
	Budget uint
	// Now is the time of the run's evaluation; Loc the rule's time zone.
	Now time.Time
	Loc *time.Location
}

// Ledger is how an action applies an effect at most once: each effect has
// a key within its step, and the run log marks the key applied in the same
// unit of work as the effect itself where the effect is a store write.
// Every effect counts against the run's limit of actions.
type Ledger interface {
	// Done reports whether the effect was applied by an earlier attempt
	// of the run.
	Done(key string) bool
	// Write runs fn, whose one pipeline write (create, update or delete
	// through the records or activity service, with the context it is
	// given) commits together with the key's mark. It returns fn's record,
	// or in a dry run the record that would have been written. out, when
	// the write is the step's last effect, is the step's output from the
	// record about to be written: the run log may record the step done in
	// the same unit (the action returns the same output).
	Write(ctx context.Context, key string, fn func(ctx context.Context) (*store.Record, error), out func(r *store.Record) any) (*store.Record, error)
	// Commit makes fn's writes and the key's mark in one unit of work
	// (nothing in a dry run).
	Commit(ctx context.Context, key string, fn func(tx store.Writes) error) error
	// Mark records the key applied after an effect outside the store (an
	// e-mail sent, a request answered).
	Mark(ctx context.Context, key string) error
}

// Key is the idempotency key of an effect of this step: the same for every
// attempt of the run, different for every step and effect.
func (x *Exec) Key(effect string) string {
	return fmt.Sprintf("%s.%d.%s", x.RunID, x.Step, effect)
}

// Eval runs one of the action's expressions within the budget.
func (x *Exec) Eval(p *expression.Program) (any, error) {
	if p == nil {
		return nil, nil
	}
	return p.RunBudget(x.Env, x.Budget)
}

// Values evaluates a set of field values for entity e into the form the
// write pipeline takes (dates as text, whole numbers as integers). The
// names are sorted, so an error always names the same field first.
func (x *Exec) Values(e *catalog.Entity, values map[string]*expression.Program) (map[string]any, error) {
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make(map[string]any, len(values))
	for _, name := range names {
		v, err := x.Eval(values[name])
		if err != nil {
			return nil, Permanentf("value of %s: %w", name, err)
		}
		out[name] = ForField(e, name, v)
	}
	return out, nil
}

// ForField turns an expression's result into what the write pipeline takes
// for a field of e.
func ForField(e *catalog.Entity, name string, v any) any {
	var f *metadata.Field
	if e != nil {
		f = e.Field(name)
	}
	switch t := v.(type) {
	case expression.Date:
		return t.String()
	case time.Time:
		if f != nil && f.Type == "date" {
			return t.UTC().Format(metadata.DateLayout)
		}
		return metadata.FormatDateTime(t)
	case int:
		return int64(t)
	case []string:
		out := make([]any, len(t))
		for i, s := range t {
			out[i] = s
		}
		return out
	}
	return v
}

// Text is a value as a template or a message shows it.
func Text(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case expression.Date:
		return t.String()
	case time.Time:
		return t.UTC().Format("2006-01-02 15:04 UTC")
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return strconv.FormatInt(int64(t), 10)
		}
		return strconv.FormatFloat(t, 'f', -1, 64)
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = Text(x)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// Env is what a rule's expressions see: the record's fields by name and
// as record, its values before the change as old (empty unless it was an
// update), user, now and payload. Dates and datetimes are turned into
// values that compare as a CRM user means (as formulas see them).
func Env(e *catalog.Entity, record, old map[string]any, user map[string]any, now time.Time, payload any) map[string]any {
	rec := typed(e, record)
	env := make(map[string]any, len(rec)+6)
	for k, v := range rec {
		env[k] = v
	}
	if old == nil {
		old = map[string]any{}
	}
	if user == nil {
		user = map[string]any{}
	}
	env["record"], env["old"], env["user"], env["now"] = rec, typed(e, old), user, now
	if payload != nil {
		env["payload"] = payload
	}
	return env
}

// typed converts a record as the API shows it (dates and datetimes as
// text) into expression values.
func typed(e *catalog.Entity, m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
		s, ok := v.(string)
		if !ok || e == nil {
			continue
		}
		switch kind, _ := e.KindOf(k); kind {
		case metadata.KindDate:
			if d, ok := expression.NewDate(s); ok {
				out[k] = d
			}
		case metadata.KindDateTime:
			if t, err := metadata.ParseDateTime(s); err == nil {
				out[k] = t
			}
		}
	}
	return out
}
