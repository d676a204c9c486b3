package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// buildBoard builds the Pipeline board in the app as a person does: a new
// dashboard (its first widget a KPI), the board's time zone, sharing and
// filters, five more widgets chosen in the side panel — each preview drawn
// as it changes, a widget that cannot be computed showing its own error
// while the others draw — one widget moved and one resized by drag, a
// series colour, then saved as version 2. It returns the dashboard's id
// and checks the saved document holds what the builder showed.
func buildBoard(t *testing.T, j *jimu, b *browser, admin string) string {
	t.Helper()
	b.run(click(`[data-test=nav-dashboards]`), typeInto(`[data-test=new-name]`, "Pipeline"), choose(`[data-test=new-entity]`, "deal"),
		click(`[data-test=create-dashboard]`), visible(`[data-test=builder-grid]`),
		waitJS(`document.querySelector('[data-widget=count] [data-test=kpi-value]')`))
	id := eval[string](b, `location.pathname.split('/')[2]`)

	b.run(typeInto(`[data-test=dash-timezone]`, "Asia/Shanghai"), choose(`[data-test=dash-sharing]`, "everyone"),
		click(`[data-test=add-date-filter]`), waitJS(`document.querySelector('[data-filter-row="0"] [data-test=filter-field]')?.value === 'close_date'`),
		click(`[data-test=add-owner-filter]`), visible(`[data-filter-row="1"]`))
	// The KPI's target.
	b.run(click(`[data-select=count]`), typeInto(`[data-builder=count] [data-test=target]`, "30"),
		waitText(`[data-widget=count]`, "target 30"))

	panel := func(wid, sel string) string { return `[data-builder=` + wid + `] [data-test=` + sel + `]` }
	add := func(wid, title, typ string) {
		t.Helper()
		b.run(click(`[data-test=add-widget]`), visible(`[data-builder=`+wid+`]`), visible(`[data-widget=`+wid+`]`),
			typeInto(panel(wid, "title"), title), choose(panel(wid, "type"), typ))
	}
	canvas := func(wid string) Action { return waitJS(`document.querySelector('[data-widget=` + wid + `] canvas')`) }

	add("w2", "Deals by stage", "bar")
	// A bar needs a grouping: until it has one, its preview says so and
	// the KPI beside it still shows its number.
	b.run(waitJS(`document.querySelector('[data-widget=w2] [data-test=widget-error]')`),
		waitJS(`document.querySelector('[data-widget=count] [data-test=kpi-value]')`),
		choose(panel("w2", "group-0"), "stage"), canvas("w2"))
	b.step("builder-bar")
	// Drag it beside the KPI.
	before := place(b, "w2")
	col := eval[float64](b, `document.querySelector('[data-test=builder-grid]').getBoundingClientRect().width / 12`)
	b.run(dragBy(`[data-wid=w2] [data-test=drag-handle]`, 4*col+col/2, -4*60-10))
	after := place(b, "w2")
	if after == before || after[0] == 0 {
		t.Errorf("dragging the bar left it at %v (it was at %v)", after, before)
	}

	add("w3", "Amount per month", "line")
	b.run(choose(panel("w3", "group-0"), "close_date"), choose(panel("w3", "bucket-0"), "month"),
		choose(panel("w3", "op"), "sum"),
		// A sum of nothing cannot be computed: this widget's own error,
		// while the bar still draws.
		waitJS(`document.querySelector('[data-widget=w3] [data-test=widget-error]')`), canvas("w2"),
		choose(panel("w3", "measure-field"), "amount"), canvas("w3"),
		click(panel("w3", "add-color")), choose(`[data-builder=w3] [data-color="0"]`, "#ee6666"))
	// Widen it by dragging its corner.
	w0 := place(b, "w3")
	b.run(dragBy(`[data-wid=w3] .ui-resizable-se`, 2*col, 0))
	w1 := place(b, "w3")
	if w1[2] <= w0[2] {
		t.Errorf("resizing the line left it %d columns wide (it was %d)", w1[2], w0[2])
	}

	add("w4", "By owner", "donut")
	b.run(choose(panel("w4", "group-0"), "owner"), canvas("w4"))
	add("w5", "Funnel", "funnel")
	b.run(choose(panel("w5", "group-0"), "stage"), canvas("w5"))
	// The funnel's preview draws its steps, not only its legend, also
	// narrowed to two columns (with ECharts' fixed 80 px margins a funnel
	// that narrow drew its legend alone: the board checks it too).
	painted(b, "w5")
	b.run(dragBy(`[data-wid=w5] .ui-resizable-se`, -4*col, 0))
	if w := place(b, "w5"); w[2] != 2 {
		t.Fatalf("narrowing the funnel left it %d columns wide", w[2])
	}
	painted(b, "w5")
	b.step("builder-narrow-funnel")
	add("w6", "Top deals", "table")
	b.run(choose(panel("w6", "group-0"), "name"), choose(panel("w6", "op"), "sum"), choose(panel("w6", "measure-field"), "amount"),
		choose(panel("w6", "sort"), "-value"), typeInto(panel("w6", "limit"), "5"),
		waitJS(`document.querySelectorAll('[data-widget=w6] tbody tr').length === 6`)) // five and Other
	add("w7", "Distinct notes", "kpi")
	b.run(choose(panel("w7", "op"), "count_distinct"), choose(panel("w7", "measure-field"), "notes"),
		waitText(`[data-widget=w7] [data-test=kpi-value]`, "5"))
	add("w8", "Owners by stage", "pivot")
	b.run(choose(panel("w8", "group-0"), "owner"), choose(panel("w8", "group-1"), "stage"),
		waitJS(`document.querySelector('[data-widget=w8] [data-test=pivot]')`))
	// A widget added by mistake, removed: it leaves the grid and the board.
	add("w9", "Mistake", "bar")
	b.run(click(`[data-wid=w9] [data-test=remove-widget]`), gone(`[data-wid=w9]`), gone(`[data-builder=w9]`))
	noXSS(b, "the builder")
	b.step("builder")

	b.run(click(`[data-test=save-dashboard]`), waitText(`[data-test=saved]`, "version 2"))
	d := j.call(t, admin, "GET", "/api/v1/dashboards/"+id, nil, 200)
	if d["timezone"] != "Asia/Shanghai" || d["sharing"] != "everyone" || len(d["filters"].([]any)) != 2 {
		t.Errorf("saved board: timezone %v, sharing %v, filters %v", d["timezone"], d["sharing"], d["filters"])
	}
	got := map[string]map[string]any{}
	for _, w := range d["widgets"].([]any) {
		w := w.(map[string]any)
		got[w["id"].(string)] = w
	}
	if got["w9"] != nil || len(got) != 8 {
		t.Errorf("saved widgets %v, want the eight kept", got)
	}
	for wid, typ := range map[string]string{"count": "kpi", "w2": "bar", "w3": "line", "w4": "donut", "w5": "funnel", "w6": "table", "w7": "kpi", "w8": "pivot"} {
		if got[wid] == nil || got[wid]["type"] != typ {
			t.Errorf("saved widget %s: %v, want a %s", wid, got[wid], typ)
		}
	}
	layout := func(wid string) [4]int {
		l, _ := got[wid]["layout"].(map[string]any)
		return [4]int{num(l["x"]), num(l["y"]), num(l["w"]), num(l["h"])}
	}
	if layout("w2") != after || layout("w3") != w1 {
		t.Errorf("saved layouts %v and %v, the builder showed %v and %v", layout("w2"), layout("w3"), after, w1)
	}
	if c := fmt.Sprint(got["w3"]["colors"]); c != "[#ee6666]" {
		t.Errorf("saved colours of w3: %s", c)
	}
	if got["count"]["target"] != 30.0 {
		t.Errorf("saved target: %v", got["count"]["target"])
	}
	b.run(click(`[data-test=done]`), waitJS(`location.pathname === '/dashboards/`+id+`'`))
	return id
}

func num(v any) int { f, _ := v.(float64); return int(f) }

// place is where the builder's grid shows a widget: x, y, w, h.
func place(b *browser, wid string) [4]int {
	b.t.Helper()
	v := eval[[]int](b, `(el => ['gs-x', 'gs-y', 'gs-w', 'gs-h'].map(a => +(el.getAttribute(a) || 0)))(document.querySelector('[data-wid=`+wid+`]'))`)
	return [4]int{v[0], v[1], v[2], v[3]}
}

// dragBy presses on the element at sel and moves the mouse by dx, dy in
// steps, as a hand does, before letting go.
func dragBy(sel string, dx, dy float64) Action {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		xy, err := chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => { const a = document.querySelector(%q); if (!a) return [];
		  a.scrollIntoView({block: 'center'}); const r = a.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2] })()`, sel))(ctx, t)
		if err != nil {
			return err
		}
		if len(xy) != 2 {
			return fmt.Errorf("dragging %s: not on the page", sel)
		}
		steps := []Action{chromedp.MouseEvent(chromedp.MousePressed, xy[0], xy[1], chromedp.ButtonLeft, chromedp.ClickCount(1))}
		for i := 1; i <= 10; i++ {
			steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, xy[0]+dx*float64(i)/10, xy[1]+dy*float64(i)/10, chromedp.ButtonLeft))
		}
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, xy[0]+dx, xy[1]+dy, chromedp.ButtonLeft, chromedp.ClickCount(1)))
		return chromedp.Do(ctx, steps...)
	})
}
