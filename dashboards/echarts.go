package dashboards

import (
	"encoding/json"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// chartOption builds the widget's ECharts option with go-echarts' option
// types. Every data item carries its row's drill expression, so a click
// on a bar, slice, point or step opens the matching list. Record text
// only ever travels as JSON data; the app draws it on a canvas and its
// tooltips as rich text, never as HTML. KPI numbers, tables and pivots
// have no chart: the app shows their rows.
func chartOption(w *Widget, res *Result) map[string]any {
	var m map[string]any
	var drills [][]string
	tooltip := opts.Tooltip{Show: opts.Bool(true), Trigger: "item"}
	colors := opts.Colors(w.Colors)
	switch w.Type {
	case "bar", "stacked_bar", "grouped_bar", "line", "area":
		x, series, names := axisSeries(res)
		var c interface{ JSON() map[string]interface{} }
		legend := opts.Legend{Show: opts.Bool(len(series) > 1)}
		if w.Type == "line" || w.Type == "area" {
			l := charts.NewLine()
			l.SetGlobalOptions(charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}), charts.WithLegendOpts(legend))
			if len(colors) > 0 {
				l.SetGlobalOptions(charts.WithColorsOpts(colors))
			}
			l.SetXAxis(x)
			for i, s := range series {
				data := make([]opts.LineData, len(s))
				for j, p := range s {
					data[j] = opts.LineData{Name: x[j], Value: p.value}
				}
				so := []charts.SeriesOpts{}
				if w.Type == "area" {
					so = append(so, charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.3)}))
				}
				l.AddSeries(names[i], data, so...)
			}
			l.Validate()
			c = l
		} else {
			b := charts.NewBar()
			b.SetGlobalOptions(charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}), charts.WithLegendOpts(legend))
			if len(colors) > 0 {
				b.SetGlobalOptions(charts.WithColorsOpts(colors))
			}
			b.SetXAxis(x)
			for i, s := range series {
				data := make([]opts.BarData, len(s))
				for j, p := range s {
					data[j] = opts.BarData{Name: x[j], Value: p.value}
				}
				so := []charts.SeriesOpts{}
				if w.Type == "stacked_bar" {
					so = append(so, charts.WithBarChartOpts(opts.BarChart{Stack: "total"}))
				}
				b.AddSeries(names[i], data, so...)
			}
			b.Validate()
			c = b
		}
		m = roundTrip(c.JSON())
		for _, s := range series {
			d := make([]string, len(s))
			for j, p := range s {
				d[j] = p.drill
			}
			drills = append(drills, d)
		}
	case "pie", "donut":
		p := charts.NewPie()
		p.SetGlobalOptions(charts.WithTooltipOpts(tooltip), charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true)}))
		if len(colors) > 0 {
			p.SetGlobalOptions(charts.WithColorsOpts(colors))
		}
		data := make([]opts.PieData, len(res.Rows))
		d := make([]string, len(res.Rows))
		for i, r := range res.Rows {
			data[i], d[i] = opts.PieData{Name: r.Labels[0], Value: r.Value}, r.Drill
		}
		p.AddSeries(res.Measures[0], data)
		p.Validate()
		m = roundTrip(p.JSON())
		if w.Type == "donut" {
			series(m)[0]["radius"] = []any{"40%", "70%"}
		}
		drills = [][]string{d}
	case "funnel":
		f := charts.NewFunnel()
		f.SetGlobalOptions(charts.WithTooltipOpts(tooltip), charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true)}))
		if len(colors) > 0 {
			f.SetGlobalOptions(charts.WithColorsOpts(colors))
		}
		data := make([]opts.FunnelData, len(res.Rows))
		d := make([]string, len(res.Rows))
		for i, r := range res.Rows {
			data[i], d[i] = opts.FunnelData{Name: r.Labels[0], Value: r.Value}, r.Drill
		}
		f.AddSeries(res.Measures[0], data)
		f.Validate()
		m = roundTrip(f.JSON())
		fs := series(m)[0]
		fs["sort"] = "none" // the options' order, not by size
		// ECharts places a funnel 80 px in from each side and 60 from top
		// and bottom: in a narrow widget (two columns of a board, or a
		// preview beside the builder's panel) that leaves no width, and
		// only the legend and label lines draw. Margins
		// in proportion keep the steps in any box; the right one leaves
		// room for the labels outside, the bottom for the legend.
		fs["left"], fs["right"], fs["top"], fs["bottom"] = "4%", "22%", 8, 40
		drills = [][]string{d}
	case "gauge":
		g := charts.NewGauge()
		g.SetGlobalOptions(charts.WithTooltipOpts(tooltip))
		var v any
		if res.KPI != nil {
			v = res.KPI.Value
		}
		g.AddSeries(res.Measures[0], []opts.GaugeData{{Name: res.Measures[0], Value: v}})
		g.Validate()
		m = roundTrip(g.JSON())
		if w.Target != nil {
			series(m)[0]["max"] = *w.Target
		}
		drills = [][]string{{res.Drill}}
	default:
		return nil
	}
	for i, s := range series(m) {
		data, _ := s["data"].([]any)
		for j, item := range data {
			if obj, ok := item.(map[string]any); ok && i < len(drills) && j < len(drills[i]) {
				obj["drill"] = drills[i][j]
			}
		}
	}
	delete(m, "toolbox")
	return m
}

type point struct {
	value any
	drill string
}

// axisSeries lays the rows out on a category axis: the first key's
// labels in row order, one series per second key (or per measure, or the
// one measure), with nil where a series has no row for a category.
func axisSeries(res *Result) (x []string, series [][]point, names []string) {
	at := map[string]int{}
	for _, r := range res.Rows {
		if _, ok := at[r.Labels[0]]; !ok {
			at[r.Labels[0]] = len(x)
			x = append(x, r.Labels[0])
		}
	}
	switch {
	case len(res.GroupBy) > 1:
		idx := map[string]int{}
		for _, r := range res.Rows {
			name := r.Labels[1]
			i, ok := idx[name]
			if !ok {
				i = len(names)
				idx[name] = i
				names = append(names, name)
				series = append(series, make([]point, len(x)))
			}
			series[i][at[r.Labels[0]]] = point{r.Value, r.Drill}
		}
	case len(res.Measures) > 1:
		for m, name := range res.Measures {
			s := make([]point, len(x))
			for _, r := range res.Rows {
				s[at[r.Labels[0]]] = point{r.Values[m], r.Drill}
			}
			names, series = append(names, name), append(series, s)
		}
	default:
		s := make([]point, len(x))
		for _, r := range res.Rows {
			s[at[r.Labels[0]]] = point{r.Value, r.Drill}
		}
		names, series = []string{res.Measures[0]}, [][]point{s}
	}
	return x, series, names
}

func roundTrip(v map[string]interface{}) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{}
	}
	return m
}

func series(m map[string]any) []map[string]any {
	list, _ := m["series"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, s := range list {
		if obj, ok := s.(map[string]any); ok {
			out = append(out, obj)
		}
	}
	return out
}
