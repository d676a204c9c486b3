package workflows

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/jimu-crm/jimu/engine/problem"
)

// Trigger types.
const (
	OnCreate   = "record.created"
	OnUpdate   = "record.updated"
	OnDelete   = "record.deleted"
	OnSchedule = "schedule"
	OnDate     = "date_relative"
	OnManual   = "manual"
	OnWebhook  = "webhook"
)

// What a schedule or date trigger does with times that came due while no
// node was running.
const (
	MissedCatchUp = "catch_up" // fire once when a node starts, marked as caught up
	MissedSkip    = "skip"     // log a skipped run saying so
)

// Rule is an automation rule: when its trigger fires for a record of its
// entity and its condition holds, its actions run in order, as the user
// run_as. Rules are versioned metadata; a run records the version it ran.
type Rule struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Entity      string   `json:"entity"`
	Enabled     bool     `json:"enabled"`
	Timezone    string   `json:"timezone,omitempty"` // default: the instance's
	RunAs       string   `json:"run_as"`             // the user whose rights the actions use
	Trigger     Trigger  `json:"trigger"`
	Condition   string   `json:"condition,omitempty"`
	Actions     []Action `json:"actions"`

	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	// Webhook is the inbound URL's path (/hooks/…), shown only in the
	// answer that creates or rotates it.
	Webhook string `json:"webhook,omitempty"`
}

// Trigger says when a rule fires.
type Trigger struct {
	Type string `json:"type"`
	// Fields (record.updated): fire only when one of them changed.
	Fields []string `json:"fields,omitempty"`
	// Cron and Timezone (schedule): a cron spec, five fields or six with
	// seconds first, in the time zone (default: the rule's).
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	// Field, Offset and At (date_relative): fire Offset ("-3d", "30d",
	// "-72h") from the date or datetime Field; a date field's day starts
	// at At ("09:00", default 00:00) in the rule's time zone.
	Field  string `json:"field,omitempty"`
	Offset string `json:"offset,omitempty"`
	At     string `json:"at,omitempty"`
	// Missed (schedule, date_relative): catch_up (default) or skip.
	Missed string `json:"missed,omitempty"`
}

// Action is one step: its type ("set_fields": the module
// actions.set_fields) and its configuration, the other keys of the same
// object.
type Action struct {
	Type string
	Name string
	Raw  json.RawMessage // the whole object as written
}

func (a *Action) UnmarshalJSON(b []byte) error {
	var head struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	a.Type, a.Name, a.Raw = head.Type, head.Name, append(json.RawMessage(nil), b...)
	return nil
}

func (a Action) MarshalJSON() ([]byte, error) {
	if len(a.Raw) == 0 {
		return json.Marshal(map[string]string{"type": a.Type})
	}
	return a.Raw, nil
}

// config is the action's configuration without type and name, for the
// module's strict decode.
func (a Action) config() ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(a.Raw, &m); err != nil {
		return nil, err
	}
	delete(m, "type")
	delete(m, "name")
	return json.Marshal(m)
}

// secretKeys are configuration keys never shown back: a webhook's secret.
var secretKeys = []string{"secret"}

// masked is the action as the API shows it: secrets replaced by a mark.
func (a Action) masked() json.RawMessage {
	var m map[string]any
	if json.Unmarshal(a.Raw, &m) != nil {
		return a.Raw
	}
	changed := false
	for _, k := range secretKeys {
		if v, ok := m[k].(string); ok && v != "" {
			m[k] = maskedSecret
			changed = true
		}
	}
	if !changed {
		return a.Raw
	}
	b, _ := json.Marshal(m)
	return b
}

// maskedSecret stands for a secret in what the API shows; sending it back
// unchanged keeps the stored secret.
const maskedSecret = "********"

//go:embed rule.schema.json
var ruleSchemaDoc []byte

var (
	schemaOnce sync.Once
	ruleSchema *jsonschema.Schema
	schemaErr  error
)

// Schema is the JSON Schema of a rule document (GET
// /api/v1/meta/workflows/schema).
func Schema() json.RawMessage { return ruleSchemaDoc }

// MaxRuleSize caps a rule document.
const MaxRuleSize = 256 << 10

// decodeRule checks a rule document against the JSON Schema, then decodes
// it. Everything the schema knows is reported at once, by path.
func decodeRule(body []byte) (*Rule, error) {
	if len(body) > MaxRuleSize {
		return nil, problem.BadRequest("body", "too_large", "a rule is at most %d KiB", MaxRuleSize>>10)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, problem.BadRequest("body", "malformed_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return nil, problem.BadRequest("body", "trailing_data", "the body holds data after the JSON object")
	}
	if m, ok := doc.(map[string]any); ok {
		// Server-set keys a client may send back from a GET.
		for _, k := range []string{"id", "version", "created_at", "updated_at", "created_by", "updated_by", "webhook"} {
			delete(m, k)
		}
	}
	if errs := validateSchema(doc); len(errs) > 0 {
		return nil, problem.Invalid(errs...)
	}
	clean, _ := json.Marshal(doc)
	var r Rule
	if err := json.Unmarshal(clean, &r); err != nil {
		return nil, problem.BadRequest("body", "malformed", "%v", err)
	}
	return &r, nil
}

func validateSchema(doc any) []problem.FieldError {
	schemaOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft2020
		if schemaErr = c.AddResource("urn:jimu:meta:workflow", bytes.NewReader(ruleSchemaDoc)); schemaErr == nil {
			ruleSchema, schemaErr = c.Compile("urn:jimu:meta:workflow")
		}
	})
	if schemaErr != nil {
		return []problem.FieldError{{Field: "", Code: "internal", Message: schemaErr.Error()}}
	}
	err := ruleSchema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []problem.FieldError{{Code: "invalid", Message: err.Error()}}
	}
	var out []problem.FieldError
	seen := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		field := strings.ReplaceAll(strings.TrimPrefix(e.InstanceLocation, "/"), "/", ".")
		code := e.KeywordLocation[strings.LastIndexByte(e.KeywordLocation, '/')+1:]
		msg := e.Message
		if code == "required" || code == "additionalProperties" {
			// The name is only in the message: "missing properties: 'cron'".
			if i := strings.IndexByte(msg, '\''); i >= 0 {
				if j := strings.IndexByte(msg[i+1:], '\''); j >= 0 {
					name := msg[i+1 : i+1+j]
					field = strings.TrimPrefix(field+"."+name, ".")
				}
			}
			if code == "required" {
				msg = "is required"
			} else {
				code, msg = "unknown_field", "is not a key of a rule here"
			}
		}
		key := field + "\x00" + code
		if !seen[key] {
			seen[key] = true
			out = append(out, problem.FieldError{Field: field, Code: code, Message: msg})
		}
	}
	walk(ve)
	return out
}

// String is the rule as its log lines name it.
func (r *Rule) String() string { return fmt.Sprintf("%s (%s v%d)", r.Name, r.ID, r.Version) }
