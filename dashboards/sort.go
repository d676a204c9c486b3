package dashboards

import (
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/engine/store"
)

// order reads a widget's sort: key or value (the first measure), or
// value.N (measure N, counted from 0, so a widget of several measures
// sorts by any of them), each descending with a leading "-". "" is the
// store's own order (by key).
func order(sort string, measures int) ([]store.AggregateOrder, error) {
	if sort == "" {
		return nil, nil
	}
	desc := strings.HasPrefix(sort, "-")
	word, index, dotted := strings.Cut(strings.TrimPrefix(sort, "-"), ".")
	o := store.AggregateOrder{Desc: desc}
	switch word {
	case "key":
		if dotted {
			return nil, fmt.Errorf("sort %q: a widget sorts by its first key", sort)
		}
	case "value":
		o.Measure = true
		if dotted {
			// One digit, as the schema says: a widget has at most ten measures.
			if len(index) != 1 || index[0] < '0' || index[0] > '9' {
				return nil, fmt.Errorf("sort %q: value.N names measure N, from 0 to 9", sort)
			}
			o.Index = int(index[0] - '0')
		}
		if o.Index >= measures {
			return nil, fmt.Errorf("sort %q: the widget has %d measures", sort, measures)
		}
	default:
		return nil, fmt.Errorf("sort %q: key, -key, value, -value or value.N", sort)
	}
	return []store.AggregateOrder{o}, nil
}
