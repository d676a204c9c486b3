package workflows_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// readmeRules are the rule bodies of the README's automation section (the
// heredocs its curl commands send), and the member entity it defines.
func readmeRules(t *testing.T) ([]string, string) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var rules []string
	for _, m := range regexp.MustCompile(`(?s)-d @- <<JSON\n(.*?)\nJSON\n`).FindAllStringSubmatch(text, -1) {
		rules = append(rules, m[1])
	}
	member := regexp.MustCompile(`(?s)-d '(\{\n  "name": "member".*?)'\n`).FindStringSubmatch(text)
	if len(rules) != 3 || member == nil {
		t.Fatalf("the README's automation section: %d rules, member entity found: %v", len(rules), member != nil)
	}
	return rules, member[1]
}

// TestREADMEExamples: the README's three rules, as written there, save and
// do what the README says on its walk-through data.
func TestREADMEExamples(t *testing.T) {
	rules, member := readmeRules(t)
	e := start(t, stores["sqlite"](t))
	e.deals()
	var finance struct{ ID string }
	e.Do("POST", "/api/v1/teams", map[string]any{"name": "Finance"}, 201, &finance)
	e.Do("POST", "/api/v1/users", map[string]any{"email": "fin@example.com", "password": "correct horse battery",
		"roles": []string{"sales_rep"}, "teams": []string{finance.ID}}, 201, nil)
	e.Do("POST", "/api/v1/meta/entities", member, 201, nil)
	ids := make([]string, 3)
	for i, r := range rules {
		var body map[string]any
		if err := json.Unmarshal([]byte(strings.ReplaceAll(r, "$FINANCE", finance.ID)), &body); err != nil {
			t.Fatalf("README rule %d is not JSON: %v", i, err)
		}
		ids[i] = e.rule(body)
	}

	// 1. A deal won: a task on it, Finance told.
	d := e.deal(map[string]any{"name": "Acme", "amount": 1200, "stage": "qualified"})
	e.Do("PATCH", "/api/v1/records/deal/"+d["id"].(string), map[string]any{"stage": "won"}, 200, nil)
	e.drain()
	var tasks struct{ Items []map[string]any }
	e.Do("GET", "/api/v1/records/task?filter="+urlq(`parent_id == "`+d["id"].(string)+`"`), nil, 200, &tasks)
	if len(tasks.Items) != 1 || tasks.Items[0]["title"] != "Onboard Acme" {
		t.Fatalf("example 1 tasks: %+v", tasks.Items)
	}
	var inbox struct{ Items []map[string]any }
	e.As("fin@example.com", "correct horse battery").Do("GET", "/api/v1/notifications", nil, 200, &inbox)
	if len(inbox.Items) != 1 || inbox.Items[0]["body"] != "Amount: 1200" {
		t.Fatalf("example 1 inbox: %+v", inbox.Items)
	}

	// 2. Monday 09:00 Shanghai: the owner of a deal untouched for 20 days
	// is reminded; the deal just won is not.
	me := e.me()
	old := time.Now().UTC().Add(-20 * 24 * time.Hour).Truncate(time.Millisecond)
	stale := &store.Record{ID: store.NewID(), Version: 1, CreatedAt: old, UpdatedAt: old, CreatedBy: me, UpdatedBy: me, Owner: me,
		Data: map[string]any{"name": "Dusty", "stage": "lead"}}
	if err := e.Deps.Store.Insert(context.Background(), "deal", stale, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(nextMonday9Shanghai(e.clock.Now()).Add(time.Second))
	e.drain()
	rs := e.runs("workflow=" + ids[1])
	if len(rs) != 1 || rs[0].RecordID != stale.ID || rs[0].Status != "succeeded" {
		t.Fatalf("example 2 runs: %+v", rs)
	}

	// 3. A VIP member 30 days after their last purchase gets a follow-up;
	// one who bought again since, and a regular member, do not.
	at := func(d time.Duration) string { return metadata.FormatDateTime(e.clock.Now().Add(d)) }
	var vip, again, regular map[string]any
	e.Do("POST", "/api/v1/records/member", map[string]any{"name": "Mei", "tier": "vip", "last_purchase_at": at(-30*24*time.Hour + time.Hour)}, 201, &vip)
	e.Do("POST", "/api/v1/records/member", map[string]any{"name": "Lei", "tier": "vip", "last_purchase_at": at(-30*24*time.Hour + time.Hour)}, 201, &again)
	e.Do("POST", "/api/v1/records/member", map[string]any{"name": "Reg", "tier": "regular", "last_purchase_at": at(-30*24*time.Hour + time.Hour)}, 201, &regular)
	e.Do("PATCH", "/api/v1/records/member/"+again["id"].(string), map[string]any{"last_purchase_at": at(0)}, 200, nil)
	e.clock.Add(2 * time.Hour)
	e.drain()
	rs = e.runs("workflow=" + ids[2])
	if len(rs) != 1 || rs[0].RecordID != vip["id"] || rs[0].Status != "succeeded" {
		t.Fatalf("example 3 runs: %+v", rs)
	}
	e.Do("GET", "/api/v1/records/task?filter="+urlq(`parent_id == "`+vip["id"].(string)+`"`), nil, 200, &tasks)
	if len(tasks.Items) != 1 || tasks.Items[0]["title"] != "Follow up with Mei" {
		t.Fatalf("example 3 tasks: %+v", tasks.Items)
	}
}
