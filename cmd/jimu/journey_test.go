package main

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestJourney is an admin's way through the workspace: design an entity
// with five fields, create records, filter the list with the builder, see
// a raw filter refused at its position, move a card on the board (and see
// a conflict put it back), edit a field inline and see the change in the
// timeline, and switch to Chinese.
func TestJourney(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	b := newBrowser(t, 1280, 900)
	b.signIn(j.base, adminEmail, adminPassword)
	b.step("signed-in")

	// The designer: a new entity, then its fields.
	b.run(click(`a[href="/designer"]`), visible(`[data-test=new-entity]`),
		typeInto(`[data-test=entity-name]`, "deal"), typeInto(`[data-test=entity-label-en]`, "Deal"),
		typeInto(`[data-test=entity-label-zh]`, "商机"),
		click(`[data-test=create-entity]`), visible(`[data-test=fields-table] tr[data-field=name]`))
	b.step("entity-created")
	addField := func(name, typ string, extra ...Action) {
		t.Helper()
		steps := []Action{click(`[data-test=add-field]`), visible(`[data-test=field-editor]`),
			typeInto(`[data-test=field-name]`, name), choose(`[data-test=field-type]`, typ)}
		steps = append(steps, extra...)
		steps = append(steps, click(`[data-test=field-save]`), gone(`[data-test=field-editor]`),
			visible(fmt.Sprintf(`[data-test=fields-table] tr[data-field=%s]`, name)))
		b.run(steps...)
	}
	addField("amount", "currency", typeInto(`[data-test=field-label-en]`, "Amount"), typeInto(`[data-test=field-label-zh]`, "金额"))
	addField("stage", "select",
		click(`[data-test=add-option]`), typeInto(`[data-test=option]:nth-of-type(1) [data-test=option-value]`, "lead"),
		click(`[data-test=add-option]`), typeInto(`[data-test=option]:nth-of-type(2) [data-test=option-value]`, "won"),
		click(`[data-test=add-option]`), typeInto(`[data-test=option]:nth-of-type(3) [data-test=option-value]`, "lost"))
	addField("close_date", "date")
	addField("email", "email")
	b.step("five-fields")
	// A type change its values cannot take: the dry run's report lists the
	// record before anything is applied.
	j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": "Initech", "email": "a@initech.example", "amount": 50, "stage": "lead"}, 201)
	b.run(click(`[data-test=edit-field-email]`), visible(`[data-test=field-editor]`), choose(`[data-test=field-type]`, "integer"),
		click(`[data-test=field-save]`), waitText(`[data-test=conversion-report]`, "Records whose value cannot become Whole number: 1."),
		waitText(`[data-test=conversion-report] li`, "Initech: a@initech.example"))
	b.step("type-change-refused")
	b.run(click(`[data-test=field-editor] .dialog-foot button`), gone(`[data-test=field-editor]`))

	// A record through the form: errors next to their fields, then saved.
	b.run(click(`a[data-entity=deal]`), visible(`[data-test=record-table]`), click(`[data-test=new-record]`),
		visible(`[data-test=new-form]`), typeInto(`#n-email`, "not an e-mail"), click(`[data-test=create-record]`),
		waitText(`[data-field=name] .field-error`, "Required"), waitText(`[data-field=email] .field-error`, "Not a valid e-mail address."))
	b.step("form-errors")
	b.run(typeInto(`#n-name`, "Acme"), typeInto(`#n-email`, "buyer@acme.example"), typeInto(`#n-amount`, "1200"), choose(`#n-stage`, "won"),
		click(`[data-test=create-record]`), waitText(`[data-test=record-title]`, "Acme"))
	b.step("record-created")
	for _, r := range []map[string]any{
		{"name": "Globex", "amount": 800, "stage": "lost"},
		{"name": "Umbrella", "amount": 5000, "stage": "lead"},
		{"name": xss, "amount": 3000, "stage": "lead"},
	} {
		j.call(t, admin, "POST", "/api/v1/records/deal", r, 201)
	}

	// The filter builder writes the API's expression, the list runs it.
	b.run(click(`a[data-entity=deal]`), waitText(`[data-test=count]`, "of 5"), click(`[data-test=toggle-filter]`),
		click(`[data-test=add-condition]`), choose(`[data-test=condition] [data-test=cond-field]`, "amount"),
		choose(`[data-test=condition] [data-test=cond-op]`, "ge"), typeInto(`[data-test=condition] [data-test=cond-value]`, "1000"),
		click(`[data-test=filter-apply]`), waitText(`[data-test=current-filter]`, "amount >= 1000"), waitText(`[data-test=count]`, "of 3"))
	b.step("filtered")
	if got := eval[[]string](b, `[...document.querySelectorAll('[data-test=record-table] [data-test=record-link]')].map(a => a.textContent)`); len(got) != 3 {
		t.Errorf("filtered list shows %q, want Acme, Umbrella and the <img> record", got)
	}
	noXSS(b, "list")
	// Saved as a view, and picked again from the list of views.
	b.run(click(`[data-test=save-view]`), visible(`[data-test=save-view-dialog]`), typeInto(`[data-test=view-name]`, "Big deals"),
		click(`[data-test=view-save]`), gone(`[data-test=save-view-dialog]`), waitText(`[data-test=views] option:checked`, "Big deals"))
	view := eval[string](b, `document.querySelector('[data-test=views]').value`)
	b.run(click(`[data-test=filter-clear]`), waitText(`[data-test=count]`, "of 5"), choose(`[data-test=views]`, view),
		waitText(`[data-test=current-filter]`, "amount >= 1000"), waitText(`[data-test=count]`, "of 3"))
	b.step("saved-view")
	// A raw expression that does not compile: the message at its place, nothing run.
	b.run(click(`[data-test=filter-raw]`), typeInto(`[data-test=filter-expression]`, "amount >"), click(`[data-test=filter-apply]`),
		visible(`[data-test=expression-error] mark`))
	b.step("raw-filter-refused")
	if n := eval[int](b, `document.querySelectorAll('[data-test=record-table] [data-test=record-link]').length`); n != 0 {
		t.Errorf("a refused filter still lists %d records", n)
	}

	// The board: columns from the store, a card moved with its menu and one
	// dragged; a record changed meanwhile puts its card back with the reason.
	id := func(name string) string {
		t.Helper()
		m := j.call(t, admin, "GET", "/api/v1/records/deal?filter="+url.QueryEscape(fmt.Sprintf("name == %q", name)), nil, 200)
		items := m["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("%d deals named %q", len(items), name)
		}
		return items[0].(map[string]any)["id"].(string)
	}
	umbrella, acme, globex := id("Umbrella"), id("Acme"), id("Globex")
	card := func(col, id string) string {
		return fmt.Sprintf(`[data-test=board] section[data-value=%q] article[data-id=%q]`, col, id)
	}
	b.run(click(`[data-test=filter-clear]`), waitText(`[data-test=count]`, "of 5"),
		click(`[data-test=show-board]`), visible(card("lead", umbrella)), visible(card("lost", globex)),
		waitText(`section[data-value=lead] [data-test=col-count]`, "3"))
	b.step("board")
	noXSS(b, "board")
	b.run(choose(card("lead", umbrella)+` select`, "won"), visible(card("won", umbrella)),
		waitText(`section[data-value=won] [data-test=col-count]`, "2"))
	b.run(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const dt = new DataTransfer();
		  const c = document.querySelector(%q), col = document.querySelector('[data-test=board] section[data-value=lost]');
		  c.dispatchEvent(new DragEvent('dragstart', {dataTransfer: dt, bubbles: true}));
		  col.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
		  col.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); return true })()`, card("won", acme)))(ctx, tg)
		return err
	}), visible(card("lost", acme)))
	b.step("cards-moved")
	if m := j.call(t, admin, "GET", "/api/v1/records/deal/"+umbrella, nil, 200); m["stage"] != "won" {
		t.Errorf("the moved card's record has stage %v, want won", m["stage"])
	}
	j.call(t, admin, "PATCH", "/api/v1/records/deal/"+globex, map[string]any{"amount": 900}, 200)
	b.run(choose(card("lost", globex)+` select`, "lead"), waitText(card("lost", globex)+` [data-test=card-error]`, "changed this record"),
		waitText(card("lost", globex), "900.00"))
	b.step("card-conflict")
	if m := j.call(t, admin, "GET", "/api/v1/records/deal/"+globex, nil, 200); m["stage"] != "lost" {
		t.Errorf("a conflicting move changed the record: stage %v", m["stage"])
	}

	// The record page: an inline edit, and the change in the timeline.
	b.run(click(card("lost", acme)+` a`), waitText(`[data-test=record-title]`, "Acme"), click(`[data-test=edit-amount]`),
		typeInto(`#f-amount`, "1500"), chromedp.SendKeys(chromedp.CSS(`#f-amount`), "\r"),
		waitText(`[data-field=amount]`, "1,500.00"), waitText(`[data-test=timeline] li[data-kind=change]`, "1,500.00"))
	b.step("inline-edit")
	b.run(typeInto(`[data-test=note-body]`, "Called the buyer"), click(`[data-test=activity-add]`),
		waitText(`[data-test=timeline] li[data-kind=note]`, "Called the buyer"),
		click(`[data-test=tab-task]`), typeInto(`[data-test=task-title]`, "Send the offer"), click(`[data-test=activity-add]`),
		waitText(`[data-test=timeline] li[data-kind=task]`, "Send the offer"),
		click(`[data-test=tab-activity]`), typeInto(`[data-test=activity-subject]`, "Intro call"), click(`[data-test=activity-add]`),
		waitText(`[data-test=timeline] li[data-kind=activity]`, "Intro call"))
	if kinds := eval[[]string](b, `[...document.querySelectorAll('[data-test=timeline] li[data-kind]')].map(li => li.dataset.kind)`); len(kinds) < 6 ||
		kinds[0] != "activity" || kinds[1] != "task" || kinds[2] != "note" || kinds[3] != "change" {
		t.Errorf("timeline order %v, want the call, the task, the note, then the changes (newest first)", kinds)
	}
	b.step("note-task-call")
	b.run(click(`a[href="/"]`), waitText(`[data-test=my-tasks]`, "Send the offer"))
	b.step("home-tasks")
	b.run(click(`[data-test=my-tasks] li input[type=checkbox]`), waitText(`[data-test=my-tasks]`, "No open tasks"))
	if tasks := j.call(t, admin, "GET", "/api/v1/tasks/mine", nil, 200)["items"].([]any); len(tasks) != 0 {
		t.Errorf("open tasks after marking done: %v", tasks)
	}
	b.run(nav(j.base+"/e/deal/"+acme), waitText(`[data-test=record-title]`, "Acme"))

	// 中文: the same page in Chinese.
	b.run(choose(`[data-test=language]`, "zh-CN"), waitText(`[data-test=timeline] h2`, "时间线"), waitText(`nav.side`, "首页"),
		waitText(`nav.side a[data-entity=deal]`, "商机"), waitText(`[data-field=amount] dt`, "金额"))
	b.step("chinese")
	b.run(nav(j.base+"/e/deal/"+id(xss)), visible(`[data-test=record-title]`), waitText(`[data-test=timeline]`, "创建了记录"))
	noXSS(b, "record page and timeline")
	b.step("xss-record")
}

const xss = `<img src=x onerror=alert(1)>`

// noXSS: record text shows as text, and no element came from it.
func noXSS(b *browser, where string) {
	b.t.Helper()
	if n := eval[int](b, `document.querySelectorAll('img[src=x], img[src$="/x"]').length`); n != 0 {
		b.t.Errorf("%s: record text became %d <img> elements", where, n)
	}
	if !eval[bool](b, `document.body.innerText.includes('<img src=x onerror=alert(1)>')`) {
		b.t.Errorf("%s: the record named %s does not show as text", where, xss)
	}
	b.check()
}
