package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// painted waits until the widget's canvas has drawn over most of the
// middle of its box (the central half each way, away from the legend and
// the labels) and answers the share of it drawn: a chart that drew only
// its legend leaves it blank, a funnel squeezed between fixed margins
// leaves most of it so.
func painted(b *browser, wid string) float64 {
	b.t.Helper()
	js := `(() => {
	  const c = document.querySelector('[data-widget=` + wid + `] canvas');
	  if (!c || !c.width || !c.height) return 0;
	  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	  let n = 0, all = 0;
	  for (let y = Math.floor(c.height * 0.25); y < c.height * 0.75; y++) for (let x = Math.floor(c.width * 0.25); x < c.width * 0.75; x++) {
	    const i = (y * c.width + x) * 4;
	    all++;
	    if (d[i+3] > 0 && (d[i] < 230 || d[i+1] < 230 || d[i+2] < 230)) n++;
	  }
	  return n / all;
	})()`
	// ECharts animates on the canvas, which no DOM change announces (as
	// waitJS waits for): look again each frame until the plot fills in.
	wait := `new Promise(resolve => { const look = () => { const n = ` + js + `; if (n > 0.4) resolve(n); else requestAnimationFrame(look); }; look(); })`
	var n float64
	b.run(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		v, err := chromedp.Evaluate[float64](wait, chromedp.EvalAwaitPromise)(ctx, t)
		n = v
		return err
	}))
	return n
}

// buildRichWidget adds to the board, in the builder, a table with its own
// time zone (hours in Asia/Kolkata, while the board is in Shanghai), two
// measures (count and sum of the amount), a second group-by and the top
// stage by the sum with the rest folded into Other; saves; reloads the
// builder; and checks the table shows the API's rows, whose hours are the
// records' creation times in Kolkata. It also checks errors read in the
// person's language.
func buildRichWidget(t *testing.T, j *jimu, b *browser, admin, id string) {
	t.Helper()
	b.run(nav(j.base+"/dashboards/"+id+"/edit"), visible(`[data-test=builder-grid]`))
	b.run(click(`[data-test=add-widget]`), waitJS(`document.querySelectorAll('[data-test=builder-grid] [data-wid]').length === 9`))
	wid := eval[string](b, `document.querySelector('aside[data-builder]').dataset.builder`)
	panel := func(sel string) string { return `[data-builder=` + wid + `] [data-test=` + sel + `]` }
	b.run(
		typeInto(panel("title"), "Stages by hour"), choose(panel("type"), "table"),
		choose(panel("group-0"), "stage"), choose(panel("group-1"), "created_at"), choose(panel("bucket-1"), "hour"),
		choose(panel("widget-timezone"), "Asia/Kolkata"))
	// Sums are offered on numbers only, min and max on numbers and dates.
	b.run(click(panel("add-measure")), visible(`[data-builder=`+wid+`] [data-measure="1"]`))
	fieldsOf := func(i int, op string) []string {
		sel := fmt.Sprintf(`[data-builder=`+wid+`] [data-measure="%d"]`, i)
		b.run(choose(sel+` [data-test=op]`, op))
		return eval[[]string](b, `[...document.querySelectorAll('`+sel+` [data-test=measure-field] option')].map(o => o.value).filter(Boolean)`)
	}
	if got := fmt.Sprint(fieldsOf(1, "sum")); got != "[amount]" {
		t.Errorf("a sum offers %s, want the number fields alone", got)
	}
	if got := fmt.Sprint(fieldsOf(1, "max")); got != "[amount close_date created_at updated_at]" {
		t.Errorf("a max offers %s, want the numbers and dates", got)
	}
	b.run(choose(`[data-builder=`+wid+`] [data-measure="1"] [data-test=op]`, "sum"), choose(`[data-builder=`+wid+`] [data-measure="1"] [data-test=measure-field]`, "amount"),
		choose(panel("sort"), "-value.1"), typeInto(panel("limit"), "1"),
		waitJS(`document.querySelector('[data-widget=`+wid+`] tbody tr')`))
	b.step("builder-rich-widget")
	b.run(click(`[data-test=save-dashboard]`), waitText(`[data-test=saved]`, "version 3"))

	// What was saved is what the builder showed.
	d := j.call(t, admin, "GET", "/api/v1/dashboards/"+id, nil, 200)
	var w map[string]any
	for _, x := range d["widgets"].([]any) {
		if x.(map[string]any)["id"] == wid {
			w = x.(map[string]any)
		}
	}
	q, _ := w["query"].(map[string]any)
	if q == nil || q["timezone"] != "Asia/Kolkata" || q["sort"] != "-value.1" || q["limit"] != 1.0 ||
		fmt.Sprint(q["measures"]) != "[map[op:count] map[field:amount op:sum]]" || fmt.Sprint(q["group_by"]) != "[map[field:stage] map[bucket:hour field:created_at]]" {
		t.Fatalf("saved %s: %v", wid, w)
	}

	// Reloaded, the builder shows the API's rows.
	b.run(nav(j.base+"/dashboards/"+id+"/edit"), waitJS(`document.querySelector('[data-widget=`+wid+`] tbody tr')`),
		waitJS(`document.querySelector('[data-widget=w5] canvas')`))
	painted(b, "w5") // the funnel, placed by the grid as the builder opens
	data := j.call(t, admin, "GET", "/api/v1/dashboards/"+id+"/widgets/"+wid+"/data", nil, 200)
	var want []string
	for _, r := range data["rows"].([]any) {
		r := r.(map[string]any)
		cells := []string{}
		for _, l := range r["labels"].([]any) {
			cells = append(cells, fmt.Sprint(l))
		}
		for _, v := range r["values"].([]any) {
			cells = append(cells, fmt.Sprint(v))
		}
		want = append(want, strings.Join(cells, "|"))
	}
	got := eval[[]string](b, `[...document.querySelectorAll('[data-widget=`+wid+`] tbody tr')].map(tr => [...tr.cells].map(c => c.innerText.replace(/,/g, '')).join('|'))`)
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) < 2 {
		t.Errorf("the table shows %q, the API answers %q", got, want)
	}
	if !strings.HasPrefix(want[len(want)-1], "Other|") {
		t.Errorf("no Other past the top stage: %q", want)
	}
	// The hours are the deals' creation times in Kolkata, not in the
	// board's Shanghai nor in UTC.
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	hours := map[string]bool{}
	for _, it := range j.call(t, admin, "GET", "/api/v1/records/deal?limit=100", nil, 200)["items"].([]any) {
		at, err := time.Parse(time.RFC3339Nano, it.(map[string]any)["created_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		hours[at.In(kolkata).Format("2006-01-02T15")] = true
	}
	shown := map[string]bool{}
	for _, r := range data["rows"].([]any) {
		shown[fmt.Sprint(r.(map[string]any)["keys"].([]any)[1])] = true
	}
	if fmt.Sprint(sortedKeys(shown)) != fmt.Sprint(sortedKeys(hours)) {
		t.Errorf("the widget's hours %v, the deals were created at %v in Kolkata", sortedKeys(shown), sortedKeys(hours))
	}
	// Headings name the fields and measures as a person reads them.
	if got := eval[string](b, `[...document.querySelectorAll('[data-widget=`+wid+`] thead th')].map(th => th.innerText).join('|')`); got != "stage|Created · Hour|Count of records|Sum · amount" {
		t.Errorf("the table's headings read %q", got)
	}
	b.step("builder-reloaded")

	// In Chinese, the builder's errors are in Chinese: a widget with an
	// unknown zone, and one whose chart cannot show a second measure.
	b.run(click(`[data-select=`+wid+`]`), choose(`[data-test=language]`, "zh-CN"),
		choose(panel("widget-timezone"), "Mars/Olympus"),
		waitText(`[data-widget=`+wid+`] [data-test=widget-error]`, "未知时区“Mars/Olympus”"))
	b.run(choose(panel("type"), "grouped_bar"), choose(panel("widget-timezone"), ""),
		waitText(`[data-widget=`+wid+`] [data-test=widget-error]`, "只显示一个度量"))
	b.run(click(`[data-test=save-dashboard]`), waitText(`[data-test=save-errors]`, "组件 "+wid+"：有两个分组的分组柱状图只显示一个度量"))
	b.step("builder-errors-zh")
	// Back in English for the rest of the journey (the browser keeps the
	// choice, the server too: set it there for certain).
	b.run(choose(`[data-test=language]`, "en"))
	j.call(t, admin, "PATCH", "/api/v1/auth/me", map[string]any{"locale": "en"}, 200)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
