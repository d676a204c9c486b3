package workflows_test

import (
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/server/servertest"
)

// TestRuleBadInput: every rule that cannot work is refused when it is
// saved, with the problem named by its path, and nothing is saved.
func TestRuleBadInput(t *testing.T) {
	e := start(t, stores["sqlite"](t))
	e.deals()
	hook := newReceiver(t)
	base := func() map[string]any {
		return map[string]any{"name": "r", "entity": "deal", "enabled": true,
			"trigger": map[string]any{"type": "record.created"},
			"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"score": "1"}}}}
	}
	with := func(k string, v any) map[string]any {
		r := base()
		r[k] = v
		return r
	}
	act := func(a map[string]any) map[string]any { return with("actions", []any{a}) }
	long := strings.Repeat("score == 1 or ", 200) + "true"
	cases := []struct {
		name  string
		body  any
		field string
		code  string
	}{
		{"no name", with("name", ""), "name", "minLength"},
		{"unknown key", with("colour", "red"), "colour", "unknown_field"},
		{"unknown trigger", with("trigger", map[string]any{"type": "record.touched"}), "trigger.type", "enum"},
		{"schedule without cron", with("trigger", map[string]any{"type": "schedule"}), "trigger.cron", "required"},
		{"no actions", with("actions", []any{}), "actions", "minItems"},
		{"unknown entity", with("entity", "ghost"), "entity", "unknown_entity"},
		{"condition does not compile", with("condition", "stage == "), "condition", "invalid_expression"},
		{"condition names an unknown field", with("condition", `stgae == "won"`), "condition", "unknown_field"},
		{"condition names an unknown field of old", with("condition", `old.stgae != "won"`), "condition", "unknown_field"},
		{"condition too long", with("condition", long), "condition", "maxLength"},
		{"payload outside a webhook rule", with("condition", `payload.x == 1`), "condition", "unknown_field"},
		{"cron does not parse", with("trigger", map[string]any{"type": "schedule", "cron": "0 25 * * *"}), "trigger.cron", "invalid_cron"},
		{"cron with a time zone inside", with("trigger", map[string]any{"type": "schedule", "cron": "CRON_TZ=Asia/Shanghai 0 9 * * *"}), "trigger.cron", "invalid_cron"},
		{"unknown time zone", with("timezone", "Mars/Olympus"), "timezone", "unknown_time_zone"},
		{"unknown schedule time zone", with("trigger", map[string]any{"type": "schedule", "cron": "0 9 * * MON", "timezone": "Asia/Shangai"}), "trigger.timezone", "unknown_time_zone"},
		{"schedule condition not filterable", func() map[string]any {
			r := with("trigger", map[string]any{"type": "schedule", "cron": "0 9 * * MON"})
			r["condition"] = "amount * 2 > 100"
			return r
		}(), "condition", "not_filterable"},
		{"date field that is not a date", with("trigger", map[string]any{"type": "date_relative", "field": "name", "offset": "-3d"}), "trigger.field", "not_a_date"},
		{"offset that does not parse", with("trigger", map[string]any{"type": "date_relative", "field": "close_date", "offset": "three days"}), "trigger.offset", "invalid_offset"},
		{"fields on a create trigger", with("trigger", map[string]any{"type": "record.created", "fields": []string{"stage"}}), "trigger.fields", "invalid"},
		{"update on an unknown field", with("trigger", map[string]any{"type": "record.updated", "fields": []string{"stagee"}}), "trigger.fields.0", "unknown_field"},
		{"unknown action", act(map[string]any{"type": "fax"}), "actions.0.type", "unknown_action"},
		{"unknown action option", act(map[string]any{"type": "set_fields", "values": map[string]any{"score": "1"}, "colour": "red"}), "actions.0", "invalid"},
		{"set an unknown field", act(map[string]any{"type": "set_fields", "values": map[string]any{"scroe": "1"}}), "actions.0.values.scroe", "unknown_field"},
		{"set a system field", act(map[string]any{"type": "set_fields", "values": map[string]any{"created_at": "now"}}), "actions.0.values.created_at", "unknown_field"},
		{"a value that does not compile", act(map[string]any{"type": "set_fields", "values": map[string]any{"score": "1 +"}}), "actions.0.values.score", "invalid_expression"},
		{"a value naming an unknown field", act(map[string]any{"type": "set_fields", "values": map[string]any{"score": "record.scroe"}}), "actions.0.values.score", "unknown_field"},
		{"create in an unknown entity", act(map[string]any{"type": "create_record", "entity": "ghost", "values": map[string]any{}}), "actions.0.entity", "unknown_entity"},
		{"a template that does not close", act(map[string]any{"type": "create_task", "title": "Call {{ record.name"}), "actions.0.title", "invalid_template"},
		{"e-mail without an SMTP server", act(map[string]any{"type": "email", "to": "record.email", "subject": "Hi", "body": "Hello"}), "actions.0", "no_smtp"},
		{"webhook to loopback not allowlisted", act(map[string]any{"type": "webhook", "url": "http://10.0.0.8/hook"}), "actions.0.url", "refused_target"},
		{"webhook to metadata", act(map[string]any{"type": "webhook", "url": "http://169.254.169.254/latest/meta-data"}), "actions.0.url", "refused_target"},
		{"webhook not http", act(map[string]any{"type": "webhook", "url": "file:///etc/passwd"}), "actions.0.url", "invalid_url"},
		{"assign to no team", act(map[string]any{"type": "assign_owner", "mode": "round_robin", "team": "nope"}), "actions.0.team", "unknown_team"},
		{"unknown user to run as", with("run_as", "no-such-user"), "run_as", "unknown_user"},
	}
	for _, c := range cases {
		r := e.Raw("POST", "/api/v1/meta/workflows", c.body)
		if r.Status != 422 {
			t.Errorf("%s: status %d: %s", c.name, r.Status, r.Body)
			continue
		}
		got := servertest.ProblemFields(t, r)
		code, ok := got[c.field]
		if !ok || c.code != "" && code != c.code {
			t.Errorf("%s: errors %v, want %s: %s", c.name, got, c.field+"="+c.code, r.Body)
		}
	}
	// Loopback is refused too unless allowlisted: the test's allowlist
	// has 127.0.0.0/8, so only 10.0.0.8 above was refused; the receiver
	// on loopback is fine.
	ok := act(map[string]any{"type": "webhook", "url": hook.URL})
	e.Do("POST", "/api/v1/meta/workflows", ok, 201, nil)
	var list struct{ Items []map[string]any }
	e.Do("GET", "/api/v1/meta/workflows", nil, 200, &list)
	if len(list.Items) != 1 {
		t.Fatalf("rules saved: %d (only the good one)", len(list.Items))
	}
	// Bodies that are not rules.
	for _, b := range []string{``, `[]`, `{"name":`, `{"name":"x"} {}`} {
		if r := e.Raw("POST", "/api/v1/meta/workflows", b); r.Status != 400 && r.Status != 422 {
			t.Errorf("body %q: status %d", b, r.Status)
		}
	}
	// Only admins see or change rules.
	e.Do("POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "password": servertest.AdminPassword, "roles": []string{"sales_rep"}}, 201, nil)
	rep := e.As("rep@example.com", servertest.AdminPassword)
	rep.Do("GET", "/api/v1/meta/workflows", nil, 403, nil)
	rep.Do("POST", "/api/v1/meta/workflows", base(), 403, nil)
	rep.Do("GET", "/api/v1/workflows/runs", nil, 403, nil)
}

// TestRuleVersions: each save is a new version kept in the history; an
// If-Match naming an older version is refused; PATCH switches a rule off
// and on.
func TestRuleVersions(t *testing.T) {
	e := start(t, stores["sqlite"](t))
	e.deals()
	id := e.rule(map[string]any{"name": "v", "entity": "deal", "trigger": map[string]any{"type": "record.created"},
		"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"score": "1"}}}})
	var r struct {
		Version int64
		Enabled bool
	}
	e.Do("GET", "/api/v1/meta/workflows/"+id, nil, 200, &r)
	if r.Version != 1 || r.Enabled {
		t.Fatalf("a new rule is version 1 and off unless asked: %+v", r)
	}
	e.Do("PATCH", "/api/v1/meta/workflows/"+id, map[string]any{"enabled": true}, 200, &r, "If-Match", `"1"`)
	if r.Version != 2 || !r.Enabled {
		t.Fatalf("patched: %+v", r)
	}
	e.Do("PATCH", "/api/v1/meta/workflows/"+id, map[string]any{"name": "w"}, 409, nil, "If-Match", `"1"`)
	var hist struct{ Items []map[string]any }
	e.Do("GET", "/api/v1/meta/workflows/"+id+"/history", nil, 200, &hist)
	if len(hist.Items) != 2 || hist.Items[0]["enabled"] != false || hist.Items[1]["enabled"] != true {
		t.Fatalf("history: %+v", hist.Items)
	}
	e.Do("DELETE", "/api/v1/meta/workflows/"+id, nil, 204, nil)
	e.Do("GET", "/api/v1/meta/workflows/"+id, nil, 404, nil)
}
