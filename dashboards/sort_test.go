package dashboards

import (
	"regexp"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
)

func TestOrder(t *testing.T) {
	for _, c := range []struct {
		sort string
		n    int
		want *store.AggregateOrder // nil: refused
	}{
		{"key", 1, &store.AggregateOrder{}},
		{"-key", 1, &store.AggregateOrder{Desc: true}},
		{"value", 1, &store.AggregateOrder{Measure: true}},
		{"-value.1", 2, &store.AggregateOrder{Measure: true, Index: 1, Desc: true}},
		{"value.1", 1, nil}, // no second measure
		{"value.01", 2, nil},
		{"value.", 2, nil},
		{"key.1", 2, nil},
		{"--value", 1, nil},
		{"size", 1, nil},
	} {
		got, err := order(c.sort, c.n)
		switch {
		case c.want == nil && err == nil:
			t.Errorf("%q of %d measures: %v, want refused", c.sort, c.n, got)
		case c.want != nil && (err != nil || len(got) != 1 || got[0] != *c.want):
			t.Errorf("%q of %d measures: %v %v, want %v", c.sort, c.n, got, err, *c.want)
		}
	}
}

// schemaSort is the dashboard schema's pattern for a widget's sort.
var schemaSort = regexp.MustCompile(`^-?(key|value(\.[0-9])?)$`)

// FuzzOrder: a sort is read as the schema admits it (at most ten
// measures), never names a measure the widget lacks, and never panics.
func FuzzOrder(f *testing.F) {
	for _, s := range []string{"key", "-key", "value", "-value", "value.3", "-value.9", "value.10", "value.", "-", ""} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, sort string, n int) {
		n = ((n % 11) + 11) % 11
		got, err := order(sort, n)
		if all, errAll := order(sort, 10); sort != "" && (errAll == nil) != schemaSort.MatchString(sort) {
			t.Fatalf("%q: read %v %v, the schema says %v", sort, all, errAll, schemaSort.MatchString(sort))
		}
		if err == nil && len(got) == 1 && got[0].Measure && got[0].Index >= n {
			t.Fatalf("%q of %d measures: names measure %d", sort, n, got[0].Index)
		}
	})
}
