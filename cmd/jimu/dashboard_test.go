package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardBoard: a board built in the builder (buildBoard) draws each
// chart on a canvas with no console errors or CSP violations, shows record
// text as text, follows its date filter, and a click on a bar opens the
// list whose count is the bar's; a Sales Rep sees their own numbers on the
// same board, and a widget on a field hidden from them fails alone.
func TestDashboardBoard(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	j.call(t, admin, "POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "name": "Rep", "password": "another long password",
		"roles": []string{"sales_rep"}}, 201)
	rep := j.token(t, "rep@example.com", "another long password")
	// Reps see their own deals, without their notes.
	own := "owner == user.id"
	j.call(t, admin, "PUT", "/api/v1/roles/sales_rep", map[string]any{"label": "Sales Rep", "entities": map[string]any{
		"*":    map[string]any{"create": true, "read": own, "update": own, "delete": own},
		"deal": map[string]any{"create": true, "read": own, "update": own, "delete": own, "fields": map[string]any{"notes": "hidden"}}}}, 200)
	thisYear, lastYear := time.Now().UTC().Year(), time.Now().UTC().Year()-1
	for i := range 24 {
		who := admin
		if i%3 == 0 {
			who = rep
		}
		year := thisYear
		if i%4 == 0 {
			year = lastYear
		}
		name := fmt.Sprintf("Deal %02d", i)
		amount := 100 * (i + 1)
		if i == 5 {
			name, amount = xss, 99999 // the top of the table
		}
		deal := map[string]any{"name": name, "amount": amount, "stage": []string{"lead", "won"}[i%2], "close_date": fmt.Sprintf("%d-%02d-15", year, 1+i%12)}
		if who == admin {
			deal["notes"] = fmt.Sprintf("note %d", i%5)
		}
		j.call(t, who, "POST", "/api/v1/records/deal", deal, 201)
	}
	b := newBrowser(t, 1440, 1400)
	b.signIn(j.base, adminEmail, adminPassword)
	id := buildBoard(t, j, b, admin)
	buildRichWidget(t, j, b, admin, id)
	charts := []string{"w2", "w3", "w4", "w5"} // by stage, per month, by owner, funnel
	// drawn waits for every widget; those of failing answer their own error.
	drawn := func(b *browser, failing ...string) {
		b.t.Helper()
		var conds []string
		for _, w := range charts {
			conds = append(conds, fmt.Sprintf(`document.querySelector('[data-widget=%s] canvas')`, w))
		}
		conds = append(conds, `document.querySelector('[data-widget=count] [data-test=kpi-value]')`, `document.querySelector('[data-widget=w6] table')`,
			`document.querySelector('[data-widget=w8] [data-test=pivot]')`)
		notes := `document.querySelector('[data-widget=w7] [data-test=kpi-value]')`
		if len(failing) > 0 {
			notes = `document.querySelector('[data-widget=w7] [data-test=widget-error]')`
		}
		b.run(waitJS(strings.Join(append(conds, notes), " && ")))
		got := eval[[]string](b, `[...document.querySelectorAll('[data-test=widget-error]')].map(e => e.closest('[data-widget]').dataset.widget)`)
		if fmt.Sprint(got) != fmt.Sprint(append([]string{}, failing...)) {
			b.t.Errorf("widgets %v failed, want %v", got, failing)
		}
	}
	kpi := func(token, filter string) string {
		path := "/api/v1/dashboards/" + id + "/widgets/count/data"
		if filter != "" {
			path += "?" + filter
		}
		return fmt.Sprint(j.call(t, token, "GET", path, nil, 200)["kpi"].(map[string]any)["value"])
	}

	b.run(click(`[data-test=nav-dashboards]`), visible(`[data-dashboard="`+id+`"]`))
	b.step("dashboards")
	b.run(click(`[data-dashboard="` + id + `"]`))
	drawn(b)
	b.run(waitText(`[data-widget=count] [data-test=kpi-value]`, kpi(admin, "")))
	noXSS(b, "the board")
	painted(b, "w5") // the funnel
	// The pivot: owners down, by name, stages across, its total the count.
	b.run(waitJS(`[...document.querySelectorAll('[data-widget=w8] [data-test=pivot-row]')].every(a => a.innerText !== '…')`))
	adminName := j.call(t, admin, "GET", "/api/v1/people?q=admin", nil, 200)["items"].([]any)[0].(map[string]any)["name"]
	if got, want := eval[[]string](b, `[...document.querySelectorAll('[data-widget=w8] [data-test=pivot-row]')].map(a => a.innerText).sort()`), fmt.Sprintf("[Rep %v]", adminName); fmt.Sprint(got) != want {
		t.Errorf("the pivot's owners read %v, want their names %s", got, want)
	}
	// The donut by owner names them too (its slices, as the canvas shows them).
	b.run(waitJS(`(document.querySelector('[data-widget=w4] [data-test=chart]').getAttribute('aria-label') || '').includes('Rep: ')`))
	if got := eval[string](b, `document.querySelector('[data-widget=w4] [data-test=chart]').getAttribute('aria-label')`); !strings.Contains(got, fmt.Sprint(adminName)+": ") {
		t.Errorf("the donut by owner reads %q, want both owners' names", got)
	}
	if got := eval[string](b, `document.querySelector('[data-widget=w8] [data-test=pivot-total]').innerText`); got != kpi(admin, "") {
		t.Errorf("the pivot's total is %s, the count %s", got, kpi(admin, ""))
	}
	// The line keeps the colour chosen in the builder.
	if !eval[bool](b, `(() => {
	  const c = document.querySelector('[data-widget=w3] canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	  for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 238) < 8 && Math.abs(d[i+1] - 102) < 8 && Math.abs(d[i+2] - 102) < 8) return true;
	  return false;
	})()`) {
		t.Error("the line is not drawn in the colour chosen for it (#ee6666)")
	}
	b.step("board")
	// A filter without a label of its own is named as its field is.
	b.run(waitJS(`document.querySelector('[data-test=filter-label][data-for=owner]')?.innerText === 'Owner'`))

	// The date filter reaches every widget.
	b.run(choose(`[data-filter=close_date]`, "this_year"), waitText(`[data-widget=count] [data-test=kpi-value]`, kpi(admin, "filter.close_date=this_year")))
	drawn(b)
	if !strings.Contains(eval[string](b, `location.search`), "filter.close_date=this_year") {
		t.Error("the date filter is not kept in the address")
	}
	b.step("this-year")

	// Click the first bar: find a pixel of the first series' colour.
	data := j.call(t, admin, "GET", "/api/v1/dashboards/"+id+"/widgets/w2/data?filter.close_date=this_year", nil, 200)
	first := data["rows"].([]any)[0].(map[string]any)
	xy := eval[[]float64](b, `(() => {
	  const c = document.querySelector('[data-widget=w2] canvas');
	  const r = c.getBoundingClientRect(), k = c.width / r.width, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	  for (let x = 0; x < c.width; x += 2) for (let y = c.height - 1; y >= 0; y -= 2) {
	    const i = (y * c.width + x) * 4;
	    if (Math.abs(d[i] - 84) < 8 && Math.abs(d[i+1] - 112) < 8 && Math.abs(d[i+2] - 198) < 8) return [r.left + x / k + 2, r.top + y / k - 2];
	  }
	  return [];
	})()`)
	if len(xy) != 2 {
		b.shot("no-bar")
		t.Fatal("no bar drawn in the first series' colour")
	}
	b.run(chromedp.MouseClickXY(xy[0], xy[1]), waitJS(`location.pathname === '/e/deal'`),
		waitText(`[data-test=count]`, fmt.Sprintf("of %v", first["value"])))
	if got, _ := url.QueryUnescape(strings.TrimPrefix(eval[string](b, `location.search`), "?filter=")); got != first["drill"] {
		t.Errorf("the drill opened %q, want %q", got, first["drill"])
	}
	b.step("drilled")

	// A Sales Rep on the same board sees their own numbers; the widget
	// counting notes, hidden from reps, answers its own error.
	r := newBrowser(t, 1440, 1400)
	r.signIn(j.base, "rep@example.com", "another long password")
	r.run(nav(j.base + "/dashboards/" + id))
	drawn(r, "w7")
	if !strings.Contains(eval[string](r, `document.querySelector('[data-widget=w7] [data-test=widget-error]').innerText`), "notes") {
		t.Errorf("the failing widget's error does not name the hidden field: %q", eval[string](r, `document.querySelector('[data-widget=w7]').innerText`))
	}
	// In the person's language: the refusal's params give the app the
	// widget, the entity and the field to word it with.
	r.run(choose(`[data-test=language]`, "zh-CN"), waitText(`[data-widget=w7] [data-test=widget-error]`, "没有您可见的字段“notes”"))
	r.step("rep-board-zh")
	r.run(choose(`[data-test=language]`, "en"), waitText(`[data-widget=w7] [data-test=widget-error]`, "has no field “notes” that you may see"))
	if mine, all := kpi(rep, ""), kpi(admin, ""); mine == all {
		t.Fatalf("the rep's count %s equals the admin's", mine)
	}
	r.run(waitText(`[data-widget=count] [data-test=kpi-value]`, kpi(rep, "")))
	r.step("rep-board")

	// On a phone the board is one column: every widget draws, none wider
	// than the screen, nothing to scroll sideways.
	ph := newBrowser(t, 390, 844)
	ph.signIn(j.base, "rep@example.com", "another long password")
	ph.run(nav(j.base + "/dashboards/" + id))
	drawn(ph, "w7")
	if wide := eval[int](ph, `document.scrollingElement.scrollWidth - window.innerWidth`); wide > 0 {
		t.Errorf("on a phone the board is %d px wider than the screen", wide)
	}
	if over := eval[[]string](ph, `[...document.querySelectorAll('[data-widget]')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.dataset.widget)`); len(over) > 0 {
		t.Errorf("on a phone widgets %v reach past the screen", over)
	}
	// One under the other, none over the one before.
	if overlap := eval[[]string](ph, `[...document.querySelectorAll('[data-widget]')].map(e => e.getBoundingClientRect()).flatMap((r, i, all) => i > 0 && r.top < all[i-1].bottom - 1 ? [String(i)] : [])`); len(overlap) > 0 {
		t.Errorf("on a phone widgets overlap the one before them (at %v)", overlap)
	}
	painted(ph, "w5") // the funnel draws its steps on a phone too
	ph.step("phone-board")
}
