package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// dragTo drags the element at from onto the element at to as a person
// does with a mouse: press, move in steps, release (the builder follows
// pointer events, so this is the path a finger takes too).
func dragTo(from, to string) Action { return dragOnto(from, to, false) }

// dragOnto drags onto the top of the element at to (before it) with top,
// or onto its bottom (the end of a drop zone).
func dragOnto(from, to string, top bool) Action {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		js := fmt.Sprintf(`(() => { const a = document.querySelector(%q), b = document.querySelector(%q);
		  if (!a || !b) return null; b.scrollIntoView({block: 'center'}); a.scrollIntoView({block: 'nearest'});
		  const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
		  return [r.x + r.width / 2, r.y + r.height / 2, s.x + s.width / 2, %v ? s.y + 4 : s.y + s.height - 6] })()`, from, to, top)
		xy, err := chromedp.Evaluate[[]float64](js)(ctx, t)
		if err != nil {
			return err
		}
		if len(xy) != 4 {
			return fmt.Errorf("dragging %s to %s: not both on the page", from, to)
		}
		steps := []Action{chromedp.MouseEvent(chromedp.MousePressed, xy[0], xy[1], chromedp.ButtonLeft, chromedp.ClickCount(1))}
		for i := 1; i <= 5; i++ {
			x := xy[0] + (xy[2]-xy[0])*float64(i)/5
			y := xy[1] + (xy[3]-xy[1])*float64(i)/5
			steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, x, y, chromedp.ButtonLeft))
		}
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, xy[2], xy[3], chromedp.ButtonLeft, chromedp.ClickCount(1)))
		return chromedp.Do(ctx, steps...)
	})
}

// setRule types a condition into the side panel's filter builder for one
// rule kind (show_when, require_when, read_only_when) and applies it.
func setRule(kind, expr string) Action {
	b := "rule-" + kind + "-builder"
	return chromedp.Steps(click(`[data-test=rule-`+kind+`] summary`), click(`[data-test=`+b+`-raw-toggle]`),
		typeInto(`[data-test=`+b+`-expression]`, expr), click(`[data-test=`+b+`-apply]`),
		waitText(`[data-test=rule-`+kind+`] summary`, expr))
}

// TestFormsBrowser is item 8 of issue 16: a "Visit report" built in the
// builder by dragging five fields into two sections, with "require
// next_visit when outcome == follow_up" and "show lost_reason when outcome
// == lost" checked in the live preview and saved; the form filled on a
// phone-sized screen, its draft surviving a reload; a web-to-lead form
// published and sent from a browser without a session (and without
// JavaScript), the required field's message next to it, and the lead
// found in the list.
func TestFormsBrowser(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	opts := func(vs ...string) []any {
		out := []any{}
		for _, v := range vs {
			out = append(out, map[string]any{"value": v})
		}
		return out
	}
	j.call(t, admin, "POST", "/api/v1/meta/entities", map[string]any{"name": "deal", "label": map[string]any{"en": "Deal", "zh-CN": "商机"}, "ownership": true,
		"fields": []any{
			map[string]any{"name": "name", "type": "text", "required": true, "label": "Name"},
			map[string]any{"name": "outcome", "type": "select", "label": "Outcome", "options": opts("won", "lost", "follow_up")},
			map[string]any{"name": "next_visit", "type": "date", "label": "Next visit"},
			map[string]any{"name": "lost_reason", "type": "long_text", "label": "Lost reason"},
			map[string]any{"name": "amount", "type": "currency", "label": "Amount"},
			map[string]any{"name": "notes", "type": "long_text", "label": "Notes"},
		}}, 201)

	b := newBrowser(t, 1400, 1600)
	b.signIn(j.base, adminEmail, adminPassword)
	b.run(click(`[data-test=nav-forms]`), click(`a[data-forms-entity=deal]`), click(`[data-test=new-form]`),
		visible(`[data-test=form-name]`), typeInto(`[data-test=form-name]`, "visit_report"),
		typeInto(`[data-test=form-label-en]`, "Visit report"), typeInto(`[data-test=form-label-zh]`, "拜访记录"),
		click(`[data-test=add-section]`), visible(`[data-section="1"]`), typeInto(`[data-test=sec-0-en]`, "Visit"), typeInto(`[data-test=sec-1-en]`, "Deal"))
	b.step("builder-empty")
	for _, d := range []struct{ field, zone string }{
		{"name", `[data-drop="0:1"]`}, {"outcome", `[data-drop="0:1"]`}, {"next_visit", `[data-drop="0:1"]`},
		{"lost_reason", `[data-drop="1:1"]`}, {"amount", `[data-drop="1:1"]`},
	} {
		b.run(dragTo(`[data-palette=`+d.field+`] .handle`, d.zone), visible(d.zone+` [data-field=`+d.field+`]`))
	}
	// Reorder by drag: amount above lost_reason.
	b.run(dragOnto(`[data-drop="1:1"] [data-field=amount] .handle`, `[data-drop="1:1"] [data-field=lost_reason]`, true),
		waitJS(`[...document.querySelectorAll('[data-drop="1:1"] [data-field]')].map(e => e.dataset.field).join() === 'amount,lost_reason'`))
	b.step("five-fields-in-two-sections")
	// Undo takes the reorder back, redo brings it again.
	b.run(click(`[data-test=undo]`),
		waitJS(`[...document.querySelectorAll('[data-drop="1:1"] [data-field]')].map(e => e.dataset.field).join() === 'lost_reason,amount'`),
		click(`[data-test=redo]`),
		waitJS(`[...document.querySelectorAll('[data-drop="1:1"] [data-field]')].map(e => e.dataset.field).join() === 'amount,lost_reason'`))

	b.run(click(`[data-test=select-next_visit]`), setRule("require_when", `outcome == "follow_up"`),
		click(`[data-test=select-lost_reason]`), setRule("show_when", `outcome == "lost"`))
	b.step("rules-set")
	// The live preview: the server evaluates the draft's rules.
	pv := `[data-test=preview] `
	b.run(choose(`#pv-outcome`, "won"), waitJS(`!document.querySelector('[data-test=preview] [data-field=lost_reason]')`),
		waitJS(`document.querySelector('[data-test=preview] [data-field=next_visit]').dataset.required === 'no'`),
		choose(`#pv-outcome`, "follow_up"), visible(pv+`[data-field=next_visit][data-required=yes]`))
	b.step("preview-follow-up-requires-next-visit")
	b.run(choose(`#pv-outcome`, "lost"), visible(pv+`[data-field=lost_reason]`),
		waitJS(`document.querySelector('[data-test=preview] [data-field=next_visit]').dataset.required === 'no'`))
	b.step("preview-lost-shows-reason")
	b.run(click(`[data-test=save-form]`), waitText(`[data-test=form-saved]`, "version 1"), visible(`[data-test=use-new]`))
	b.step("saved")
	formID := eval[string](b, `location.pathname.split('/').pop()`)
	f := j.call(t, admin, "GET", "/api/v1/meta/forms/"+formID, nil, 200)
	secs := f["sections"].([]any)
	if len(secs) != 2 || len(secs[0].(map[string]any)["fields"].([]any)) != 3 || len(secs[1].(map[string]any)["fields"].([]any)) != 2 {
		t.Fatalf("the saved form: %v", f)
	}
	// The new dialog uses it from now on.
	b.run(click(`[data-test=use-new]`), waitJS(`document.querySelector('[data-test=use-new]').checked`))

	// On a phone: full-screen, filled with the keyboard, the draft kept
	// over a reload, the rule enforced by the server.
	phone := newBrowser(t, 390, 844)
	phone.signIn(j.base, adminEmail, adminPassword)
	phone.run(nav(j.base+"/e/deal/new"), visible(`[data-test=fill-form]`), waitJS(`location.pathname === '/fill/`+formID+`'`),
		typeInto(`#fill-name`, "Acme visit"), choose(`#fill-outcome`, "follow_up"),
		visible(`[data-field=next_visit][data-required=yes]`))
	phone.step("phone-filling")
	phone.run(chromedp.Reload(), visible(`[data-test=draft-restored]`),
		waitJS(`document.querySelector('#fill-name').value === 'Acme visit'`), visible(`[data-field=next_visit][data-required=yes]`))
	phone.step("phone-draft-restored")
	phone.run(click(`[data-test=fill-submit]`), waitText(`[data-field=next_visit] .field-error`, "equired"))
	phone.step("phone-required-by-rule")
	phone.run(choose(`#fill-next_visit`, "2027-01-05"), click(`[data-test=fill-submit]`), waitText(`[data-test=record-title]`, "Acme visit"))
	phone.step("phone-saved")
	if eval[string](phone, `localStorage.length ? Object.keys(localStorage).filter(k => k.startsWith('jimu.draft.')).join() : ''`) != "" {
		t.Error("the draft was kept after the record was saved")
	}

	// The record page opens the entity's chosen record form: a change
	// through it goes through the form's rules too.
	j.call(t, admin, "PUT", "/api/v1/meta/form-choices/deal", map[string]any{"new": formID, "record": formID}, 200)
	deal := j.call(t, admin, "GET", "/api/v1/records/deal", nil, 200)["items"].([]any)[0].(map[string]any)
	b.run(nav(j.base+"/e/deal/"+deal["id"].(string)), click(`[data-test=edit-with-form]`), visible(`[data-test=fill-form]`),
		waitJS(`document.querySelector('#fill-name').value === 'Acme visit'`), choose(`#fill-outcome`, "lost"),
		visible(`[data-field=lost_reason]`), typeInto(`#fill-lost_reason`, "Price"), click(`[data-test=fill-submit]`),
		waitText(`[data-test=record-title]`, "Acme visit"), waitText(`main`, "Price"))
	b.step("record-changed-through-the-form")

	// Web-to-lead: a lead entity and its form, published in the builder.
	j.call(t, admin, "POST", "/api/v1/meta/entities", map[string]any{"name": "lead", "label": "Lead", "ownership": true, "fields": []any{
		map[string]any{"name": "name", "type": "text", "required": true, "label": map[string]any{"en": "Name", "zh-CN": "姓名"}},
		map[string]any{"name": "email", "type": "email", "required": true, "label": map[string]any{"en": "E-mail", "zh-CN": "邮箱"}},
		map[string]any{"name": "company", "type": "text", "label": "Company"},
		map[string]any{"name": "source", "type": "text"},
	}}, 201)
	lf := j.call(t, admin, "POST", "/api/v1/meta/forms", map[string]any{"name": "web_lead", "entity": "lead", "label": "Contact us",
		"sections": []any{map[string]any{"fields": []any{map[string]any{"field": "name"}, map[string]any{"field": "email"}, map[string]any{"field": "company"}}}}}, 201)
	b.run(nav(j.base+"/forms/lead/"+lf["id"].(string)), click(`[data-test=publish-tab]`), typeInto(`[data-test=pub-slug]`, "contact-us"),
		typeInto(`[data-test=pub-defaults]`, "source=web"), typeInto(`[data-test=pub-min-fill]`, "0"), click(`[data-test=publish]`),
		waitText(`[data-test=public-url]`, "/f/contact-us"))
	b.step("published")

	// A private window: no session, and no JavaScript at all.
	visitor := newBrowser(t, 1280, 900)
	if _, err := chromedp.Call(visitor.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	visitor.run(nav(j.base+"/f/contact-us"), visible(`input[name=email]`), chromedp.SendKeys(chromedp.CSS(`#f_name`), "Ada Lovelace"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#e_email`)))
	if msg := eval[string](visitor, `document.querySelector('#e_email').textContent`); !strings.Contains(msg, "required") {
		t.Fatalf("the message next to the e-mail field: %q", msg)
	}
	visitor.shot("public-required-missing")
	visitor.run(chromedp.SendKeys(chromedp.CSS(`#f_email`), "ada@example.com"), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.done`)))
	visitor.shot("public-sent")

	b.run(nav(j.base+"/e/lead"), waitText(`[data-test=record-table]`, "Ada Lovelace"))
	b.step("lead-in-the-list")
	leads := j.call(t, admin, "GET", "/api/v1/records/lead", nil, 200)["items"].([]any)
	if len(leads) != 1 || leads[0].(map[string]any)["source"] != "web" || leads[0].(map[string]any)["created_by"] != lf["id"] {
		t.Fatalf("the lead: %v", leads)
	}
}
