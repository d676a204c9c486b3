package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// row is a record's data as column values in its layout's order, the
// extra JSON last.
type row struct {
	l    *layout
	vals []any
}

// encodeRecord turns r's data into column values. A key with no column
// goes to the extra JSON; a value that does not fit its column is refused
// (the engine validated it against the field's type, so this means a
// caller bypassed it).
func encodeRecord(l *layout, r *store.Record) (row, error) {
	vals := make([]any, len(l.cols)+1)
	var extra map[string]any
	for k, v := range r.Data {
		i, ok := l.byField[k]
		if !ok {
			if v != nil {
				if extra == nil {
					extra = map[string]any{}
				}
				extra[k] = v
			}
			continue
		}
		ev, ok := encode(l.cols[i].fam, v)
		if !ok {
			return row{}, fmt.Errorf("sqlite: %s.%s: a %s column cannot hold %T %v", l.entity, k, l.cols[i].fam, v, v)
		}
		vals[i] = ev
	}
	if extra != nil {
		b, err := json.Marshal(extra)
		if err != nil {
			return row{}, fmt.Errorf("sqlite: %s: %w", l.entity, err)
		}
		vals[len(l.cols)] = string(b)
	}
	return row{l: l, vals: vals}, nil
}

// current re-encodes the row if the entity's layout changed between the
// call and the writer running it (a field added or purged meanwhile).
func (s *Store) current(ctx context.Context, rw row, r *store.Record) (row, error) {
	l, err := s.layoutOf(ctx, rw.l.entity)
	if err != nil || l == rw.l {
		return rw, err
	}
	return encodeRecord(l, r)
}

func insertSQL(l *layout) string {
	return `INSERT INTO ` + recTable(l.entity) + ` (` + l.sel + `) VALUES (?,?,?,?,?,?,?` + strings.Repeat(",?", len(l.cols)+1) + `)`
}

func updateSQL(l *layout) string {
	var sb strings.Builder
	sb.WriteString(`UPDATE ` + recTable(l.entity) + ` SET version = ?, updated_at = ?, updated_by = ?, owner = ?`)
	for _, c := range l.cols {
		sb.WriteString(", " + colName(c.field) + " = ?")
	}
	sb.WriteString(", " + extraCol + " = ? WHERE id = ? AND version = ?")
	return sb.String()
}

// A write is encoded before it reaches the single writer (the caller's
// time, not the writer's), then run in a write transaction: on its own
// (Insert, Update, Delete) or inside a unit of work (Atomic). It runs
// with the entity's columns as the writer finds them (current).
type write func(ctx context.Context, tx *wtx) error

// single runs one prepared write in a transaction of the writer, then
// lets the entity's kept aggregates go (after the commit: see aggCache).
func (s *Store) single(ctx context.Context, entity string, w write, err error) error {
	if err != nil {
		return err
	}
	defer s.aggs.wrote(entity)
	return s.tx(ctx, func(tx *wtx) error { return w(ctx, tx) })
}

func (s *Store) Insert(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	w, err := s.prepareInsert(ctx, entity, r, sd)
	return s.single(ctx, entity, w, err)
}

func (s *Store) prepareInsert(ctx context.Context, entity string, r *store.Record, sd store.Sides) (write, error) {
	l, err := s.layoutOf(ctx, entity)
	if err != nil {
		return nil, err
	}
	rw, err := encodeRecord(l, r)
	if err != nil {
		return nil, err
	}
	es, err := encodeSides(sd)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *wtx) error {
		rw, err := s.current(ctx, rw, r)
		if err != nil {
			return err
		}
		args := append([]any{idArg(r.ID), r.Version, ts(r.CreatedAt), ts(r.UpdatedAt), idArg(r.CreatedBy), idArg(r.UpdatedBy), idArg(r.Owner)}, rw.vals...)
		if _, err := tx.ExecContext(ctx, rw.l.insert, args...); err != nil {
			return mapErr(entity, err)
		}
		return writeSides(ctx, tx, es)
	}, nil
}

func (s *Store) Get(ctx context.Context, entity, id string) (*store.Record, error) {
	return s.getRecord(ctx, readers{s}, entity, id)
}

// rowQuerier is the readers' pool or a write transaction.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (s *Store) getRecord(ctx context.Context, db rowQuerier, entity, id string) (*store.Record, error) {
	l, err := s.layoutOf(ctx, entity)
	if err != nil {
		return nil, err
	}
	row := db.QueryRowContext(ctx, `SELECT `+l.sel+` FROM `+recTable(entity)+` WHERE id = ?`, idArg(id))
	r, err := scanRecord(l, l.cols, true, row)
	if err != nil {
		return nil, mapErr(entity, err)
	}
	return r, nil
}

func (s *Store) Update(ctx context.Context, entity string, r *store.Record, sd store.Sides) error {
	w, err := s.prepareUpdate(ctx, entity, r, sd)
	return s.single(ctx, entity, w, err)
}

func (s *Store) prepareUpdate(ctx context.Context, entity string, r *store.Record, sd store.Sides) (write, error) {
	l, err := s.layoutOf(ctx, entity)
	if err != nil {
		return nil, err
	}
	rw, err := encodeRecord(l, r)
	if err != nil {
		return nil, err
	}
	es, err := encodeSides(sd)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *wtx) error {
		rw, err := s.current(ctx, rw, r)
		if err != nil {
			return err
		}
		q, args := updateOf(rw, r)
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return mapErr(entity, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return missingOrConflict(ctx, tx, entity, r.ID)
		}
		return writeSides(ctx, tx, es)
	}, nil
}

// storedRow is a record's row as scanRecord read it (Record.Stored).
type storedRow struct {
	l       *layout
	version int64
	owner   idCol
	vals    []any // the field columns, then extra
}

// updateOf is the UPDATE of r. When r was read at the version before
// (Record.Stored) with the columns it now has, its SET names only the
// columns whose stored value changes: SQLite rewrites the entries of every
// index on a column an UPDATE's SET names, changed or not (`SET o = o,
// x = x + 1` over 200,000 rows with an index on o took 0.41 s in the
// sqlite3 CLI, `SET x = x + 1` 0.15 s), and a deal at a million records
// has nine indexes while a PATCH changes a field or two. The WHERE's
// version is what makes the stored row the one read.
func updateOf(rw row, r *store.Record) (string, []any) {
	l := rw.l
	head := []any{r.Version, ts(r.UpdatedAt), idArg(r.UpdatedBy)}
	st, ok := r.Stored.(*storedRow)
	if !ok || st.l != l || st.version != r.Version-1 {
		args := append(append(head, idArg(r.Owner)), rw.vals...)
		return l.update, append(args, idArg(r.ID), r.Version-1)
	}
	var sb strings.Builder
	sb.WriteString(`UPDATE ` + recTable(l.entity) + ` SET version = ?, updated_at = ?, updated_by = ?`)
	args := head
	if !st.owner.valid || st.owner.s != r.Owner {
		sb.WriteString(", owner = ?")
		args = append(args, idArg(r.Owner))
	}
	for i, v := range rw.vals {
		if sameStored(st.vals[i], v) {
			continue
		}
		name := extraCol
		if i < len(l.cols) {
			name = colName(l.cols[i].field)
		}
		sb.WriteString(", " + name + " = ?")
		args = append(args, v)
	}
	sb.WriteString(` WHERE id = ? AND version = ?`)
	return sb.String(), append(args, idArg(r.ID), r.Version-1)
}

// sameStored is whether a value read back from a column is the one an
// update would write: the same type and the same value (bit for bit, for
// reals). Anything else counts as changed, which only costs a rewrite.
func sameStored(was, now any) bool {
	switch x := was.(type) {
	case nil:
		return now == nil
	case string:
		y, ok := now.(string)
		return ok && x == y
	case int64:
		y, ok := now.(int64)
		return ok && x == y
	case float64:
		y, ok := now.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case []byte:
		y, ok := now.([]byte)
		return ok && bytes.Equal(x, y)
	}
	return false
}

func missingOrConflict(ctx context.Context, tx *wtx, entity, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM `+recTable(entity)+` WHERE id = ?`, idArg(id)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %s: %w", entity, id, store.ErrNotFound)
	}
	if err != nil {
		return mapErr(entity, err)
	}
	return fmt.Errorf("%s %s: %w", entity, id, store.ErrConflict)
}

func (s *Store) Delete(ctx context.Context, entity, id string, version int64, sd store.Sides) error {
	w, err := s.prepareDelete(ctx, entity, id, version, sd)
	return s.single(ctx, entity, w, err)
}

func (s *Store) prepareDelete(ctx context.Context, entity, id string, version int64, sd store.Sides) (write, error) {
	if _, err := s.layoutOf(ctx, entity); err != nil {
		return nil, err
	}
	es, err := encodeSides(sd)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx *wtx) error {
		l, err := s.layoutOf(ctx, entity)
		if err != nil {
			return err
		}
		actor := ""
		if sd.Audit != nil {
			actor = sd.Audit.Actor
		}
		cond := `id = ?`
		args := []any{ts(time.Now()), actor, idArg(id)}
		if version > 0 {
			cond += ` AND version = ?`
			args = append(args, version)
		}
		// The trash has the same columns as the records (EnsureEntity
		// keeps them in step).
		res, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO `+trashTable(entity)+` (`+l.sel+`, deleted_at, deleted_by)
			SELECT `+l.sel+`, ?, ? FROM `+recTable(entity)+` WHERE `+cond, args...)
		if err != nil {
			return mapErr(entity, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return missingOrConflict(ctx, tx, entity, id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+recTable(entity)+` WHERE id = ?`, idArg(id)); err != nil {
			return mapErr(entity, err)
		}
		return writeSides(ctx, tx, es)
	}, nil
}

// projection returns the columns a find reads: every one, or only those
// of the fields asked for (the extra JSON too when one of them has no
// column, as it may hold the field).
func (l *layout) projection(fields []string) (sel string, cols []column, extra bool) {
	if fields == nil {
		return l.sel, l.cols, true
	}
	want := make([]int, 0, len(fields))
	for _, f := range fields {
		if i, ok := l.byField[f]; ok {
			want = append(want, i)
		} else if !sysColumn[f] {
			extra = true
		}
	}
	sort.Ints(want)
	var sb strings.Builder
	sb.WriteString(sysCols)
	for j, i := range want {
		if j > 0 && want[j-1] == i {
			continue
		}
		cols = append(cols, l.cols[i])
		sb.WriteString(", " + colName(l.cols[i].field))
	}
	if extra {
		sb.WriteString(", " + extraCol)
	}
	return sb.String(), cols, extra
}

// findParts are the pieces of a find's statement.
type findParts struct {
	sel, where, order string // order: "" or " ORDER BY …"
	// keys selects the sort's expressions as k0, k1… (", expr AS k0…"),
	// and keyOrder orders by them: a materialized page's (findcounted.go).
	keys, keyOrder string
	args           []any
	cols           []column
	extra          bool
}

func findPartsOf(l *layout, q store.Query) (findParts, error) {
	b := sqlBuilder{l: l}
	where, err := b.cond(q.Filter)
	if err != nil {
		return findParts{}, err
	}
	f := findParts{where: where}
	f.sel, f.cols, f.extra = l.projection(q.Fields)
	var sorted []store.SortKey
	if len(q.Sort) > 0 {
		sorted = pinnedFirst(l, q.Filter, q.Sort)
	}
	var order, keys, keyOrder strings.Builder
	for i, k := range sorted {
		col, err := b.column(k.Field)
		if err != nil {
			return findParts{}, err
		}
		sep := ", "
		if i == 0 {
			sep = " ORDER BY "
		}
		dir := ""
		if k.Desc {
			dir = " DESC"
		}
		order.WriteString(sep + col + dir)
		keyOrder.WriteString(sep + fmt.Sprintf("k%d", i) + dir)
		fmt.Fprintf(&keys, ", %s AS k%d", col, i)
	}
	f.order, f.keys, f.keyOrder, f.args = order.String(), keys.String(), keyOrder.String(), b.args
	return f, nil
}

// statement is the find's SQL, limit records at most (0: all).
func (f findParts) statement(entity string, limit int) string {
	table := recTable(entity)
	if f.order != "" && limit > 0 {
		// The page's ids first, then its records: the sort then holds the
		// sort keys and ids of every match, not each match's whole row.
		return fmt.Sprintf(`SELECT %s FROM %s WHERE id IN (SELECT id FROM %s WHERE %s%s LIMIT %d)%s`,
			f.sel, table, table, f.where, f.order, limit, f.order)
	}
	query := `SELECT ` + f.sel + ` FROM ` + table + ` WHERE ` + f.where + f.order
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	return query
}

// pageAmong reads, through db, the find's page among the records of ids
// (candidates two halves found: splitfind.go, findcounted.go).
func (s *Store) pageAmong(ctx context.Context, db rowsQuerier, l *layout, entity string, q store.Query, f findParts, ids []any) ([]*store.Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE id IN (%s)%s LIMIT %d`, f.sel, recTable(entity), marks, f.order, q.Limit), ids...)
	if err != nil {
		return nil, mapErr(entity, err)
	}
	return scanRecords(rows, l, entity, q, f.cols, f.extra)
}

func (s *Store) Find(ctx context.Context, entity string, q store.Query) ([]*store.Record, error) {
	l, err := s.layoutOf(ctx, entity)
	if err != nil {
		return nil, err
	}
	f, err := findPartsOf(l, q)
	if err != nil {
		return nil, err
	}
	query := f.statement(entity, q.Limit)
	e, err := s.kept(ctx, entity, query, f.args, q.Filter != nil, func(scans bool) (cachedFind, error) {
		db := s.r
		if scans {
			db = s.scan
			if len(q.Sort) > 0 && q.Limit > 0 {
				recs, ok, err := s.findInHalves(ctx, l, entity, q, f)
				if ok || err != nil {
					return cachedFind{recs: recs}, err
				}
			}
		}
		rows, err := db.QueryContext(ctx, query, f.args...)
		if err != nil {
			return cachedFind{}, mapErr(entity, err)
		}
		recs, err := scanRecords(rows, l, entity, q, f.cols, f.extra)
		return cachedFind{recs: recs}, err
	})
	return e.recs, err
}

// scanRecords reads a find's rows, closing them.
func scanRecords(rows *sql.Rows, l *layout, entity string, q store.Query, cols []column, extra bool) ([]*store.Record, error) {
	defer rows.Close()
	var out []*store.Record
	for rows.Next() {
		r, err := scanRecord(l, cols, extra, rows)
		if err != nil {
			return nil, err
		}
		if q.Fields != nil {
			keep := make(map[string]any, len(q.Fields))
			for _, f := range q.Fields {
				if v, ok := r.Data[f]; ok {
					keep[f] = v
				}
			}
			r.Data = keep
		}
		out = append(out, r)
	}
	return out, mapErr(entity, rows.Err())
}

// pinnedFirst puts before the sort keys the columns the filter holds to
// one value (an equality in its top-level conjunction), in the first key's
// direction. The order is the same — those columns are constant — but
// SQLite then sees that an index on (pinned, sort key) serves it: asked
// for `stage = ? ORDER BY id DESC LIMIT 21` with indexes on stage and on
// (stage, amount), it read every deal of the stage through the second and
// sorted them (200,000 seeks for a kanban column of a million deals), where
// `ORDER BY stage DESC, id DESC` walks the first and stops after 21.
func pinnedFirst(l *layout, filter *store.Cond, sort []store.SortKey) []store.SortKey {
	var out []store.SortKey
	var walk func(c *store.Cond)
	walk = func(c *store.Cond) {
		switch {
		case c == nil:
		case c.Op == store.OpAnd:
			for _, a := range c.Args {
				walk(a)
			}
		case c.Op == store.OpEq && c.Value != nil:
			if _, typed := l.col(c.Field); !typed && !sysColumn[c.Field] {
				return // a value inside the JSON column: no index to match
			}
			same := func(k store.SortKey) bool { return k.Field == c.Field }
			if !slices.ContainsFunc(out, same) && !slices.ContainsFunc(sort, same) {
				out = append(out, store.SortKey{Field: c.Field, Desc: sort[0].Desc})
			}
		}
	}
	walk(filter)
	return append(out, sort...)
}

func (s *Store) Count(ctx context.Context, entity string, filter *store.Cond, limit int64) (int64, bool, error) {
	l, err := s.layoutOf(ctx, entity)
	if err != nil {
		return 0, false, err
	}
	b := sqlBuilder{l: l}
	where, err := b.cond(filter)
	if err != nil {
		return 0, false, err
	}
	// Never an unbounded COUNT: the inner LIMIT stops the scan at the cap.
	q := `SELECT count(*) FROM (SELECT 1 FROM ` + recTable(entity) + ` WHERE ` + where + fmt.Sprintf(` LIMIT %d)`, limit+1)
	// Through the mapped pool even when an index serves it: a count walks
	// up to limit index entries (a kanban column's count, 200,000 at a
	// million deals), which read calls would copy page by page.
	e, err := s.kept(ctx, entity, q, b.args, filter != nil, func(scans bool) (cachedFind, error) {
		if scans {
			if n, ok, err := s.countInHalves(ctx, entity, where, b.args, limit); ok || err != nil {
				return cachedFind{count: n}, err
			}
		}
		var n int64
		err := s.scan.QueryRowContext(ctx, q, b.args...).Scan(&n)
		return cachedFind{count: n}, err
	})
	if err != nil {
		return 0, false, mapErr(entity, err)
	}
	n := e.count
	if n > limit {
		return limit, true, nil
	}
	return n, false, nil
}

func (s *Store) NextSequence(ctx context.Context, name string) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO sequences (name, value) VALUES (?, 1)
			ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value`, name).Scan(&n)
	})
	return n, err
}

// scanRecord reads one record selected as sysCols, then cols, then the
// extra JSON when withExtra.
func scanRecord(l *layout, cols []column, withExtra bool, sc scanner) (*store.Record, error) {
	var r store.Record
	var created, updated string
	var id, createdBy, updatedBy, owner idCol
	n := len(cols)
	if withExtra {
		n++
	}
	vals := make([]any, n)
	dest := make([]any, 7, 7+n)
	dest[0], dest[1], dest[2], dest[3], dest[4], dest[5], dest[6] = &id, &r.Version, &created, &updated, &createdBy, &updatedBy, &owner
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	r.CreatedAt, _ = time.Parse(metadata.DateTimeLayout, created)
	r.UpdatedAt, _ = time.Parse(metadata.DateTimeLayout, updated)
	r.ID, r.CreatedBy, r.UpdatedBy, r.Owner = id.s, createdBy.s, updatedBy.s, owner.s
	if withExtra && len(cols) == len(l.cols) {
		r.Stored = &storedRow{l: l, version: r.Version, owner: owner, vals: vals}
	}
	r.Data = make(map[string]any, len(cols))
	for i, c := range cols {
		v, err := decode(l.entity, r.ID, c, vals[i], &r.Unreadable)
		if err != nil {
			return nil, err
		}
		if v != nil {
			r.Data[c.field] = v
		}
	}
	if withExtra && vals[len(cols)] != nil {
		x, err := decode(l.entity, r.ID, column{fam: famJSON}, vals[len(cols)], &r.Unreadable) // field "": the extra object
		if err != nil {
			return nil, fmt.Errorf("record %s: corrupt extra data: %w", r.ID, err)
		}
		m, _ := x.(map[string]any)
		for k, v := range m {
			if _, ok := r.Data[k]; !ok {
				r.Data[k] = v
			}
		}
	}
	return &r, nil
}
