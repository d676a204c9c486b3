package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestAutomationBrowser is items 9 and 11 of issue 17 in the app: the
// README's "won deal → onboarding task" rule built in the editor (the
// trigger, the condition through the filter builder with old values, a
// create_task action), tested on a deal before it is enabled (no match,
// then a match, nothing written), enabled, a deal moved to won on its
// record page, the run found in the run log with its steps and the task
// on the deal's timeline. Then a manual rule run from the record page
// whose webhook is refused by the receiver (a 410: permanent): the run
// shows as failed with the reason, the retry says the earlier step's
// effect is not repeated, and the retried run succeeds without applying
// it twice.
func TestAutomationBrowser(t *testing.T) {
	needBrowser(t)
	// The receiver below listens on loopback, which webhooks may reach only when allowed.
	t.Setenv("JIMU_WEBHOOK_ALLOW", "127.0.0.1/32")
	var mu sync.Mutex
	answer, calls := http.StatusGone, 0
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		w.WriteHeader(answer)
	}))
	defer receiver.Close()

	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	opts := func(vs ...string) []any {
		out := []any{}
		for _, v := range vs {
			out = append(out, map[string]any{"value": v})
		}
		return out
	}
	j.call(t, admin, "POST", "/api/v1/meta/entities", map[string]any{"name": "deal", "label": "Deal", "ownership": true,
		"fields": []any{
			map[string]any{"name": "name", "type": "text", "required": true, "label": "Name"},
			map[string]any{"name": "stage", "type": "select", "label": "Stage", "options": opts("lead", "qualified", "won", "lost")},
			map[string]any{"name": "amount", "type": "currency", "label": "Amount"},
			map[string]any{"name": "touches", "type": "integer", "label": "Touches"},
			map[string]any{"name": "close_date", "type": "date", "label": "Close date"},
		}}, 201)
	deal := func(name, stage string) string {
		return j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": name, "stage": stage, "amount": 1000}, 201)["id"].(string)
	}
	acme := deal("Acme", "qualified")
	deal("Initech", "won")

	b := newBrowser(t, 1280, 900)
	b.signIn(j.base, adminEmail, adminPassword)

	// The rules page, from the sidebar.
	b.run(click(`[data-test=nav-workflows]`), waitText(`[data-test=rules-table]`, "No rules yet."))
	b.step("rules-empty")

	// The editor: entity, trigger, condition through the builder, one action.
	const name = "Won deal → onboarding task"
	cb := `[data-test=condition-builder]`
	b.run(click(`[data-test=new-rule]`), typeInto(`[data-test=rule-name]`, name), choose(`[data-test=rule-entity]`, "deal"),
		choose(`[data-test=trigger-type]`, "record.updated"), click(`[data-test=trigger-field-stage]`),
		click(cb+` [data-test=add-condition]`), choose(cb+` [data-test=cond-field]`, "old.stage"), choose(cb+` [data-test=cond-op]`, "ne"),
		choose(cb+` [data-test=cond-value]`, "won"),
		click(cb+` [data-test=add-condition]`), choose(cb+` [data-test=condition] ~ [data-test=condition] [data-test=cond-field]`, "stage"),
		choose(cb+` [data-test=condition] ~ [data-test=condition] [data-test=cond-value]`, "won"),
		click(`[data-test=condition-builder-apply]`),
		waitText(`[data-test=rule-condition-text]`, `old.stage != "won" and stage == "won"`))
	b.step("condition-built")
	// The raw expression is checked live by the server, old values included.
	b.run(click(`[data-test=condition-builder-raw-toggle]`), typeInto(`[data-test=condition-builder-expression]`, `old.stgae != "won"`),
		waitText(cb+` [data-test=expression-error]`, "stgae"))
	b.step("condition-raw-error")
	b.run(typeInto(`[data-test=condition-builder-expression]`, `old.stage != "won" and stage == "won"`),
		waitText(cb+` .ok`, ""), click(`[data-test=condition-builder-apply]`),
		waitText(`[data-test=rule-condition-text]`, `old.stage != "won" and stage == "won"`))

	// An action whose value the server refuses on save: the error at the setting.
	b.run(choose(`[data-test=add-action-type]`, "webhook"), click(`[data-test=add-action]`),
		typeInto(`[data-test=action-0-url]`, "ftp://files.example.com/x"),
		choose(`[data-test=add-action-type]`, "create_task"), click(`[data-test=add-action]`),
		typeInto(`[data-test=action-1-title]`, "Onboard {{ record.name }}"), typeInto(`[data-test=action-1-due_in]`, "3d"),
		click(`[data-test=save-rule]`), waitText(`[data-test=action-0-url-error]`, "http or https"))
	b.step("action-error")
	// Remove the webhook: the task moves up and the rule saves, switched off.
	b.run(click(`[data-test=action-0-remove]`), waitJS(`document.querySelector('[data-test=action-0]').dataset.actionType === 'create_task'`),
		click(`[data-test=save-rule]`), waitText(`[data-test=rule-version]`, "version 1 · Off"))
	b.step("rule-saved")
	rules := j.call(t, admin, "GET", "/api/v1/meta/workflows", nil, 200)["items"].([]any)
	if len(rules) != 1 {
		t.Fatalf("rules saved: %d, want 1", len(rules))
	}
	rule := rules[0].(map[string]any)
	if rule["condition"] != `old.stage != "won" and stage == "won"` || rule["enabled"] != false ||
		fmt.Sprint(rule["trigger"]) != "map[fields:[stage] type:record.updated]" {
		t.Fatalf("the saved rule: %v", rule)
	}
	ruleID := rule["id"].(string)

	// Test before enabling: Acme (qualified) does not match; Initech (won, once qualified) does.
	tb := `[data-test=rule-test]`
	b.run(typeInto(tb+` [data-test=lookup-search]`, "Acm"), onlyHit(tb, "Acme"), click(tb+` .picker-hits button`),
		click(`[data-test=test-add-old]`), choose(`[data-test=test-old-value]`, "qualified"),
		click(`[data-test=run-test]`), waitJS(`document.querySelector('[data-test=test-result]')?.dataset.matched === 'false'`),
		waitText(`[data-test=test-result]`, "does not match"))
	b.step("test-no-match")
	b.run(typeInto(tb+` [data-test=lookup-search]`, "Ini"), onlyHit(tb, "Initech"), click(tb+` .picker-hits button`),
		click(`[data-test=run-test]`), waitJS(`document.querySelector('[data-test=test-result]')?.dataset.matched === 'true'`),
		waitText(`[data-test=test-action-0]`, "Onboard Initech"))
	b.step("test-match")
	if n := len(j.call(t, admin, "GET", "/api/v1/records/task", nil, 200)["items"].([]any)); n != 0 {
		t.Fatalf("the test wrote %d tasks", n)
	}

	// Enable it.
	b.run(click(`[data-test=rule-toggle]`), waitText(`[data-test=rule-version]`, "version 2 · On"))
	b.step("rule-enabled")

	// Acme moves to won on its record page.
	b.run(nav(j.base+"/e/deal/"+acme), waitText(`[data-test=record-title]`, "Acme"), click(`[data-test=edit-stage]`),
		choose(`#f-stage`, "won"), click(`[data-test=save-field]`), waitText(`[data-field=stage] .value`, "won"))
	b.step("deal-won")

	// The run log (following new runs) shows it succeeded; it opens with its steps.
	row := fmt.Sprintf(`[data-test=runs-table] tr[data-rule=%q]`, name)
	b.run(click(`[data-test=nav-runs]`), choose(`[data-test=runs-rule]`, ruleID), click(`[data-test=runs-apply]`), waitJS(fmt.Sprintf(`document.querySelector(%q)?.dataset.status === 'succeeded'`, row)))
	b.step("run-log")
	b.run(click(row+` [data-test=run-link]`), waitJS(`document.querySelector('[data-test=run-status]')?.dataset.status === 'succeeded'`),
		waitText(`[data-test=run-detail]`, "v2"), waitText(`[data-test=run-condition]`, "true"),
		waitText(`[data-test=run-step-0] [data-test=step-output]`, "Onboard Acme"))
	b.step("run-detail")
	// The task on the deal's timeline, the run in the deal's panel.
	b.run(click(`[data-test=run-record]`), waitText(`[data-test=record-title]`, "Acme"),
		waitText(`[data-test=timeline] li[data-kind=task]`, "Onboard Acme"), waitText(`[data-test=record-runs]`, name))
	b.step("deal-timeline")

	// A manual rule whose webhook the receiver refuses: run from the record page.
	j.call(t, admin, "POST", "/api/v1/meta/workflows", map[string]any{"name": "Tell finance", "entity": "deal", "enabled": true,
		"trigger": map[string]any{"type": "manual"},
		"actions": []any{
			map[string]any{"type": "set_fields", "values": map[string]any{"touches": "(touches ?? 0) + 1"}},
			map[string]any{"type": "webhook", "url": receiver.URL + "/finance", "secret": "s3cret"}}}, 201)
	b.run(nav(j.base+"/e/deal/"+acme), waitText(`[data-test=run-rule-button]`, "Tell finance"), click(`[data-test=run-rule-button]`),
		waitText(`[data-test=run-rule-done]`, "Runs queued: 1"),
		waitJS(`[...document.querySelectorAll('[data-test=record-runs] li')].some(l => l.dataset.status === 'failed' && l.innerText.includes('Tell finance'))`),
		// the run's first step set a field: the page reads the record again once the run ends
		waitText(`[data-field=touches] .value`, "1"))
	b.step("manual-failed")
	b.run(click(`[data-test=record-runs] li[data-status=failed] a`),
		waitJS(`document.querySelector('[data-test=run-status]')?.dataset.status === 'failed'`),
		waitJS(`document.querySelector('[data-test=run-step-0]').dataset.status === 'succeeded' && document.querySelector('[data-test=run-step-1]').dataset.status === 'failed'`),
		waitText(`[data-test=run-step-1] [data-test=step-error]`, "answered 410"),
		waitText(`[data-test=run-step-1] [data-test=step-error]`, "a retry cannot cure it"))
	b.step("run-failed")
	b.run(click(`[data-test=retry-run]`), waitText(`[data-test=retry-explain]`, "2. Call a webhook"),
		waitText(`[data-test=retry-kept]`, "1. Set fields on the record"))
	b.step("retry-explained")
	mu.Lock()
	answer = http.StatusOK // the receiver is fixed
	mu.Unlock()
	b.run(click(`[data-test=confirm-retry]`), waitText(`[data-test=retry-answer]`, "Queued again from step 2"),
		waitJS(`document.querySelector('[data-test=run-status]')?.dataset.status === 'succeeded'`))
	b.step("retried")
	if m := j.call(t, admin, "GET", "/api/v1/records/deal/"+acme, nil, 200); fmt.Sprint(m["touches"]) != "1" {
		t.Errorf("touches = %v after the retry: the first step's effect was applied again", m["touches"])
	}
	mu.Lock()
	if calls != 2 {
		t.Errorf("the receiver was called %d times, want 2 (the refused delivery and the retry)", calls)
	}
	mu.Unlock()

	// The failed filter of the log lists no run now; the list's button runs the rule for its filter.
	b.run(nav(j.base+"/workflows/runs?status=failed"), waitText(`[data-test=runs-table]`, "No runs."))
	b.run(nav(j.base+"/e/deal?filter="+url.QueryEscape(`stage == "won"`)), click(`[data-test=run-rule-button]`),
		click(`[data-test=run-rule-confirm]`), waitText(`[data-test=run-rule-done]`, "Runs queued: 2"))
	b.step("list-run")

	// A date rule's preview: three days before Acme's close date, within the next 14 days.
	j.call(t, admin, "PATCH", "/api/v1/records/deal/"+acme, map[string]any{"close_date": time.Now().UTC().AddDate(0, 0, 7).Format("2006-01-02")}, 200)
	dated := j.call(t, admin, "POST", "/api/v1/meta/workflows", map[string]any{"name": "Closing soon", "entity": "deal",
		"trigger": map[string]any{"type": "date_relative", "field": "close_date", "offset": "-3d"},
		"actions": []any{map[string]any{"type": "create_task", "title": "Chase {{ record.name }}"}}}, 201)["id"].(string)
	b.run(nav(j.base+"/workflows/"+dated), waitText(`[data-test=rule-version]`, "version 1 · Off"),
		typeInto(`[data-test=preview-days]`, "14"), click(`[data-test=run-preview]`),
		waitText(`[data-test=preview-result]`, "Records it fires on: 1"), waitText(`[data-test=preview-result] a`, "Acme"))
	b.step("date-preview")

	// 中文: the run log and a run in Chinese.
	b.run(choose(`[data-test=language]`, "zh-CN"), waitText(`nav.side`, "运行日志"), click(`[data-test=nav-runs]`),
		waitText(`[data-test=runs-table] th`, "状态"), waitText(`[data-test=runs-table]`, "成功"))
	b.step("chinese-run-log")
}

// onlyHit waits until the record picker under sel offers one record, title.
func onlyHit(sel, title string) Action {
	return waitJS(fmt.Sprintf(`(() => { const b = [...document.querySelectorAll(%q)]; return b.length === 1 && b[0].textContent === %q })()`,
		sel+" .picker-hits button", title))
}
