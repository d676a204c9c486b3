package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// dealEntity is the entity the people tests work on, made through the API.
func dealEntity(t *testing.T, j *jimu, admin string) {
	t.Helper()
	j.call(t, admin, "POST", "/api/v1/meta/entities", map[string]any{
		"name": "deal", "label": "Deal", "ownership": true,
		"fields": []map[string]any{
			{"name": "name", "type": "text", "required": true, "max_length": 200},
			{"name": "amount", "type": "currency", "min": 0},
			{"name": "stage", "type": "select", "options": []map[string]any{{"value": "lead"}, {"value": "won", "color": "#16a34a"}}},
			{"name": "close_date", "type": "date"},
			{"name": "notes", "type": "long_text"},
			{"name": "code", "type": "text", "unique": true},
		}}, 201)
}

// TestPhone: at 390 × 844 the list becomes cards, the record page stacks,
// and nothing scrolls sideways.
func TestPhone(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	var id string
	for i, n := range []string{"Acme Corporation International", "Globex", "一个很长的中文商机名称用于测试换行"} {
		m := j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": n, "amount": 1000 * (i + 1), "stage": "lead",
			"notes": "A long note that must wrap on a small screen instead of pushing the page sideways."}, 201)
		id = m["id"].(string)
	}
	b := newBrowser(t, 390, 844)
	b.signIn(j.base, adminEmail, adminPassword)
	noSideways := func(where string) {
		t.Helper()
		if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			t.Errorf("%s: the page is %d px wide on a %d px screen", where, w[0], w[1])
		}
	}
	noSideways("home")
	b.step("home")
	b.run(nav(j.base+"/e/deal"), waitText(`[data-test=count]`, "of 3"))
	if d := eval[string](b, `getComputedStyle(document.querySelector('[data-test=record-table] thead')).display`); d != "none" {
		t.Errorf("the list keeps its table head on a phone (display %s): it should be cards", d)
	}
	noSideways("list")
	b.step("list-cards")
	b.run(click(`[aria-label=Menu]`), visible(`nav.side a[data-entity=deal]`))
	b.step("menu")
	b.run(click(`nav.side a[data-entity=deal]`), gone(`.menu-open`))
	b.run(nav(j.base+"/e/deal/"+id), visible(`[data-test=timeline]`))
	if stacked := eval[bool](b, `document.querySelector('[data-test=timeline]').getBoundingClientRect().top >= document.querySelector('section.card dl').getBoundingClientRect().bottom`); !stacked {
		t.Error("the record page does not stack: the timeline sits beside the fields")
	}
	noSideways("record")
	b.step("record-stacked")
	b.run(choose(`[data-test=language]`, "zh-CN"), waitText(`[data-test=timeline] h2`, "时间线"), nav(j.base+"/e/deal"),
		waitText(`[data-test=count]`, "共 3 条"))
	noSideways("list in Chinese")
	b.step("list-chinese")
	b.run(click(`[data-test=show-board]`), visible(`[data-test=board] article`))
	noSideways("board")
	b.step("board")
	b.run(nav(j.base+"/designer/deal"), visible(`[data-test=fields-table]`))
	noSideways("designer")
	b.step("designer")
	b.run(click(`[data-test=edit-field-stage]`), visible(`[data-test=field-editor]`))
	noSideways("field editor")
	b.step("field-editor")
	b.run(nav(j.base+"/admin/roles/sales_rep"), visible(`[data-test=role-matrix]`))
	noSideways("role editor")
	b.step("role-editor")
}

// TestSalesRep: a rep sees only their own records, and another's record
// answers as not found.
func TestSalesRep(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	j.call(t, admin, "POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "name": "Rep", "password": "another long password",
		"roles": []string{"sales_rep"}}, 201)
	theirs := j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": "The admin's deal", "amount": 9000}, 201)["id"].(string)
	rep := j.token(t, "rep@example.com", "another long password")
	j.call(t, rep, "POST", "/api/v1/records/deal", map[string]any{"name": "My own deal", "amount": 100, "stage": "lead"}, 201)

	b := newBrowser(t, 1280, 860)
	b.signIn(j.base, "rep@example.com", "another long password")
	if n := eval[int](b, `document.querySelectorAll('nav.side a[href^="/admin"], nav.side a[href="/designer"]').length`); n != 0 {
		t.Errorf("a sales rep sees %d admin links", n)
	}
	b.run(visible(`nav.side a[data-entity=deal]`))
	b.step("rep-home")
	b.run(click(`nav.side a[data-entity=deal]`), waitText(`[data-test=count]`, "of 1"), waitText(`[data-test=record-table]`, "My own deal"))
	if eval[bool](b, `document.body.innerText.includes("The admin's deal")`) {
		t.Error("a sales rep sees the admin's deal")
	}
	b.step("rep-list")
	b.run(nav(j.base+"/e/deal/"+theirs), waitText(`[data-test=record-error]`, "Not found"))
	b.step("rep-not-found")
	b.run(nav(j.base+"/admin/users"), waitText(`main`, "permission"))
}

// TestSessionExpiry: a session that ends mid-edit keeps the draft, asks to
// sign in over the page, and the save then goes through.
func TestSessionExpiry(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	id := j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": "Acme", "amount": 1200}, 201)["id"].(string)

	b := newBrowser(t, 1280, 860)
	b.run(nav(j.base+"/e/deal/"+id), visible(`[data-test=sign-in]`))
	b.signInHere(adminEmail, adminPassword)
	b.run(waitText(`[data-test=record-title]`, "Acme"))
	b.step("back-where-they-were")

	b.run(click(`[data-test=edit-amount]`), typeInto(`#f-amount`, "4321"))
	// The server ends the session (as the idle timeout does): sign out
	// with the browser's own session token.
	cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{j.base}})
	if err != nil {
		t.Fatal(err)
	}
	session := ""
	for _, c := range cookies.Cookies {
		if c.Name == "jimu_session" {
			session = c.Value
		}
	}
	if session == "" {
		t.Fatal("no jimu_session cookie")
	}
	j.call(t, session, "POST", "/api/v1/auth/logout", nil, 204)

	b.run(click(`[data-test=save-field]`), visible(`.overlay [data-test=sign-in]`))
	if v := eval[string](b, `document.querySelector('#f-amount').value`); v != "4321" {
		t.Errorf("the draft is %q after the session ended, want 4321", v)
	}
	b.step("session-ended")
	b.run(typeInto(`.overlay input[name=password]`, adminPassword), click(`.overlay [data-test=sign-in]`), gone(`.overlay`),
		click(`[data-test=save-field]`), waitText(`[data-field=amount]`, "4,321.00"))
	b.step("saved-after-sign-in")
	if m := j.call(t, admin, "GET", "/api/v1/records/deal/"+id, nil, 200); fmt.Sprint(m["amount"]) != "4321" {
		t.Errorf("amount %v after the save, want 4321", m["amount"])
	}
}

// TestSearch: the search box finds records by title across entities, and
// shows record text as text.
func TestSearch(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": "Acme " + xss}, 201)
	b := newBrowser(t, 1280, 860)
	b.signIn(j.base, adminEmail, adminPassword)
	b.run(typeInto(`[data-test=search]`, "Acme"), visible(`[data-test=search-results]`))
	b.run(waitText(`[data-test=search-results]`, "Acme"))
	noXSS(b, "search results")
	b.step("search")
}

// TestBulk: a bulk edit runs record by record and reports each failure
// with its reason.
func TestBulk(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	for _, n := range []string{"Acme", "Globex", "Initech"} {
		j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": n, "amount": 100}, 201)
	}
	b := newBrowser(t, 1280, 860)
	b.signIn(j.base, adminEmail, adminPassword)
	b.run(nav(j.base+"/e/deal"), waitText(`[data-test=count]`, "of 3"),
		click(`[data-test=record-table] thead input[type=checkbox]`), waitText(`[data-test=bulk-bar]`, "3"),
		click(`[data-test=bulk-bar] button`), visible(`[data-test=bulk-dialog]`),
		choose(`[data-test=bulk-dialog] select`, "code"), typeInto(`#bulk-value`, "SAME"), click(`[data-test=bulk-run]`),
		waitText(`[data-test=bulk-dialog] [role=status]`, "1 done, 2 failed"), waitText(`[data-test=bulk-report]`, "Another record already has this value"))
	b.step("bulk-report")

	// The columns chosen stay for the entity in this browser.
	b.run(click(`[data-test=bulk-dialog] .dialog-foot button`), gone(`[data-test=bulk-dialog]`),
		click(`[data-test=columns]`), visible(`[data-test=columns-dialog]`), click(`[data-test=col-updated_at]`),
		waitJS(`document.querySelector('[data-test=sort-updated_at]') !== null`), chromedp.KeyEvent(kb.Escape), gone(`[data-test=columns-dialog]`),
		click(`a[href="/"]`), click(`nav.side a[data-entity=deal]`), visible(`[data-test=sort-updated_at]`))
	b.step("columns-kept")
}

// TestAdminPages: invite a user into a team, build a team tree, give a
// role a row rule (checked live), read the audit log and explain access.
func TestAdminPages(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	b := newBrowser(t, 1280, 900)
	b.signIn(j.base, adminEmail, adminPassword)

	b.run(nav(j.base+"/admin/teams"), typeInto(`[data-test=team-name]`, "Sales"), click(`[data-test=team-create]`),
		waitText(`[data-test=team-tree]`, "Sales"))
	b.run(typeInto(`[data-test=team-name]`, "East"), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		// the parent is the team named Sales
		_, err := chromedp.Evaluate[bool](`(() => { const s = document.querySelectorAll('form.card select')[0];
		  const o = [...s.options].find(o => o.textContent === 'Sales'); s.value = o.value; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`)(ctx, tg)
		return err
	}), click(`[data-test=team-create]`), waitText(`[data-test=team-tree]`, "East"))
	if indent := eval[string](b, `[...document.querySelectorAll('[data-test=team-tree] li')].find(li => li.innerText.includes('East')).style.paddingLeft`); indent == "" || indent == "0rem" {
		t.Errorf("East is not shown under Sales (indent %q)", indent)
	}
	b.step("team-tree")

	// Refusals named by their code, the numbers filled in, in both languages.
	b.run(nav(j.base+"/admin/users"), click(`[data-test=invite-user]`), typeInto(`[data-test=user-name]`, "Rita Rep"),
		typeInto(`[data-test=user-email]`, "rita at example"), typeInto(`[data-test=user-password]`, "a long enough password"),
		click(`[data-test=user-create]`), waitText(`dialog .field-error`, "Not a valid e-mail address."))
	b.run(typeInto(`[data-test=user-email]`, "rita@example.com"), typeInto(`[data-test=user-password]`, "short"),
		click(`[data-test=user-create]`), waitText(`dialog .field-error`, "At least 10 characters."))
	b.step("invite-refused")
	b.run(choose(`[data-test=language]`, "zh-CN"), click(`[data-test=user-create]`), waitText(`dialog .field-error`, "至少 10 个字符。"))
	b.step("invite-refused-chinese")
	b.run(choose(`[data-test=language]`, "en"), typeInto(`[data-test=user-password]`, "a long enough password"), click(`[data-test=user-create]`),
		waitText(`[data-test=users-table]`, "rita@example.com"))
	b.step("users")
	// An admin cannot take their own admin role away.
	b.run(click(`[data-test=users-table] tr[data-email="`+adminEmail+`"] [data-test=user-access]`), visible(`[data-test=access-form]`),
		click(`[data-test=access-form] input[value=admin]`), click(`[data-test=access-save]`),
		waitText(`[data-test=access-form] .field-error`, "You cannot remove your own admin role."))
	b.step("own-admin-role-refused")
	b.run(chromedp.KeyEvent(kb.Escape), gone(`[data-test=access-form]`))

	b.run(nav(j.base+"/admin/roles/sales_rep"), visible(`[data-test=role-matrix]`), visible(`[data-test="rule-*-read"]`),
		typeInto(`[data-test="rule-*-read"]`, "owner =="), visible(`[data-test=expression-error]`))
	b.step("row-rule-checked")
	b.run(typeInto(`[data-test="rule-*-read"]`, "owner == user.id or true"), waitText(`[data-test=role-matrix]`, "The expression is valid"),
		click(`[data-test=role-save]`), waitText(`main [role=status]`, "Saved"))
	if m := j.call(t, admin, "GET", "/api/v1/roles/sales_rep", nil, 200); fmt.Sprint(m["entities"].(map[string]any)["*"].(map[string]any)["read"]) != "owner == user.id or true" {
		t.Errorf("the saved role reads %v", m["entities"])
	}
	b.step("role-saved")
	// A grant for one entity, with a field hidden from the role.
	b.run(choose(`[data-test=add-grant]`, "deal"), click(`[data-test=add-grant-button]`), visible(`[data-test=fperm-deal-amount]`),
		choose(`[data-test=perm-deal-read]`, "yes"), choose(`[data-test=fperm-deal-amount]`, "hidden"),
		click(`[data-test=role-save]`), waitText(`main [role=status]`, "Saved"))
	grant := j.call(t, admin, "GET", "/api/v1/roles/sales_rep", nil, 200)["entities"].(map[string]any)["deal"].(map[string]any)
	if grant["read"] != true || fmt.Sprint(grant["fields"]) != "map[amount:hidden]" {
		t.Errorf("the deal grant reads %v", grant)
	}
	b.step("field-permission")

	b.run(nav(j.base+"/admin/audit?action=role.put"), waitText(`[data-test=audit-table]`, "role.put"))
	b.step("audit")
	rita := ""
	for _, u := range j.call(t, admin, "GET", "/api/v1/users", nil, 200)["items"].([]any) {
		if u.(map[string]any)["email"] == "rita@example.com" {
			rita = u.(map[string]any)["id"].(string)
		}
	}
	b.run(nav(j.base+"/admin/explain?user="+rita), choose(`[data-test=explain-user]`, rita), click(`[data-test=explain-run]`),
		waitText(`[data-test=explanation]`, "sales_rep"), waitText(`[data-test=explanation]`, "owner == user.id or true"))
	b.step("explain")
}

// TestRelatedAndSections: a record page lists the records of other
// entities that link to it, each list with its add button (the link
// filled in); fields sit in their sections; a lookup is picked by title;
// a board is saved as a view; Escape closes a dialog.
func TestRelatedAndSections(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	j.call(t, admin, "POST", "/api/v1/meta/entities", map[string]any{
		"name": "contact", "label": map[string]any{"en": "Contact", "zh-CN": "联系人"}, "ownership": true,
		"fields": []map[string]any{
			{"name": "name", "type": "text", "required": true},
			{"name": "deal", "type": "lookup", "target": "deal"},
			{"name": "city", "type": "text", "section": "Address"},
		}}, 201)
	acme := j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": "Acme", "stage": "lead"}, 201)["id"].(string)
	j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": "Globex", "stage": "won"}, 201)

	b := newBrowser(t, 1280, 900)
	b.signIn(j.base, adminEmail, adminPassword)
	b.run(nav(j.base+"/e/deal/"+acme), visible(`[data-test=related-contact]`), click(`[data-test=related-contact] a.button`),
		visible(`[data-test=new-form]`), waitText(`[data-field=deal]`, "Acme"), typeInto(`#n-name`, "Ann Buyer"),
		typeInto(`#n-city`, "Hangzhou"), click(`[data-test=create-record]`), waitText(`[data-test=related-contact]`, "Ann Buyer"))
	b.step("related-list")
	b.run(click(`[data-test=related-contact] li a`), waitText(`[data-test=record-title]`, "Ann Buyer"),
		waitText(`main section.card h2`, "Address"), waitText(`[data-field=deal]`, "Acme"))
	b.step("sections-and-lookup")
	// The lookup picked by title.
	b.run(click(`[data-test=edit-deal]`), typeInto(`[data-field=deal] [data-test=lookup-search]`, "Glo"),
		waitJS(`(() => { const b = [...document.querySelectorAll('[data-field=deal] .picker-hits button')]; return b.length === 1 && b[0].textContent === 'Globex' })()`),
		click(`[data-field=deal] .picker-hits button`), click(`[data-test=save-field]`), waitText(`[data-field=deal] .value`, "Globex"))
	b.step("lookup-picked")

	// A board saved as a view, and the dialog closed with Escape.
	b.run(nav(j.base+"/e/deal"), click(`[data-test=show-board]`), visible(`[data-test=board]`), click(`[data-test=save-view]`),
		visible(`[data-test=save-view-dialog]`), typeInto(`[data-test=view-name]`, "Pipeline"), click(`[data-test=view-save]`),
		gone(`[data-test=save-view-dialog]`))
	views := j.call(t, admin, "GET", "/api/v1/views?entity=deal", nil, 200)["items"].([]any)
	if len(views) != 1 || views[0].(map[string]any)["kind"] != "kanban" || views[0].(map[string]any)["group_by"] != "stage" {
		t.Errorf("saved views: %v, want one kanban by stage", views)
	}
	b.run(click(`[data-test=save-view]`), visible(`[data-test=save-view-dialog]`),
		chromedp.KeyEvent(kb.Escape), gone(`[data-test=save-view-dialog]`))
	b.step("board-view")
}

// TestDesignerExpressions: a formula checked live with the error at its
// place, and a validation rule whose message then shows next to its field.
func TestDesignerExpressions(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	b := newBrowser(t, 1280, 900)
	b.signIn(j.base, adminEmail, adminPassword)
	b.run(nav(j.base+"/designer/deal"), click(`[data-test=add-field]`), visible(`[data-test=field-editor]`),
		typeInto(`[data-test=field-name]`, "double"), choose(`[data-test=field-type]`, "formula"),
		typeInto(`[data-test=field-formula]`, "amount *"), visible(`[data-test=field-editor] [data-test=expression-error] mark`))
	b.step("formula-error")
	b.run(typeInto(`[data-test=field-formula]`, "amount * 2"), waitText(`[data-test=field-editor]`, "The expression is valid"),
		click(`[data-test=field-save]`), gone(`[data-test=field-editor]`), visible(`[data-test=fields-table] tr[data-field=double]`))
	b.run(click(`[data-test=add-rule]`), visible(`[data-test=rule-dialog]`), typeInto(`[data-test=rule-name]`, "big_enough"),
		typeInto(`[data-test=rule-expression]`, "amount == nil or amount >= 10"), waitText(`[data-test=rule-dialog]`, "The expression is valid"),
		typeInto(`[data-test=rule-message]`, "At least 10, please"), choose(`[data-test=rule-field]`, "amount"),
		click(`[data-test=rule-save]`), gone(`[data-test=rule-dialog]`), waitText(`main`, "big_enough"))
	b.step("rule-added")
	b.run(nav(j.base+"/e/deal/new"), typeInto(`#n-name`, "Tiny"), typeInto(`#n-amount`, "3"), click(`[data-test=create-record]`),
		waitText(`[data-field=amount] .field-error`, "At least 10, please"))
	b.step("rule-message")
	b.run(typeInto(`#n-amount`, "30"), click(`[data-test=create-record]`), waitText(`[data-test=record-title]`, "Tiny"),
		waitText(`[data-field=double]`, "60"))
	b.step("formula-value")

	// An entity another links to, or with records, cannot be deleted: the
	// refusal says which, in the person's language.
	j.call(t, admin, "POST", "/api/v1/meta/entities", map[string]any{"name": "contact", "label": "Contact",
		"fields": []map[string]any{{"name": "name", "type": "text"}, {"name": "deal", "type": "lookup", "target": "deal"}}}, 201)
	b.run(nav(j.base+"/designer/deal"), click(`[data-test=delete-entity]`), typeInto(`#drop-form input`, "deal"),
		click(`[data-test=confirm-delete-entity]`), waitText(`#drop-form [role=alert]`, "Not deleted. The field deal of Contact links to it: delete that field first."))
	b.step("entity-delete-referenced")
	j.call(t, admin, "DELETE", "/api/v1/meta/entities/contact/fields/deal", nil, 204)
	b.run(choose(`[data-test=language]`, "zh-CN"), click(`[data-test=confirm-delete-entity]`),
		waitText(`#drop-form [role=alert]`, "未删除。它仍有记录：请先删除这些记录。"))
	b.step("entity-delete-has-records")
}

// TestRecentFollows: the records a person opened are on their home page in
// another browser too (the server keeps them, not the browser), by title.
func TestRecentFollows(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	id := j.call(t, admin, "POST", "/api/v1/records/deal", map[string]any{"name": "Opened on the laptop " + xss}, 201)["id"].(string)

	laptop := newBrowser(t, 1280, 860)
	laptop.signIn(j.base, adminEmail, adminPassword)
	laptop.run(waitText(`[data-test=my-recent]`, "Records you open appear here"))
	laptop.run(nav(j.base+"/e/deal/"+id), waitText(`[data-test=record-title]`, "Opened on the laptop"))

	phone := newBrowser(t, 390, 844)
	phone.signIn(j.base, adminEmail, adminPassword)
	phone.run(waitText(`[data-test=my-recent]`, "Opened on the laptop"))
	noXSS(phone, "recent records")
	phone.step("recent-on-another-device")
	phone.run(click(`[data-test=my-recent] a`), waitText(`[data-test=record-title]`, "Opened on the laptop"))
}
