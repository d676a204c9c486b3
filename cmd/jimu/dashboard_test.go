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
// same board.
func TestDashboardBoard(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	j.call(t, admin, "POST", "/api/v1/users", map[string]any{"email": "rep@example.com", "name": "Rep", "password": "another long password",
		"roles": []string{"sales_rep"}}, 201)
	rep := j.token(t, "rep@example.com", "another long password")
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
		j.call(t, who, "POST", "/api/v1/records/deal", map[string]any{"name": name, "amount": amount,
			"stage": []string{"lead", "won"}[i%2], "close_date": fmt.Sprintf("%d-%02d-15", year, 1+i%12)}, 201)
	}
	b := newBrowser(t, 1440, 1400)
	b.signIn(j.base, adminEmail, adminPassword)
	id := buildBoard(t, j, b, admin)
	charts := []string{"w2", "w3", "w4", "w5"} // by stage, per month, share, funnel
	drawn := func(b *browser) {
		b.t.Helper()
		var conds []string
		for _, w := range charts {
			conds = append(conds, fmt.Sprintf(`document.querySelector('[data-widget=%s] canvas')`, w))
		}
		conds = append(conds, `document.querySelector('[data-widget=count] [data-test=kpi-value]')`, `document.querySelector('[data-widget=w6] table')`)
		b.run(waitJS(strings.Join(conds, " && ")))
		if n := eval[int](b, `document.querySelectorAll('[data-test=widget-error]').length`); n != 0 {
			b.t.Errorf("%d widgets failed", n)
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
	// The line keeps the colour chosen in the builder.
	if !eval[bool](b, `(() => {
	  const c = document.querySelector('[data-widget=w3] canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	  for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 238) < 8 && Math.abs(d[i+1] - 102) < 8 && Math.abs(d[i+2] - 102) < 8) return true;
	  return false;
	})()`) {
		t.Error("the line is not drawn in the colour chosen for it (#ee6666)")
	}
	b.step("board")

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

	// A Sales Rep on the same board sees their own numbers.
	r := newBrowser(t, 1280, 1400)
	r.signIn(j.base, "rep@example.com", "another long password")
	r.run(nav(j.base + "/dashboards/" + id))
	drawn(r)
	if mine, all := kpi(rep, ""), kpi(admin, ""); mine == all {
		t.Fatalf("the rep's count %s equals the admin's", mine)
	}
	r.run(waitText(`[data-widget=count] [data-test=kpi-value]`, kpi(rep, "")))
	r.step("rep-board")
}
