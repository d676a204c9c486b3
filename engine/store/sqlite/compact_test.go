package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/storetest"
)

// TestRecordsCompactIDs: record tables written with text ids (every Jimu
// before decision 30) are rewritten at EnsureEntity with UUIDs as 16 bytes
// and any other id as its text, keep every record and index, and answer
// by id, by owner, by a substring of an id and by group as before.
func TestRecordsCompactIDs(t *testing.T) {
	want, err := wantColumns(storetest.Deal())
	if err != nil {
		t.Fatal(err)
	}
	const (
		a  = "01a232dd-1e08-7493-befa-84adaa8edc7a"
		u1 = "01a232dd-1cc8-77dc-86ea-d55df39cd9e1"
	)
	old := func(q string) string {
		return strings.NewReplacer("id BLOB", "id TEXT", "created_by BLOB", "created_by TEXT",
			"updated_by BLOB", "updated_by TEXT", "owner BLOB", "owner TEXT").Replace(q)
	}
	path := writeRaw(t,
		old(createTable(recTable("deal"), want, false)),
		old(createTable(trashTable("deal"), want, true)),
		`INSERT INTO rec_deal (id, version, created_at, updated_at, created_by, updated_by, owner, f_name, f_amount, f_stage)
			VALUES ('`+a+`', 1, '2026-12-01T18:28:01.672Z', '2026-12-01T18:28:01.672Z', '`+u1+`', '`+u1+`', '`+u1+`', 'Acme', 10, 'won'),
			('r1', 1, '2026-12-01T18:28:02.000Z', '2026-12-01T18:28:02.000Z', 'system', NULL, 'u2', 'Beta', 20, 'won')`,
		`INSERT INTO trash_deal (id, version, created_at, updated_at, owner, f_name, deleted_at, deleted_by)
			VALUES ('01a232dd-1e0a-7114-b013-6ec23063d093', 1, '2026-12-01T18:28:01.672Z', '2026-12-01T18:28:01.672Z', '`+u1+`', 'Gone', '2026-12-01T18:29:00.000Z', '`+u1+`')`)

	ctx := context.Background()
	s, err := OpenWith(ctx, path, Options{manualCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Get(ctx, "deal", a); err == nil || !strings.Contains(err.Error(), "text") {
		t.Fatalf("a table not compacted yet must be refused by name, not read wrong: %v", err)
	}
	if err := s.EnsureEntity(ctx, storetest.Deal()); err != nil {
		t.Fatal(err)
	}
	types := func(table, id string) string {
		var got string
		err := s.r.QueryRow(`SELECT typeof(id) || ' ' || coalesce(typeof(created_by), '') || ' ' || typeof(owner) FROM `+table+
			` WHERE id IN (?, unhex(replace(?, '-', '')))`, id, id).Scan(&got)
		if err != nil {
			t.Fatalf("%s %s: %v", table, id, err)
		}
		return got
	}
	if got := types("rec_deal", a); got != "blob blob blob" {
		t.Errorf("a UUID record's ids are stored as %s, want blobs", got)
	}
	if got := types("rec_deal", "r1"); got != "text text text" {
		t.Errorf("ids that are not UUIDs are stored as %s, want their text", got)
	}
	if got := types("trash_deal", "01a232dd-1e0a-7114-b013-6ec23063d093"); got != "blob null blob" {
		t.Errorf("the trash's ids are stored as %s", got)
	}
	r, err := s.Get(ctx, "deal", a)
	if err != nil || r.ID != a || r.Owner != u1 || r.CreatedBy != u1 || r.UpdatedBy != u1 || r.Data["name"] != "Acme" {
		t.Fatalf("the compacted record: %+v %v", r, err)
	}
	if r, err := s.Get(ctx, "deal", "r1"); err != nil || r.CreatedBy != "system" || r.UpdatedBy != "" || r.Owner != "u2" {
		t.Fatalf("the record with text ids: %+v %v", r, err)
	}
	var idx int
	if err := s.r.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'rec_deal' AND name IN
		('sx_deal_owner', 'sx_deal_created_at', 'sx_deal_updated_at', 'ix_deal_amount', 'ix_deal_stage', 'ux_deal_email')`).Scan(&idx); err != nil || idx != 6 {
		t.Fatalf("after the rewrite %d of the 6 indexes are there (%v)", idx, err)
	}
	find := func(c *store.Cond) []string {
		t.Helper()
		recs, err := s.Find(ctx, "deal", store.Query{Filter: c, Sort: []store.SortKey{{Field: "name"}}, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range recs {
			names = append(names, r.Data["name"].(string))
		}
		return names
	}
	for _, tc := range []struct {
		c    *store.Cond
		want string
	}{
		{&store.Cond{Op: store.OpEq, Field: "owner", Value: u1}, "Acme"},
		{&store.Cond{Op: store.OpEq, Field: "owner", Value: "u2"}, "Beta"},
		{&store.Cond{Op: store.OpIn, Field: "id", Values: []any{a, "r1"}}, "Acme Beta"},
		{&store.Cond{Op: store.OpNe, Field: "created_by", Value: u1}, "Beta"},
		{&store.Cond{Op: store.OpStartsWith, Field: "id", Value: "01a232dd-1e08"}, "Acme"},
		{&store.Cond{Op: store.OpContains, Field: "owner", Value: "d55df39"}, "Acme"},
		{&store.Cond{Op: store.OpGt, Field: "id", Value: "01a232dd-1e08-7493-befa-84adaa8edc79"}, "Acme"},
		{&store.Cond{Op: store.OpGt, Field: "id", Value: "q"}, "Beta"},
		{&store.Cond{Op: store.OpIsNull, Field: "updated_by"}, "Beta"},
	} {
		if got := strings.Join(find(tc.c), " "); got != tc.want {
			t.Errorf("%s %s %v%v: %q, want %q", tc.c.Field, tc.c.Op, tc.c.Value, tc.c.Values, got, tc.want)
		}
	}
	rows, err := s.Aggregate(ctx, "deal", store.AggregateQuery{GroupBy: []string{"owner"}, Measures: []store.Measure{{Op: "count"}}})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[any]bool{}
	for _, row := range rows {
		keys[row.Keys[0]] = true
	}
	if len(keys) != 2 || !keys[u1] || !keys["u2"] {
		t.Fatalf("group by owner: %+v", rows)
	}
}

// TestVacuum: after a rewrite leaves free pages, Vacuum gives them back:
// the file is smaller, has none free, and keeps every record.
func TestVacuum(t *testing.T) {
	s, _ := walStore(t)
	ctx := context.Background()
	for i := range 3000 {
		r := &store.Record{ID: store.NewID(), Version: 1, Data: map[string]any{"name": strings.Repeat("x", 200), "qty": int64(i)}}
		if err := s.Insert(ctx, "deal", r, store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	// Rewriting the table leaves the old one's pages free.
	if err := s.schemaTx(ctx, "deal", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE rec_deal SET version = version`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM rec_deal WHERE f_qty >= 1000`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var free int
	if err := s.r.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil || free == 0 {
		t.Fatalf("no free pages to give back (%d, %v)", free, err)
	}
	before, after, err := s.Vacuum(ctx)
	if err != nil || after >= before {
		t.Fatalf("Vacuum: %d -> %d bytes, %v", before, after, err)
	}
	if err := s.r.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil || free != 0 {
		t.Fatalf("after Vacuum %d pages are free (%v)", free, err)
	}
	if n, _, err := s.Count(ctx, "deal", nil, 10000); err != nil || n != 1000 {
		t.Fatalf("after Vacuum %d records (%v)", n, err)
	}
}
