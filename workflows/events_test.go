package workflows_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestWonDeal: the first example. A deal updated to won (old
// stage not won) creates an onboarding task hanging on it, tells the
// finance team in the app, and posts a signed webhook; updates that do not
// change the stage, or keep it won, do nothing; each run is logged step by
// step with the rule version it ran.
func TestWonDeal(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			me := e.me()
			var team struct{ ID string }
			e.Do("POST", "/api/v1/teams", map[string]any{"name": "Finance"}, 201, &team)
			var fin struct{ ID string }
			e.Do("POST", "/api/v1/users", map[string]any{"email": "fin@example.com", "password": "correct horse battery",
				"roles": []string{"sales_rep"}, "teams": []string{team.ID}}, 201, &fin)
			hook := newReceiver(t)
			id := e.rule(map[string]any{
				"name": "Won deal → onboarding task", "entity": "deal", "enabled": true,
				"trigger":   map[string]any{"type": "record.updated", "fields": []string{"stage"}},
				"condition": `old.stage != "won" and stage == "won"`,
				"actions": []any{
					map[string]any{"type": "create_task", "title": "Onboard {{ record.name }}", "due_in": "3d"},
					map[string]any{"type": "notify", "team": team.ID, "title": "{{ record.name }} is won", "body": "Amount {{ record.amount }}"},
					map[string]any{"type": "webhook", "url": hook.URL, "secret": "s3cret"},
				}})
			d := e.deal(map[string]any{"name": "Acme", "amount": 1200, "stage": "lead"})
			did := d["id"].(string)
			e.Do("PATCH", "/api/v1/records/deal/"+did, map[string]any{"amount": 1300}, 200, nil)       // stage unchanged
			e.Do("PATCH", "/api/v1/records/deal/"+did, map[string]any{"stage": "qualified"}, 200, nil) // not won
			e.drain()
			if rs := e.runs("workflow=" + id); len(rs) != 0 {
				t.Fatalf("runs before the deal was won: %+v", rs)
			}
			e.Do("PATCH", "/api/v1/records/deal/"+did, map[string]any{"stage": "won"}, 200, nil)
			e.drain()
			e.Do("PATCH", "/api/v1/records/deal/"+did, map[string]any{"amount": 1500, "stage": "won"}, 200, nil) // already won
			e.drain()

			rs := e.runs("workflow=" + id)
			if len(rs) != 1 {
				t.Fatalf("runs: %+v", rs)
			}
			r := rs[0]
			if r.Status != "succeeded" || r.Version != 1 || r.Trigger != "record.updated" || r.RecordID != did || r.Depth != 1 ||
				r.Condition == nil || !r.Condition.Result || len(r.Steps) != 3 {
				t.Fatalf("run: %+v", r)
			}
			if r.Input.Old["stage"] != "qualified" || r.Input.Record["stage"] != "won" {
				t.Fatalf("the run keeps old and new values: %+v", r.Input)
			}
			for _, st := range r.Steps {
				if st.Status != "succeeded" || st.Attempts != 1 {
					t.Fatalf("step: %+v", st)
				}
			}

			// The task hangs on the deal, assigned to its owner.
			var tl struct{ Items []map[string]any }
			e.Do("GET", "/api/v1/records/task?filter="+urlq(`parent_id == "`+did+`"`), nil, 200, &tl)
			if len(tl.Items) != 1 || tl.Items[0]["title"] != "Onboard Acme" || tl.Items[0]["parent_entity"] != "deal" ||
				tl.Items[0]["assignee"] != me || tl.Items[0]["due_date"] == nil {
				t.Fatalf("tasks: %+v", tl.Items)
			}
			// The finance team has a notification; the admin has none.
			finance := e.As("fin@example.com", "correct horse battery")
			var inbox struct {
				Items  []map[string]any
				Unread int
			}
			finance.Do("GET", "/api/v1/notifications", nil, 200, &inbox)
			if len(inbox.Items) != 1 || inbox.Unread != 1 || inbox.Items[0]["title"] != "Acme is won" ||
				inbox.Items[0]["body"] != "Amount 1300" || inbox.Items[0]["record_id"] != did {
				t.Fatalf("finance inbox: %+v", inbox)
			}
			nid := inbox.Items[0]["id"].(string)
			e.Do("POST", "/api/v1/notifications/"+nid+"/read", nil, 404, nil) // not the admin's
			finance.Do("POST", "/api/v1/notifications/"+nid+"/read", nil, 200, nil)
			finance.Do("GET", "/api/v1/notifications?unread=true", nil, 200, &inbox)
			if len(inbox.Items) != 0 || inbox.Unread != 0 {
				t.Fatalf("after marking read: %+v", inbox)
			}

			// The webhook: one signed delivery of the record, old values too.
			got := hook.requests()
			if len(got) != 1 {
				t.Fatalf("webhook deliveries: %d", len(got))
			}
			h := got[0].Header
			ts := h.Get("X-Jimu-Timestamp")
			mac := hmac.New(sha256.New, []byte("s3cret"))
			fmt.Fprintf(mac, "%s.", ts)
			mac.Write(got[0].Body)
			if want := "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil)); h.Get("X-Jimu-Signature") != want {
				t.Fatalf("signature %q, want %q", h.Get("X-Jimu-Signature"), want)
			}
			if h.Get("Idempotency-Key") != r.ID+".2.post" || h.Get("Content-Type") != "application/json" {
				t.Fatalf("headers: %v", h)
			}
			var body struct {
				Workflow, Run string
				Record, Old   map[string]any
			}
			if err := json.Unmarshal(got[0].Body, &body); err != nil || body.Workflow != id || body.Run != r.ID ||
				body.Record["stage"] != "won" || body.Old["stage"] != "qualified" {
				t.Fatalf("body %s: %v", got[0].Body, err)
			}
			// The secret is never shown back.
			var rule map[string]any
			e.Do("GET", "/api/v1/meta/workflows/"+id, nil, 200, &rule)
			if b, _ := json.Marshal(rule); strings.Contains(string(b), "s3cret") {
				t.Fatalf("the secret is shown: %s", b)
			}
			// The record page's run list, for a user who may read the deal.
			var page struct{ Items []map[string]any }
			e.Do("GET", "/api/v1/workflows/runs?entity=deal&record="+did, nil, 200, &page)
			if len(page.Items) != 1 {
				t.Fatalf("runs of the deal: %+v", page.Items)
			}
		})
	}
}

func urlq(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D", "&", "%26", "+", "%2B")
	return r.Replace(s)
}
