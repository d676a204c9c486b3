package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/engine/store"
)

func (s *Store) Aggregate(ctx context.Context, entity string, q store.AggregateQuery) ([]store.AggregateRow, error) {
	l, err := s.layoutOf(ctx, entity)
	if err != nil {
		return nil, err
	}
	b := sqlBuilder{l: l}
	where, err := b.cond(q.Filter)
	if err != nil {
		return nil, err
	}
	var sel, group []string
	for _, g := range q.GroupBy {
		name, bucket, _ := strings.Cut(g, ":")
		col, err := b.column(name)
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
	for _, m := range q.Measures {
		col := "1"
		if m.Op != "count" {
			c, err := b.column(m.Field)
			if err != nil {
				return nil, err
			}
			col = c
		}
		switch m.Op {
		case "count":
			sel = append(sel, "count(*)")
		case "sum", "avg", "min", "max":
			sel = append(sel, m.Op+"("+col+")")
		case "count_distinct":
			sel = append(sel, "count(DISTINCT "+col+")")
		default:
			return nil, fmt.Errorf("unknown measure %q", m.Op)
		}
	}
	query := `SELECT ` + strings.Join(sel, ", ") + ` FROM ` + recTable(entity) + ` WHERE ` + where
	if len(group) > 0 {
		query += ` GROUP BY ` + strings.Join(group, ", ") + ` ORDER BY ` + strings.Join(group, ", ")
	}
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, b.args...)
	if err != nil {
		return nil, mapErr(entity, err)
	}
	defer rows.Close()
	var out []store.AggregateRow
	n := len(q.GroupBy) + len(q.Measures)
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
		out = append(out, store.AggregateRow{Keys: vals[:len(q.GroupBy)], Values: vals[len(q.GroupBy):]})
	}
	return out, rows.Err()
}
