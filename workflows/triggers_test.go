package workflows_test

import (
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/server/servertest"
)

// TestManual: a manual rule runs for one record or every record of a
// filter, for a person who may change them; its actions run as the rule's
// identity; the run says who asked.
func TestManual(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			e.Do("PUT", "/api/v1/roles/sales_rep", map[string]any{"label": "Sales Rep", "entities": map[string]any{
				"deal": map[string]any{"create": true, "read": "owner == user.id", "update": "owner == user.id"}}}, 200, nil)
			var repU struct{ ID string }
			e.Do("POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "password": servertest.AdminPassword, "roles": []string{"sales_rep"}}, 201, &repU)
			rep := e.As("rep@example.com", servertest.AdminPassword)
			var mine map[string]any
			rep.Do("POST", "/api/v1/records/deal", map[string]any{"name": "Mine", "stage": "lead"}, 201, &mine)
			theirs := e.deal(map[string]any{"name": "Theirs", "stage": "lead"})
			e.deal(map[string]any{"name": "Other", "stage": "lead"})
			id := e.rule(map[string]any{"name": "Qualify", "entity": "deal", "enabled": true, "trigger": map[string]any{"type": "manual"},
				"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"stage": `"qualified"`}}}})

			var buttons struct{ Items []map[string]any }
			rep.Do("GET", "/api/v1/workflows/manual?entity=deal", nil, 200, &buttons)
			if len(buttons.Items) != 1 || buttons.Items[0]["id"] != id {
				t.Fatalf("manual rules for the rep: %+v", buttons.Items)
			}
			rep.Do("POST", "/api/v1/workflows/"+id+"/run", map[string]any{"record_id": theirs["id"]}, 404, nil) // not the rep's
			var ans struct{ Count int }
			rep.Do("POST", "/api/v1/workflows/"+id+"/run", map[string]any{"record_id": mine["id"]}, 202, &ans)
			e.drain()
			rs := e.runs("workflow=" + id)
			if len(rs) != 1 || rs[0].Status != "succeeded" || rs[0].Trigger != "manual" || rs[0].RecordID != mine["id"] {
				t.Fatalf("manual run: %+v", rs)
			}
			// A filter runs for every record it selects that the caller may change.
			e.Do("POST", "/api/v1/workflows/"+id+"/run", map[string]any{"filter": `stage == "lead"`}, 202, &ans)
			if ans.Count != 2 {
				t.Fatalf("filter runs: %d", ans.Count)
			}
			e.drain()
			var leads struct{ Items []map[string]any }
			e.Do("GET", "/api/v1/records/deal?filter="+urlq(`stage == "lead"`), nil, 200, &leads)
			if len(leads.Items) != 0 {
				t.Fatalf("leads left: %+v", leads.Items)
			}
			for _, bad := range []map[string]any{{}, {"record_id": mine["id"], "filter": "true"}, {"filter": "stage =="}} {
				if r := e.Raw("POST", "/api/v1/workflows/"+id+"/run", bad); r.Status != 400 {
					t.Errorf("%v: %d %s", bad, r.Status, r.Body)
				}
			}
			e.Do("PATCH", "/api/v1/meta/workflows/"+id, map[string]any{"enabled": false}, 200, nil)
			e.Do("POST", "/api/v1/workflows/"+id+"/run", map[string]any{"record_id": mine["id"]}, 409, nil)
		})
	}
}

// TestInboundWebhook: a webhook rule's secret URL runs it with the
// request's body as payload, creating records through the write pipeline;
// rotating the secret retires the old URL; a condition on the payload
// skips what it should.
func TestInboundWebhook(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			var r struct {
				ID      string
				Webhook string
			}
			e.Do("POST", "/api/v1/meta/workflows", map[string]any{"name": "Leads from the site", "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "webhook"}, "condition": `payload.kind == "lead"`,
				"actions": []any{map[string]any{"type": "create_record", "entity": "deal",
					"values": map[string]any{"name": "payload.name", "amount": "payload.amount", "stage": `"lead"`}}}}, 201, &r)
			if !strings.HasPrefix(r.Webhook, "/hooks/wh_") {
				t.Fatalf("webhook URL: %q", r.Webhook)
			}
			anon := *e.Env
			anon.Token = ""
			var ans struct{ Run string }
			anon.Do("POST", r.Webhook, map[string]any{"kind": "lead", "name": "Initech", "amount": 900}, 202, &ans)
			anon.Do("POST", r.Webhook, map[string]any{"kind": "spam", "name": "Buy now"}, 202, nil)
			anon.Do("POST", "/hooks/wh_not-a-secret", map[string]any{}, 404, nil)
			anon.Do("POST", r.Webhook, "{not json", 400, nil)
			e.drain()
			var list struct{ Items []map[string]any }
			e.Do("GET", "/api/v1/records/deal", nil, 200, &list)
			if len(list.Items) != 1 || list.Items[0]["name"] != "Initech" || list.Items[0]["amount"] != float64(900) {
				t.Fatalf("deals: %+v", list.Items)
			}
			rs := e.runs("workflow=" + r.ID)
			if len(rs) != 2 || rs[0].Status != "skipped" || rs[1].Status != "succeeded" || rs[1].ID != ans.Run {
				t.Fatalf("runs: %+v", rs)
			}
			// A payload the pipeline refuses fails the run, with the field.
			anon.Do("POST", r.Webhook, map[string]any{"kind": "lead", "name": "Negative", "amount": -5}, 202, nil)
			e.drain()
			rs = e.runs("workflow=" + r.ID)
			if rs[0].Status != "failed" || rs[0].Reason != "permanent" || !strings.Contains(rs[0].Steps[0].Error, "amount") {
				t.Fatalf("refused payload: %+v", rs[0])
			}
			var rot struct{ Webhook string }
			e.Do("POST", "/api/v1/meta/workflows/"+r.ID+"/webhook/rotate", nil, 200, &rot)
			anon.Do("POST", r.Webhook, map[string]any{"kind": "lead", "name": "Old URL"}, 404, nil)
			anon.Do("POST", rot.Webhook, map[string]any{"kind": "lead", "name": "New URL", "amount": 1}, 202, nil)
			e.drain()
			e.Do("GET", "/api/v1/records/deal", nil, 200, &list)
			if len(list.Items) != 2 {
				t.Fatalf("deals after rotation: %+v", list.Items)
			}
		})
	}
}

// TestDryRun: POST …/test says whether the condition matches and what each
// action would do, and changes nothing: no record, no task, no
// notification, no webhook call, no run; the matches preview counts
// records in the store.
func TestDryRun(t *testing.T) {
	e := start(t, stores["sqlite"](t))
	e.deals()
	hook := newReceiver(t)
	var team struct{ ID string }
	e.Do("POST", "/api/v1/teams", map[string]any{"name": "Sales"}, 201, &team)
	id := e.rule(map[string]any{"name": "Won", "entity": "deal", "enabled": false,
		"trigger":   map[string]any{"type": "record.updated", "fields": []string{"stage"}},
		"condition": `old.stage != "won" and stage == "won"`,
		"actions": []any{
			map[string]any{"type": "set_fields", "values": map[string]any{"score": "100"}},
			map[string]any{"type": "create_task", "title": "Onboard {{ record.name }}"},
			map[string]any{"type": "notify", "to": "record.owner", "title": "Won: {{ record.name }}"},
			map[string]any{"type": "webhook", "url": hook.URL, "secret": "k"},
			map[string]any{"type": "set_fields", "values": map[string]any{"amount": "-1"}},
		}})
	d := e.deal(map[string]any{"name": "Acme", "stage": "won", "amount": 10})
	var res struct {
		Matched bool
		Actions []struct {
			Type   string
			Output map[string]any
			Error  string
		}
	}
	e.Do("POST", "/api/v1/meta/workflows/"+id+"/test", map[string]any{"record_id": d["id"], "old": map[string]any{"stage": "qualified"}}, 200, &res)
	if !res.Matched || len(res.Actions) != 5 {
		t.Fatalf("test: %+v", res)
	}
	if rec, _ := res.Actions[0].Output["record"].(map[string]any); rec["score"] != float64(100) || rec["version"] != float64(2) { // the version it would have
		t.Fatalf("set_fields would: %+v", res.Actions[0])
	}
	if task, _ := res.Actions[1].Output["task"].(map[string]any); task["title"] != "Onboard Acme" {
		t.Fatalf("create_task would: %+v", res.Actions[1])
	}
	if res.Actions[3].Output["note"] != "not sent (test)" || res.Actions[3].Error != "" {
		t.Fatalf("webhook would: %+v", res.Actions[3])
	}
	if !strings.Contains(res.Actions[4].Error, "amount") {
		t.Fatalf("a value the pipeline refuses is reported: %+v", res.Actions[4])
	}
	e.Do("POST", "/api/v1/meta/workflows/"+id+"/test", map[string]any{"record_id": d["id"], "old": map[string]any{"stage": "won"}}, 200, &res)
	if res.Matched {
		t.Fatal("old stage won: the condition should not match")
	}
	var rec map[string]any
	e.Do("GET", "/api/v1/records/deal/"+d["id"].(string), nil, 200, &rec)
	var tasks, inbox struct{ Items []map[string]any }
	e.Do("GET", "/api/v1/records/task", nil, 200, &tasks)
	e.Do("GET", "/api/v1/notifications", nil, 200, &inbox)
	if rec["version"] != float64(1) || rec["score"] != nil || len(tasks.Items) != 0 || len(inbox.Items) != 0 || len(hook.requests()) != 0 || len(e.runs("")) != 0 {
		t.Fatalf("a test changed something: %v, %d tasks, %d notifications, %d webhook calls", rec, len(tasks.Items), len(inbox.Items), len(hook.requests()))
	}
	// A draft, not saved, is tested the same way.
	e.Do("POST", "/api/v1/meta/workflows/test", map[string]any{"record": map[string]any{"name": "Draft", "stage": "won"},
		"rule": map[string]any{"name": "draft", "entity": "deal", "trigger": map[string]any{"type": "record.created"},
			"condition": `stage == "won"`, "actions": []any{map[string]any{"type": "notify", "to": "record.owner", "title": "x"}}}}, 200, &res)
	if !res.Matched {
		t.Fatalf("draft: %+v", res)
	}
	r := e.Raw("POST", "/api/v1/meta/workflows/test", map[string]any{"rule": map[string]any{"name": "draft", "entity": "deal",
		"trigger": map[string]any{"type": "record.created"}, "condition": "stgae == 1", "actions": []any{map[string]any{"type": "notify", "to": "x", "title": "x"}}}})
	if r.Status != 422 || servertest.ProblemFields(t, r)["rule.condition"] != "unknown_field" {
		t.Fatalf("a bad draft: %d %s", r.Status, r.Body)
	}

	var m struct {
		Count  *int64
		Reason string
	}
	e.Do("POST", "/api/v1/meta/workflows/matches", map[string]any{"entity": "deal", "condition": `stage == "won"`}, 200, &m)
	if m.Count == nil || *m.Count != 1 {
		t.Fatalf("matches: %+v", m)
	}
	e.Do("POST", "/api/v1/meta/workflows/matches", map[string]any{"entity": "deal", "condition": `old.stage != "won"`}, 200, &m)
	if m.Count != nil || !strings.Contains(m.Reason, "old values") {
		t.Fatalf("an old-value condition: %+v", m)
	}
}

// TestAssignOwner: round robin takes the team's members in turn; least
// loaded picks the member with the fewest open records.
func TestAssignOwner(t *testing.T) {
	e := start(t, stores["sqlite"](t))
	e.deals()
	var team struct{ ID string }
	e.Do("POST", "/api/v1/teams", map[string]any{"name": "East"}, 201, &team)
	var u1, u2 struct{ ID string }
	e.Do("POST", "/api/v1/users", map[string]any{"email": "a@example.com", "password": servertest.AdminPassword, "roles": []string{"sales_rep"}, "teams": []string{team.ID}}, 201, &u1)
	e.Do("POST", "/api/v1/users", map[string]any{"email": "b@example.com", "password": servertest.AdminPassword, "roles": []string{"sales_rep"}, "teams": []string{team.ID}}, 201, &u2)
	rr := e.rule(map[string]any{"name": "rr", "entity": "deal", "enabled": true, "trigger": map[string]any{"type": "record.created"},
		"condition": `stage == "lead"`,
		"actions":   []any{map[string]any{"type": "assign_owner", "mode": "round_robin", "team": team.ID}}})
	var owners []string
	for i := 0; i < 4; i++ {
		d := e.deal(map[string]any{"name": "L", "stage": "lead"})
		e.drain()
		var rec map[string]any
		e.Do("GET", "/api/v1/records/deal/"+d["id"].(string), nil, 200, &rec)
		owners = append(owners, rec["owner"].(string))
	}
	if owners[0] == owners[1] || owners[0] != owners[2] || owners[1] != owners[3] {
		t.Fatalf("round robin: %v", owners)
	}
	e.Do("DELETE", "/api/v1/meta/workflows/"+rr, nil, 204, nil)
	// u1 and u2 now own two open leads each; give u2 two more and close one of u1's.
	e.rule(map[string]any{"name": "ll", "entity": "deal", "enabled": true, "trigger": map[string]any{"type": "record.created"},
		"condition": `stage == "qualified"`,
		"actions": []any{map[string]any{"type": "assign_owner", "mode": "least_loaded", "team": team.ID,
			"open": `stage not in ["won", "lost"]`}}})
	for i := 0; i < 2; i++ {
		e.deal(map[string]any{"name": "Extra", "stage": "lead", "owner": u2.ID})
	}
	d := e.deal(map[string]any{"name": "New", "stage": "qualified"})
	e.drain()
	var rec map[string]any
	e.Do("GET", "/api/v1/records/deal/"+d["id"].(string), nil, 200, &rec)
	if rec["owner"] != u1.ID {
		t.Fatalf("least loaded gave %v, want %s (2 open against 4)", rec["owner"], u1.ID)
	}
}
