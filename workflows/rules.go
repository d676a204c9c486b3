package workflows

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
)

// Store document kinds.
const (
	kindRule    = "workflow"         // the current version of a rule
	kindVersion = "workflow_version" // every version, "<id>:<version>"
	kindHook    = "workflow_hook"    // a webhook rule's secret, by its hash
)

// Event types a rule change writes to the outbox; the runner reloads the
// rule when it reads one, so the events after it see the new version.
const (
	evRuleChanged = "meta.workflow.updated"
	evRuleDeleted = "meta.workflow.deleted"
)

func versionID(id string, v int64) string { return fmt.Sprintf("%s:%d", id, v) }

func ruleOf(d *store.Doc) (*Rule, error) {
	var r Rule
	if err := json.Unmarshal(d.Data, &r); err != nil {
		return nil, fmt.Errorf("workflows: rule %s: %w", d.ID, err)
	}
	r.Version = d.Version
	return &r, nil
}

// Get returns the current version of a rule.
func (s *Service) Get(ctx context.Context, id string) (*Rule, error) {
	d, err := s.st.GetDoc(ctx, kindRule, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("no workflow %s", id)
	}
	if err != nil {
		return nil, err
	}
	return ruleOf(d)
}

// version returns one version of a rule, from the history. A version
// never changes once written, so each is read once per node.
func (s *Service) version(ctx context.Context, id string, v int64) (*Rule, error) {
	key := versionID(id, v)
	if r, ok := s.versions.Load(key); ok {
		return r.(*Rule), nil
	}
	r, err := s.readVersion(ctx, id, v)
	if err != nil {
		return nil, err
	}
	if s.nversions.Add(1) > 10000 {
		s.versions.Clear() // many rules, many versions: start over
		s.nversions.Store(0)
	}
	s.versions.Store(key, r)
	return r, nil
}

func (s *Service) readVersion(ctx context.Context, id string, v int64) (*Rule, error) {
	d, err := s.st.GetDoc(ctx, kindVersion, versionID(id, v))
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("no version %d of workflow %s", v, id)
	}
	if err != nil {
		return nil, err
	}
	r, err := ruleOf(d)
	if err != nil {
		return nil, err
	}
	r.Version = v
	return r, nil
}

// List returns every rule, by name.
func (s *Service) List(ctx context.Context) ([]*Rule, error) {
	docs, err := s.st.ListDocs(ctx, kindRule)
	if err != nil {
		return nil, err
	}
	out := make([]*Rule, 0, len(docs))
	for _, d := range docs {
		r, err := ruleOf(d)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	return out, nil
}

// History returns every version of a rule, oldest first.
func (s *Service) History(ctx context.Context, id string) ([]*Rule, error) {
	cur, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]*Rule, 0, cur.Version)
	for v := int64(1); v <= cur.Version; v++ {
		r, err := s.version(ctx, id, v)
		if err != nil {
			continue // a version written before history was kept
		}
		out = append(out, r)
	}
	return out, nil
}

// Save creates a rule (id empty) or writes its next version; expected is
// the version the admin read (0: any). The rule is checked against the
// JSON Schema, the live metadata and each action's own checks; nothing is
// written when any of them fails.
func (s *Service) Save(ctx context.Context, p *identity.Principal, id string, body []byte, expected int64) (*Rule, error) {
	r, err := decodeRule(body)
	if err != nil {
		return nil, err
	}
	return s.save(ctx, p, id, r, expected)
}

// Patch changes some keys of a rule (enabled, name, …), keeping the rest.
func (s *Service) Patch(ctx context.Context, p *identity.Principal, id string, body []byte, expected int64) (*Rule, error) {
	cur, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil {
		return nil, problem.BadRequest("body", "malformed_json", "%s", err.Error())
	}
	whole, _ := json.Marshal(cur)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(whole, &m)
	for k, v := range patch {
		m[k] = v
	}
	merged, _ := json.Marshal(m)
	return s.Save(ctx, p, id, merged, expected)
}

func (s *Service) save(ctx context.Context, p *identity.Principal, id string, r *Rule, expected int64) (*Rule, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	var old *Rule
	if id != "" {
		var err error
		if old, err = s.Get(ctx, id); err != nil {
			return nil, err
		}
		if expected != 0 && expected != old.Version {
			return nil, problem.Conflict("workflow %s is at version %d, not %d; reload it", id, old.Version, expected)
		}
		r.ID, r.Version, r.CreatedAt, r.CreatedBy = old.ID, old.Version+1, old.CreatedAt, old.CreatedBy
		if err := keepSecrets(r, old); err != nil {
			return nil, err
		}
	} else {
		r.ID, r.Version, r.CreatedAt, r.CreatedBy = store.NewID(), 1, now, p.UserID
		if err := keepSecrets(r, nil); err != nil {
			return nil, err
		}
	}
	r.UpdatedAt, r.UpdatedBy = now, p.UserID
	if r.RunAs == "" {
		r.RunAs = p.UserID
	}
	var errs []problem.FieldError
	if _, err := s.users.principal(ctx, r.RunAs); err != nil {
		errs = append(errs, problem.FieldError{Field: "run_as", Code: "unknown_user", Message: err.Error()})
	}
	if _, cerrs := s.compile(r); len(cerrs) > 0 {
		errs = append(errs, cerrs...)
	}
	if len(errs) > 0 {
		return nil, problem.Invalid(errs...)
	}
	var secret string
	var hook *store.Doc
	if r.Trigger.Type == OnWebhook && (old == nil || old.Trigger.Type != OnWebhook) {
		var err error
		if secret, hook, err = s.newHook(ctx, r.ID, old == nil); err != nil {
			return nil, err
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	action := "meta.workflow.create"
	changes := map[string]any{"after": maskedRule(r)}
	if old != nil {
		action = "meta.workflow.update"
		changes["before"] = maskedRule(old)
	}
	err = s.st.Atomic(ctx, func(tx store.Tx) error {
		if err := tx.PutDoc(ctx, &store.Doc{Kind: kindVersion, ID: versionID(r.ID, r.Version), Version: 1, Data: data}, store.Sides{}); err != nil {
			return err
		}
		if hook != nil {
			if err := tx.PutDoc(ctx, hook, store.Sides{}); err != nil {
				return err
			}
		}
		if old != nil && old.Trigger.Type == OnWebhook && r.Trigger.Type != OnWebhook {
			if err := tx.DeleteDoc(ctx, kindHook, r.ID, store.Sides{}); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return tx.PutDoc(ctx, &store.Doc{Kind: kindRule, ID: r.ID, Version: r.Version, Data: data}, store.Sides{
			Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: p.UserID, IP: p.IP, Action: action, Entity: r.Entity, RecordID: r.ID, Changes: changes},
			Event: ruleEvent(ctx, p, now, evRuleChanged, r),
		})
	})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
		return nil, problem.Conflict("workflow %s was changed by someone else; reload it", r.ID)
	}
	if err != nil {
		return nil, err
	}
	if secret != "" {
		r.Webhook = "/hooks/" + secret
	}
	return r, nil
}

func ruleEvent(ctx context.Context, p *identity.Principal, at time.Time, typ string, r *Rule) *store.Event {
	return &store.Event{ID: store.NewID(), Type: typ, Entity: r.Entity, Actor: p.UserID, At: at,
		Origin:  store.Origin{User: p.UserID, Run: identity.RunFrom(ctx).ID},
		Payload: map[string]any{"workflow": r.ID, "version": r.Version}}
}

// keepSecrets puts back the stored secret of each action sent back with
// the mask (or without its secret), matching actions by position and
// type; a mask with nothing stored behind it is an error.
func keepSecrets(r, old *Rule) error {
	var errs []problem.FieldError
	for i := range r.Actions {
		var m map[string]any
		if err := json.Unmarshal(r.Actions[i].Raw, &m); err != nil {
			continue
		}
		changed := false
		for _, k := range secretKeys {
			if m[k] != maskedSecret {
				continue
			}
			var prev string
			if old != nil && i < len(old.Actions) && old.Actions[i].Type == r.Actions[i].Type {
				var om map[string]any
				_ = json.Unmarshal(old.Actions[i].Raw, &om)
				prev, _ = om[k].(string)
			}
			if prev == "" {
				errs = append(errs, problem.FieldError{Field: fmt.Sprintf("actions.%d.%s", i, k), Code: "required",
					Message: "give the secret: there is none stored for this action"})
				continue
			}
			m[k], changed = prev, true
		}
		if changed {
			r.Actions[i].Raw, _ = json.Marshal(m)
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}

// maskedRule is a rule as the API and the audit log show it.
func maskedRule(r *Rule) json.RawMessage {
	c := *r
	c.Actions = make([]Action, len(r.Actions))
	for i, a := range r.Actions {
		c.Actions[i] = Action{Type: a.Type, Name: a.Name, Raw: a.masked()}
	}
	b, _ := json.Marshal(&c)
	return b
}

// Delete removes a rule; its versions and its runs stay readable.
func (s *Service) Delete(ctx context.Context, p *identity.Principal, id string) error {
	r, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return s.st.Atomic(ctx, func(tx store.Tx) error {
		if r.Trigger.Type == OnWebhook {
			if err := tx.DeleteDoc(ctx, kindHook, id, store.Sides{}); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return tx.DeleteDoc(ctx, kindRule, id, store.Sides{
			Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: p.UserID, IP: p.IP, Action: "meta.workflow.delete", Entity: r.Entity, RecordID: id},
			Event: ruleEvent(ctx, p, now, evRuleDeleted, r),
		})
	})
}

// --- inbound webhook secrets ---

// hookHash is how a secret is stored and looked up: never the secret
// itself.
func hookHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func newSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "wh_" + base64.RawURLEncoding.EncodeToString(b), nil
}

type hookDoc struct {
	Workflow  string    `json:"workflow"`
	RotatedAt time.Time `json:"rotated_at"`
}

// newHook makes a new secret and the document that finds the rule by it
// (inserted, or the next version of the one stored).
func (s *Service) newHook(ctx context.Context, id string, fresh bool) (string, *store.Doc, error) {
	secret, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	data, _ := json.Marshal(hookDoc{Workflow: id, RotatedAt: s.now().UTC()})
	d := &store.Doc{Kind: kindHook, ID: id, Key: hookHash(secret), Version: 1, Data: data}
	if !fresh {
		if cur, err := s.st.GetDoc(ctx, kindHook, id); err == nil {
			d.Version = cur.Version + 1
		}
	}
	return secret, d, nil
}

// RotateHook gives a webhook rule a new secret URL; the old one stops
// working at once.
func (s *Service) RotateHook(ctx context.Context, p *identity.Principal, id string) (string, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if r.Trigger.Type != OnWebhook {
		return "", problem.New(http.StatusConflict, "workflow %s is not triggered by a webhook", id)
	}
	secret, d, err := s.newHook(ctx, id, false)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	err = s.st.PutDoc(ctx, d, store.Sides{Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: p.UserID, IP: p.IP,
		Action: "meta.workflow.webhook_rotated", Entity: r.Entity, RecordID: id}})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
		return "", problem.Conflict("the webhook of workflow %s was rotated at the same moment; try again", id)
	}
	if err != nil {
		return "", err
	}
	return "/hooks/" + secret, nil
}

// hookRule finds the rule an inbound webhook's secret belongs to.
func (s *Service) hookRule(ctx context.Context, secret string) (*Rule, error) {
	d, err := s.st.GetDocByKey(ctx, kindHook, hookHash(secret))
	if err != nil {
		return nil, err
	}
	var h hookDoc
	if err := json.Unmarshal(d.Data, &h); err != nil {
		return nil, err
	}
	return s.Get(ctx, h.Workflow)
}
