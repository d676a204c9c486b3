package dashboards

import (
	"fmt"
	"slices"
)

// Pivot is a pivot widget's rows laid out as a grid: the first group-by's
// values down, the second's across, one measure in the cells. Totals are
// given when the measure adds up (count, sum); an average of averages
// would mislead.
type Pivot struct {
	Rows      []PivotKey `json:"rows"`
	Columns   []PivotKey `json:"columns"`
	Cells     [][]*Cell  `json:"cells"` // [row][column]; null where no record falls
	RowTotals []any      `json:"row_totals,omitempty"`
	ColTotals []any      `json:"column_totals,omitempty"`
	Total     any        `json:"total,omitempty"`
}

// PivotKey is a row or column heading: its key, how it reads, and the
// filter of its records.
type PivotKey struct {
	Key   any    `json:"key"`
	Label string `json:"label"`
	Drill string `json:"drill"`
}

// Cell is one measured pair of keys, with the filter of its records.
type Cell struct {
	Value any    `json:"value"`
	Drill string `json:"drill"`
}

// pivot lays res's rows out. Headings come in the order of the select
// field's options, or of their keys (time buckets in time order), unless
// the widget sorts by value: then rows keep the order the store gave.
func (pl *plan) pivot(res *Result) *Pivot {
	p := &Pivot{Rows: []PivotKey{}, Columns: []PivotKey{}, Cells: [][]*Cell{}}
	at := [2]map[string]int{{}, {}}
	heads := [2]*[]PivotKey{&p.Rows, &p.Columns}
	id := func(k any) string { return fmt.Sprintf("%T:%v", k, k) }
	for _, r := range res.Rows {
		for i := range 2 {
			if _, ok := at[i][id(r.Keys[i])]; !ok {
				at[i][id(r.Keys[i])] = len(*heads[i])
				drill := and(pl.base, pl.keyCond(i, r.Keys[i]))
				if r.Other && i == 0 {
					drill = and(pl.base, pl.keyNotIn(pl.topOf(res))) // the rest past the top N
				}
				*heads[i] = append(*heads[i], PivotKey{Key: r.Keys[i], Label: r.Labels[i], Drill: drill})
			}
		}
	}
	byValue := pl.order != nil && pl.order[0].Measure
	for i := range 2 {
		if i == 0 && (byValue || pl.w.Query.Limit > 0) {
			continue
		}
		keys := *heads[i]
		slices.SortStableFunc(keys, func(a, b PivotKey) int { return pl.compareKeys(i, a.Key, b.Key) })
		if i == 0 && pl.order != nil && pl.order[0].Desc {
			slices.Reverse(keys)
		}
		for j, k := range keys {
			at[i][id(k.Key)] = j
		}
	}
	for range p.Rows {
		p.Cells = append(p.Cells, make([]*Cell, len(p.Columns)))
	}
	for _, r := range res.Rows {
		p.Cells[at[0][id(r.Keys[0])]][at[1][id(r.Keys[1])]] = &Cell{Value: r.Value, Drill: r.Drill}
	}
	if pl.additive() {
		p.RowTotals, p.ColTotals = make([]any, len(p.Rows)), make([]any, len(p.Columns))
		var all float64
		cols := make([]float64, len(p.Columns))
		for i, row := range p.Cells {
			var sum float64
			for j, c := range row {
				if c == nil {
					continue
				}
				v, _ := toFloat(c.Value)
				sum += v
				cols[j] += v
			}
			p.RowTotals[i] = number(sum)
			all += sum
		}
		for j, v := range cols {
			p.ColTotals[j] = number(v)
		}
		p.Total = number(all)
	}
	return p
}

// topOf is the first keys of the rows not folded into Other.
func (pl *plan) topOf(res *Result) []any {
	var top []any
	seen := map[string]bool{}
	for _, r := range res.Rows {
		if k := fmt.Sprint(r.Keys[0]); !r.Other && !seen[k] {
			seen[k] = true
			top = append(top, r.Keys[0])
		}
	}
	return top
}

// compareKeys orders key i's values: null first, then a select field's
// options in their order, numbers by value, the rest (time buckets among
// them) as strings; Other last.
func (pl *plan) compareKeys(i int, a, b any) int {
	rank := func(k any) int {
		switch {
		case k == nil:
			return 0
		case k == "Other" && i == 0 && pl.w.Query.Limit > 0:
			return 2
		}
		return 1
	}
	if ra, rb := rank(a), rank(b); ra != rb || ra != 1 {
		return ra - rb
	}
	g := pl.w.Query.GroupBy[i]
	if f := pl.e.Field(g.Field); f != nil && g.Bucket == "" && len(f.Options) > 0 {
		ia, ib := len(f.Options), len(f.Options)
		for j, o := range f.Options {
			if o.Value == a {
				ia = j
			}
			if o.Value == b {
				ib = j
			}
		}
		if ia != ib {
			return ia - ib
		}
	}
	if x, ok := toFloat(a); ok {
		if y, ok := toFloat(b); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	sa, sb := fmt.Sprint(a), fmt.Sprint(b)
	switch {
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	}
	return 0
}
