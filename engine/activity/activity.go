// Package activity is what hangs on any record: notes, tasks and logged
// calls, meetings and e-mails. They are built-in entities whose records
// name the record they hang on (parent_entity, parent_id), and they follow
// its access: who may read the record reads its activities, who may
// change it adds, changes and removes them (and a task's assignee may
// change their task). The record page's timeline merges them with the
// record's audited changes.
package activity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// The built-in activity entities.
const (
	Note     = "note"
	Task     = "task"
	Activity = "activity" // a logged call, meeting or e-mail
)

// Kinds are the activity entities, in the order the app offers them.
var Kinds = []string{Note, Task, Activity}

// IsKind reports whether entity is an activity entity.
func IsKind(entity string) bool { return slices.Contains(Kinds, entity) }

// The fields that name the record an activity hangs on.
const (
	ParentEntity = "parent_entity"
	ParentID     = "parent_id"
)

func parentFields() []*metadata.Field {
	return []*metadata.Field{
		{Name: ParentEntity, Type: "text", Label: metadata.Text{"en": "Record type", "zh-CN": "记录类型"}, Required: true, MaxLength: 63},
		{Name: ParentID, Type: "text", Label: metadata.Text{"en": "Record", "zh-CN": "记录"}, Required: true, MaxLength: 36},
	}
}

// Entities are the definitions created on first start; admins may add
// fields to them later.
func Entities() []*metadata.Entity {
	parentIndex := []*metadata.Index{{Fields: []string{ParentEntity, ParentID}}}
	return []*metadata.Entity{
		{Name: Note, Label: metadata.Text{"en": "Note", "zh-CN": "备注"}, LabelPlural: metadata.Text{"en": "Notes", "zh-CN": "备注"},
			Icon: "file", Ownership: true, TitleField: "body", Indexes: parentIndex,
			Fields: append([]*metadata.Field{
				{Name: "body", Type: "long_text", Label: metadata.Text{"en": "Note", "zh-CN": "内容"}, Required: true, MaxLength: 20000},
			}, parentFields()...)},
		{Name: Task, Label: metadata.Text{"en": "Task", "zh-CN": "任务"}, LabelPlural: metadata.Text{"en": "Tasks", "zh-CN": "任务"},
			Icon: "check-square", Ownership: true, Indexes: append(parentIndex, &metadata.Index{Fields: []string{"assignee", "done"}}),
			Fields: append([]*metadata.Field{
				{Name: "title", Type: "text", Label: metadata.Text{"en": "Title", "zh-CN": "标题"}, Required: true, MaxLength: 500},
				{Name: "due_date", Type: "date", Label: metadata.Text{"en": "Due", "zh-CN": "截止日期"}, Indexed: true},
				{Name: "assignee", Type: "user", Label: metadata.Text{"en": "Assignee", "zh-CN": "负责人"}},
				{Name: "done", Type: "boolean", Label: metadata.Text{"en": "Done", "zh-CN": "已完成"}},
				{Name: "body", Type: "long_text", Label: metadata.Text{"en": "Details", "zh-CN": "详情"}, MaxLength: 20000},
			}, parentFields()...)},
		{Name: Activity, Label: metadata.Text{"en": "Activity", "zh-CN": "跟进记录"}, LabelPlural: metadata.Text{"en": "Activities", "zh-CN": "跟进记录"},
			Icon: "phone", Ownership: true, TitleField: "subject", Indexes: parentIndex,
			Fields: append([]*metadata.Field{
				{Name: "kind", Type: "select", Label: metadata.Text{"en": "Kind", "zh-CN": "类型"}, Required: true, Options: []metadata.Option{
					{Value: "call", Label: metadata.Text{"en": "Call", "zh-CN": "电话"}},
					{Value: "meeting", Label: metadata.Text{"en": "Meeting", "zh-CN": "拜访"}},
					{Value: "email", Label: metadata.Text{"en": "E-mail", "zh-CN": "邮件"}}}},
				{Name: "subject", Type: "text", Label: metadata.Text{"en": "Subject", "zh-CN": "主题"}, Required: true, MaxLength: 500},
				{Name: "body", Type: "long_text", Label: metadata.Text{"en": "Notes", "zh-CN": "内容"}, MaxLength: 20000},
				{Name: "at", Type: "datetime", Label: metadata.Text{"en": "When", "zh-CN": "时间"}, DefaultEx: "now()"},
			}, parentFields()...)},
	}
}

// system is the principal that creates the built-in entities.
var system = &identity.Principal{UserID: "00000000-0000-7000-8000-000000000001", Name: "jimu", Admin: true}

// Ensure creates the activity entities that do not exist yet. An entity
// of one of their names that an admin made before, without the parent
// fields, is left alone and logged: its records cannot hang on others.
func Ensure(ctx context.Context, cat *catalog.Catalog, log *slog.Logger) error {
	for _, e := range Entities() {
		have, err := cat.Get(e.Name)
		if err == nil {
			if have.Field(ParentEntity) == nil || have.Field(ParentID) == nil {
				log.Warn("activity: an entity of this name has no parent fields; it is not used for activities", "entity", e.Name)
			}
			continue
		}
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Status != 404 {
			return err
		}
		if _, err := cat.Create(ctx, system, e); err != nil {
			return fmt.Errorf("activity: create %s: %w", e.Name, err)
		}
	}
	return nil
}

// Service adds, changes and lists activities under the rights on the
// records they hang on.
type Service struct {
	recs *records.Service // the caller's own rights: checks on the parent
	acts *records.Service // the activity entities, once the parent is checked
	st   store.Store
	cat  *catalog.Catalog
}

// New returns the activity service over the records service.
func New(st store.Store, cat *catalog.Catalog, recs *records.Service) *Service {
	return &Service{recs: recs, acts: recs.WithPolicy(parentChecked{}), st: st, cat: cat}
}

// parentChecked is the policy of activity records once the service has
// checked the caller's rights on the record they hang on: the record's
// rules are the activity's, so nothing more is asked.
type parentChecked struct{}

func (parentChecked) Allowed(_ context.Context, _ *identity.Principal, e *catalog.Entity, _ string) bool {
	return IsKind(e.Name)
}
func (parentChecked) Permits(_ context.Context, _ *identity.Principal, e *catalog.Entity, _ string) bool {
	return IsKind(e.Name)
}
func (parentChecked) Scope(context.Context, *identity.Principal, *catalog.Entity, string) (*store.Cond, error) {
	return nil, nil
}
func (parentChecked) Field(*identity.Principal, *catalog.Entity, string) (bool, bool) {
	return false, false
}
func (parentChecked) CanAssignOwner(*identity.Principal, *catalog.Entity) bool { return false }

var _ records.Policy = parentChecked{}

func (s *Service) kind(kind string) (*catalog.Entity, error) {
	if !IsKind(kind) {
		return nil, problem.NotFound("no activity kind %q (note, task or activity)", kind)
	}
	e, err := s.cat.Get(kind)
	if err != nil {
		return nil, err
	}
	if e.Field(ParentEntity) == nil || e.Field(ParentID) == nil {
		return nil, problem.NotFound("entity %s does not hold activities", kind)
	}
	return e, nil
}

// Add hangs a new activity of kind on a record p may change.
func (s *Service) Add(ctx context.Context, p *identity.Principal, entity, id, kind string, body map[string]any) (*store.Record, error) {
	if _, err := s.kind(kind); err != nil {
		return nil, err
	}
	if IsKind(entity) {
		return nil, problem.BadRequest("entity", "unsupported", "activities hang on records, not on other activities")
	}
	if err := s.recs.Check(ctx, p, entity, id, records.OpUpdate); err != nil {
		return nil, err
	}
	if err := refuseParent(body); err != nil {
		return nil, err
	}
	body[ParentEntity], body[ParentID] = entity, id
	if _, set := body["assignee"]; kind == Task && !set {
		body["assignee"] = p.UserID
	}
	return s.acts.Create(ctx, p, kind, body)
}

// refuseParent keeps the record an activity hangs on the server's: a
// client naming it could move an activity to a record it may not see.
func refuseParent(body map[string]any) error {
	var errs []problem.FieldError
	for _, f := range []string{ParentEntity, ParentID} {
		if _, ok := body[f]; ok {
			errs = append(errs, problem.FieldError{Field: f, Code: "read_only", Message: f + " is set from the record the activity hangs on"})
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}

// target reads an activity and checks that p may act on it: p may op
// the record it hangs on, or it is p's own task (its assignee reads and
// updates it).
func (s *Service) target(ctx context.Context, p *identity.Principal, kind, id, op string) (*store.Record, error) {
	if _, err := s.kind(kind); err != nil {
		return nil, err
	}
	r, _, err := s.acts.Get(ctx, p, kind, id)
	if err != nil {
		return nil, err
	}
	if op != records.OpDelete && kind == Task && r.Data["assignee"] == p.UserID {
		return r, nil
	}
	pe, _ := r.Data[ParentEntity].(string)
	pid, _ := r.Data[ParentID].(string)
	parentOp := records.OpUpdate
	if op == records.OpRead {
		parentOp = records.OpRead
	}
	if err := s.recs.Check(ctx, p, pe, pid, parentOp); err != nil {
		var perr *problem.Error
		if errors.As(err, &perr) && (perr.Status == 403 || perr.Status == 404) {
			return nil, problem.NotFound("%s %s not found", kind, id)
		}
		return nil, err
	}
	return r, nil
}

// Get reads one activity p may read.
func (s *Service) Get(ctx context.Context, p *identity.Principal, kind, id string) (*store.Record, error) {
	return s.target(ctx, p, kind, id, records.OpRead)
}

// Change updates an activity (expected: the version p read, 0: any).
func (s *Service) Change(ctx context.Context, p *identity.Principal, kind, id string, body map[string]any, expected int64) (*store.Record, error) {
	if _, err := s.target(ctx, p, kind, id, records.OpUpdate); err != nil {
		return nil, err
	}
	if err := refuseParent(body); err != nil {
		return nil, err
	}
	return s.acts.Update(ctx, p, kind, id, body, expected, false)
}

// Remove deletes an activity of a record p may change.
func (s *Service) Remove(ctx context.Context, p *identity.Principal, kind, id string, expected int64) error {
	if _, err := s.target(ctx, p, kind, id, records.OpDelete); err != nil {
		return err
	}
	return s.acts.Delete(ctx, p, kind, id, expected)
}

// Render is an activity as the API shows it: every field (the record's
// rules, not the activity entity's, decide who sees it).
func (s *Service) Render(p *identity.Principal, kind string, r *store.Record) map[string]any {
	e, err := s.cat.Get(kind)
	if err != nil {
		return map[string]any{"id": r.ID}
	}
	return s.acts.Render(p, e, r, nil)
}

// MyTasks lists the open tasks assigned to p, soonest due first: what
// "my open tasks" shows. A task's assignee sees it whatever the record
// it hangs on.
func (s *Service) MyTasks(ctx context.Context, p *identity.Principal, limit int, cursor string) (*records.ListResult, error) {
	if _, err := s.kind(Task); err != nil {
		return nil, err
	}
	res, _, err := s.acts.List(ctx, p, Task, records.ListParams{
		Filter: fmt.Sprintf("assignee == %q and done != true", p.UserID), Sort: "due_date", Limit: limit, Cursor: cursor})
	return res, err
}
