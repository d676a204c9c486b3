package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/engine/store"
)

func (s *Store) Aggregate(ctx context.Context, entity string, q store.AggregateQuery) ([]store.AggregateRow, error) {
	var b sqlBuilder
	where, err := b.cond(q.Filter)
	if err != nil {
		return nil, err
	}
	var sel, group []string
	for _, g := range q.GroupBy {
		name, bucket, _ := strings.Cut(g, ":")
		col, err := column(name)
		if err != nil {
			return nil, err
		}
		switch bucket {
		case "":
		case "year":
			col = "substr(" + col + ", 1, 4)"
		case "month":
			col = "substr(" + col + ", 1, 7)"
		case "day":
			col = "substr(" + col + ", 1, 10)"
		default:
			return nil, fmt.Errorf("unknown date bucket %q", bucket)
		}
		sel = append(sel, col)
		group = append(group, col)
	}
	var sums []int // sel indexes of sum()s, and their columns
	var sumCols []string
	for _, m := range q.Measures {
		col := "1"
		if m.Op != "count" {
			c, err := column(m.Field)
			if err != nil {
				return nil, err
			}
			col = c
		}
		switch m.Op {
		case "count":
			sel = append(sel, "count(*)")
		case "sum":
			sums = append(sums, len(sel))
			sel = append(sel, "sum("+col+")")
			sumCols = append(sumCols, col)
		case "avg", "min", "max":
			sel = append(sel, m.Op+"("+col+")")
		case "count_distinct":
			sel = append(sel, "count(DISTINCT "+col+")")
		default:
			return nil, fmt.Errorf("unknown measure %q", m.Op)
		}
	}
	tail := ` FROM ` + recTable(entity) + ` WHERE ` + where
	if len(group) > 0 {
		tail += ` GROUP BY ` + strings.Join(group, ", ") + ` ORDER BY ` + strings.Join(group, ", ")
	}
	if q.Limit > 0 {
		tail += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	out, err := s.aggregateRows(ctx, `SELECT `+strings.Join(sel, ", ")+tail, b.args, len(q.GroupBy), len(q.Measures))
	if err != nil && len(sums) > 0 && strings.Contains(err.Error(), "integer overflow") {
		// sum() of integers fails past int64; the sum is then a float,
		// as MongoDB makes it (total() never overflows; it is 0.0 over
		// no values where sum() is NULL).
		for i, at := range sums {
			sel[at] = "CASE WHEN count(" + sumCols[i] + ") = 0 THEN NULL ELSE total(" + sumCols[i] + ") END"
		}
		out, err = s.aggregateRows(ctx, `SELECT `+strings.Join(sel, ", ")+tail, b.args, len(q.GroupBy), len(q.Measures))
	}
	if err != nil {
		return nil, mapErr(entity, err)
	}
	return out, nil
}

func (s *Store) aggregateRows(ctx context.Context, query string, args []any, nkeys, nmeasures int) ([]store.AggregateRow, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AggregateRow
	n := nkeys + nmeasures
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, store.AggregateRow{Keys: vals[:nkeys], Values: vals[nkeys:]})
	}
	return out, rows.Err()
}
