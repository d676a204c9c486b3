package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/metadata"
	"github.com/jimu-crm/jimu/plugins"
	"github.com/jimu-crm/jimu/workflows/action"
)

// compiled is a rule version ready to run: its condition and actions
// compiled once, its time zone, schedule and offset parsed.
type compiled struct {
	*Rule
	entity  *catalog.Entity
	cond    *expression.Program // nil: always
	actions []action.Action
	inputs  []json.RawMessage // each action as a step's input shows it (masked), made once
	loc     *time.Location
	sched   *Schedule     // schedule
	offset  action.Offset // date_relative
	at      time.Duration // date_relative on a date field: the time of day
	kind    metadata.Kind // date_relative: the field's kind
	fields  map[string]bool
}

// missed is what the rule does with times that came due while no node ran.
func (c *compiled) missed() string {
	if c.Trigger.Missed == MissedSkip {
		return MissedSkip
	}
	return MissedCatchUp
}

// compile checks a rule against the live metadata and compiles it. Every
// problem is reported with its path.
func (s *Service) compile(r *Rule) (*compiled, []problem.FieldError) {
	var errs []problem.FieldError
	fail := func(field, code, format string, args ...any) {
		errs = append(errs, problem.FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	c := &compiled{Rule: r, loc: s.loc, fields: map[string]bool{}}
	e, err := s.cat.Get(r.Entity)
	if err != nil {
		fail("entity", "unknown_entity", "there is no entity %q", r.Entity)
		return nil, errs
	}
	c.entity = e
	if r.Timezone != "" {
		if c.loc, err = time.LoadLocation(r.Timezone); err != nil {
			fail("timezone", "unknown_time_zone", "unknown time zone %q (use an IANA name such as Asia/Shanghai)", r.Timezone)
		}
	}
	t := r.Trigger
	pushed := false // the condition is a filter over records (schedule, date)
	switch t.Type {
	case OnUpdate:
		for i, f := range t.Fields {
			if _, ok := e.KindOf(f); !ok {
				fail(fmt.Sprintf("trigger.fields.%d", i), "unknown_field", "%s has no field %q", e.Name, f)
			}
			c.fields[f] = true
		}
	case OnSchedule:
		loc := c.loc
		if t.Timezone != "" {
			if loc, err = time.LoadLocation(t.Timezone); err != nil {
				fail("trigger.timezone", "unknown_time_zone", "unknown time zone %q (use an IANA name such as Asia/Shanghai)", t.Timezone)
				loc = c.loc
			} else {
				c.loc = loc
			}
		}
		if c.sched, err = ParseSchedule(t.Cron, loc); err != nil {
			fail("trigger.cron", "invalid_cron", "%v", err)
		}
		pushed = true
	case OnDate:
		k, ok := e.KindOf(t.Field)
		if !ok || (k != metadata.KindDate && k != metadata.KindDateTime) {
			fail("trigger.field", "not_a_date", "%s has no date or datetime field %q", e.Name, t.Field)
		}
		c.kind = k
		if c.offset, err = action.ParseOffset(t.Offset); err != nil {
			fail("trigger.offset", "invalid_offset", "%v", err)
		}
		if t.At != "" {
			if k != metadata.KindDate {
				fail("trigger.at", "invalid", "at is the time of day of a date field; %s is a datetime", t.Field)
			}
			h, _ := strconv.Atoi(t.At[:2])
			m, _ := strconv.Atoi(t.At[3:])
			c.at = time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
		}
		pushed = true
	}
	if t.Type != OnUpdate && len(t.Fields) > 0 {
		fail("trigger.fields", "invalid", "fields apply to record.updated only")
	}
	if t.Type != OnSchedule && (t.Cron != "" || t.Timezone != "") {
		fail("trigger.cron", "invalid", "cron and timezone apply to schedule only")
	}
	if t.Type != OnDate && (t.Field != "" || t.Offset != "" || t.At != "") {
		fail("trigger.field", "invalid", "field, offset and at apply to date_relative only")
	}
	if t.Missed != "" && !pushed {
		fail("trigger.missed", "invalid", "missed applies to schedule and date_relative only")
	}
	if strings.TrimSpace(r.Condition) != "" {
		prog, fe := action.Compile(e, r.Condition, t.Type == OnWebhook)
		if fe != nil {
			fe.Field = "condition"
			errs = append(errs, *fe)
		}
		c.cond = prog
		if pushed && fe == nil {
			// The condition picks the records to fire on, inside the store.
			if _, err := expression.Pushdown(r.Condition, filterResolver(e, nil), time.Now()); err != nil {
				fe := problem.FieldError{Field: "condition", Code: "not_filterable",
					Message: fmt.Sprintf("a %s rule's condition selects records in the store: %v", t.Type, err)}
				var xe *expression.Error
				if errors.As(err, &xe) && xe.Pos != nil {
					fe.Position = &problem.Position{Offset: xe.Pos.Offset, Line: xe.Pos.Line, Column: xe.Pos.Column}
				}
				errs = append(errs, fe)
			}
		}
	}
	for i, a := range r.Actions {
		path := fmt.Sprintf("actions.%d", i)
		id := action.Namespace + "." + a.Type
		if _, ok := plugins.Get(id); !ok {
			fail(path+".type", "unknown_action", "no action %q (there are: %s)", a.Type, strings.Join(actionTypes(), ", "))
			continue
		}
		cfg, err := a.config()
		if err != nil {
			fail(path, "invalid", "%v", err)
			continue
		}
		m, err := plugins.Decode(id, cfg)
		if err != nil {
			var de *plugins.DecodeError
			msg := err.Error()
			if errors.As(err, &de) {
				msg = strings.TrimPrefix(de.Err.Error(), "json: ")
			}
			fail(path, "invalid", "%s", msg)
			continue
		}
		act, ok := m.(action.Action)
		if !ok {
			fail(path+".type", "unknown_action", "module %s is not an action", id)
			continue
		}
		comp := &action.Compiler{Entity: e, Catalog: s.cat, Rule: r.ID, Path: path, Payload: t.Type == OnWebhook, Svc: s.svc}
		act.Prepare(comp)
		errs = append(errs, comp.Errs...)
		c.actions = append(c.actions, act)
		c.inputs = append(c.inputs, a.masked())
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// CheckCondition compiles a condition as a rule of the entity with this
// trigger type would at save time, and answers its first problem (nil:
// it compiles). An unknown entity or trigger type is the request's error.
func (s *Service) CheckCondition(entity, trigger, condition string) (*problem.FieldError, error) {
	switch trigger {
	case OnCreate, OnUpdate, OnDelete, OnSchedule, OnDate, OnManual, OnWebhook:
	default:
		return nil, problem.Invalid(problem.FieldError{Field: "trigger.type", Code: "enum",
			Message: fmt.Sprintf("unknown trigger type %q", trigger)})
	}
	if utf8.RuneCountInString(condition) > maxCondition {
		return &problem.FieldError{Field: "condition", Code: "maxLength",
			Message: fmt.Sprintf("a condition is at most %d characters", maxCondition)}, nil
	}
	_, errs := s.compile(&Rule{Entity: entity, Trigger: Trigger{Type: trigger}, Condition: condition})
	for _, fe := range errs {
		if fe.Field == "entity" {
			return nil, problem.Invalid(fe)
		}
	}
	for _, fe := range errs {
		if fe.Field == "condition" {
			return &fe, nil
		}
	}
	return nil, nil
}

// maxCondition is the schema's cap on a condition (rule.schema.json).
const maxCondition = 2000

// actionTypes lists the registered actions ("set_fields", …).
func actionTypes() []string {
	ids := plugins.Namespace(action.Namespace)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strings.TrimPrefix(id, action.Namespace+".")
	}
	return out
}

// filterResolver resolves a schedule or date rule's condition as a store
// filter: the entity's fields, with user as the rule's identity.
func filterResolver(e *catalog.Entity, user map[string]any) *expression.EntityResolver {
	if user == nil {
		user = map[string]any{}
	}
	return &expression.EntityResolver{Entity: e.Entity, Vars: map[string]any{"user": user}}
}

// ruleCache compiles each rule version once (per version of its entity,
// whose fields the rule was checked against).
type ruleCache struct {
	s  *Service
	mu sync.Mutex
	m  map[ruleKey]*compiled
}

// ruleKey is a rule version compiled against a version of its entity: a
// struct, so the runner's look-up for every rule of every event formats
// nothing.
type ruleKey struct {
	id              string
	version, entity int64
}

func newRuleCache(s *Service) *ruleCache { return &ruleCache{s: s, m: map[ruleKey]*compiled{}} }

// errStale is a rule version that no longer compiles against its entity
// (a field it names was deleted since).
type errStale struct{ errs []problem.FieldError }

func (e *errStale) Error() string {
	parts := make([]string, len(e.errs))
	for i, fe := range e.errs {
		parts[i] = fe.Field + ": " + fe.Message
	}
	return "the rule no longer compiles: " + strings.Join(parts, "; ")
}

// get returns r compiled.
func (rc *ruleCache) get(r *Rule) (*compiled, error) {
	ev := int64(0)
	if e, err := rc.s.cat.Get(r.Entity); err == nil {
		ev = e.Version
	}
	key := ruleKey{r.ID, r.Version, ev}
	rc.mu.Lock()
	c := rc.m[key]
	rc.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, errs := rc.s.compile(r)
	if errs != nil {
		return nil, &errStale{errs}
	}
	rc.mu.Lock()
	if len(rc.m) > 1000 {
		rc.m = map[ruleKey]*compiled{} // old versions: start over
	}
	rc.m[key] = c
	rc.mu.Unlock()
	return c, nil
}
