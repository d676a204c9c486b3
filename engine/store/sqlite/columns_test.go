package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/metadata"
)

// mainSchema is the record tables as main wrote them before fields had
// columns: system columns, a data JSON column, json_extract indexes.
func mainSchema(entity string) []string {
	cols := `id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
		created_by TEXT, updated_by TEXT, owner TEXT, data TEXT NOT NULL`
	return []string{
		`CREATE TABLE "rec_` + entity + `" (` + cols + `) WITHOUT ROWID`,
		`CREATE TABLE "trash_` + entity + `" (` + cols + `, deleted_at TEXT NOT NULL, deleted_by TEXT) WITHOUT ROWID`,
		`CREATE INDEX "sx_` + entity + `_created_at" ON "rec_` + entity + `"(created_at)`,
		`CREATE INDEX "ix_` + entity + `_amount" ON "rec_` + entity + `"(json_extract(data, '$.amount'))`,
		`CREATE UNIQUE INDEX "ux_` + entity + `_email" ON "rec_` + entity + `"(json_extract(data, '$.email'))`,
		`CREATE INDEX "cx_` + entity + `_stage_amount" ON "rec_` + entity + `"(json_extract(data, '$.stage'), json_extract(data, '$.amount'))`,
	}
}

const stamp = "2026-11-30T10:00:00.000Z"

// oldDB writes a database the way main did: the tables by raw SQL, then
// rows of data JSON.
func oldDB(t *testing.T, rows map[string]string, trash map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jimu.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range mainSchema("deal") {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for id, data := range rows {
		if _, err := db.Exec(`INSERT INTO rec_deal VALUES (?, 3, ?, ?, 'u1', 'u2', 'u1', ?)`, id, stamp, stamp, data); err != nil {
			t.Fatal(err)
		}
	}
	for id, data := range trash {
		if _, err := db.Exec(`INSERT INTO trash_deal VALUES (?, 1, ?, ?, 'u1', '', 'u1', ?, ?, 'u9')`, id, stamp, stamp, data, stamp); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// oldDeal is the metadata of the old database: every kind, and a field
// deleted (hidden) whose data is still there.
func oldDeal() *metadata.Entity {
	e := storetestDeal()
	e.Fields = append(e.Fields,
		&metadata.Field{Name: "extra_info", Type: "json"},
		&metadata.Field{Name: "when", Type: "datetime"},
		&metadata.Field{Name: "legacy_code", Type: "text", Deleted: true})
	e.Indexes = []*metadata.Index{{Fields: []string{"stage", "amount"}}}
	return e
}

func storetestDeal() *metadata.Entity {
	min0 := 0.0
	return &metadata.Entity{Name: "deal", Ownership: true, Version: 1, Fields: []*metadata.Field{
		{Name: "name", Type: "text", Required: true},
		{Name: "amount", Type: "currency", Indexed: true, Min: &min0},
		{Name: "qty", Type: "integer"},
		{Name: "stage", Type: "select", Indexed: true, Options: []metadata.Option{{Value: "lead"}, {Value: "won"}, {Value: "lost"}}},
		{Name: "close_date", Type: "date"},
		{Name: "email", Type: "email", Unique: true},
		{Name: "hot", Type: "boolean"},
		{Name: "tags", Type: "tags"},
	}}
}

func openAt(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func columnsOf(t *testing.T, path, table string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		out = append(out, n)
	}
	return out
}

// TestMigrateFromJSON: a database written by main opens, every value of
// every record (and of the trash) reads back as the engine expects it, and
// the tables have columns, indexes on columns, and no data column.
func TestMigrateFromJSON(t *testing.T) {
	ctx := context.Background()
	path := oldDB(t, map[string]string{
		"a": `{"name":"Acme","amount":1200,"qty":3,"stage":"won","close_date":"2026-03-01","email":"a@x.io","hot":true,
			"tags":["x","y"],"extra_info":{"k":[1,2.5,"s"]},"when":"2026-01-02T03:04:05.000Z","legacy_code":"L1","stray":{"n":7}}`,
		"b": `{"name":"Bolt","amount":99.5,"qty":null,"hot":false,"tags":[]}`,
		"c": `{"name":"Poison","amount":1e400,"qty":1e400}`,
		"d": `{}`,
	}, map[string]string{"z": `{"name":"Gone","amount":5,"stray":1}`})
	s := openAt(t, path)
	if err := s.EnsureEntity(ctx, oldDeal()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	want := map[string]map[string]any{
		"a": {"name": "Acme", "amount": 1200.0, "qty": int64(3), "stage": "won", "close_date": "2026-03-01", "email": "a@x.io", "hot": true,
			"tags": []any{"x", "y"}, "extra_info": map[string]any{"k": []any{int64(1), 2.5, "s"}}, "when": "2026-01-02T03:04:05.000Z",
			"legacy_code": "L1", "stray": map[string]any{"n": int64(7)}},
		"b": {"name": "Bolt", "amount": 99.5, "hot": false, "tags": []any{}},
		"c": {"name": "Poison"}, // 1e400 is not a number: no value, with a warning
		"d": {},
	}
	for id, data := range want {
		r, err := s.Get(ctx, "deal", id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if !reflect.DeepEqual(r.Data, data) {
			t.Errorf("record %s:\n got %#v\nwant %#v", id, r.Data, data)
		}
		if r.Version != 3 || r.CreatedBy != "u1" || r.UpdatedBy != "u2" || r.Owner != "u1" || r.CreatedAt.Format(metadata.DateTimeLayout) != stamp {
			t.Errorf("record %s system fields: %+v", id, r)
		}
	}
	cols := columnsOf(t, path, "rec_deal")
	if strings.Contains(strings.Join(cols, ","), ",data,") || !strings.Contains(strings.Join(cols, ","), "f_amount") {
		t.Fatalf("columns after migration: %v", cols)
	}
	tcols := columnsOf(t, path, "trash_deal")
	if len(tcols) != len(cols)+2 {
		t.Fatalf("trash columns %v, records %v", tcols, cols)
	}
	// The filter, the sort and the unique index run on the columns.
	got, err := s.Find(ctx, "deal", store.Query{Filter: &store.Cond{Op: store.OpGt, Field: "amount", Kind: metadata.KindNumber, Value: 100.0},
		Sort: []store.SortKey{{Field: "amount", Desc: true}}, Limit: 10})
	// c's 1e400 is kept as +Inf (jimu doctor repairs it, decision 16), and
	// SQLite compares it as the largest number.
	if err != nil || len(got) != 2 || got[0].ID != "c" || got[1].ID != "a" {
		t.Fatalf("filter on a migrated column: %v %v", got, err)
	}
	dup := &store.Record{ID: "e", Version: 1, CreatedAt: time.Now(), UpdatedAt: time.Now(), Data: map[string]any{"name": "E", "email": "a@x.io"}}
	if err := s.Insert(ctx, "deal", dup, store.Sides{}); err == nil || !strings.Contains(err.Error(), "email") {
		t.Fatalf("unique after migration: %v", err)
	}
	// Opening again finds nothing to migrate and changes nothing.
	s.Close()
	s = openAt(t, path)
	if err := s.EnsureEntity(ctx, oldDeal()); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get(ctx, "deal", "a"); err != nil || !reflect.DeepEqual(r.Data, want["a"]) {
		t.Fatalf("after a second start: %v %v", r, err)
	}
	// The trash row kept its values, the stray key included.
	db, _ := sql.Open("sqlite", "file:"+path+"?mode=ro")
	defer db.Close()
	var name, extra, by string
	var amount float64
	if err := db.QueryRow(`SELECT f_name, f_amount, extra, deleted_by FROM trash_deal WHERE id = 'z'`).Scan(&name, &amount, &extra, &by); err != nil ||
		name != "Gone" || amount != 5 || extra != `{"stray":1}` || by != "u9" {
		t.Fatalf("trash after migration: %q %v %q %q %v", name, amount, extra, by, err)
	}
}

// TestMigrateRefuses: a value that does not fit its column stops the
// migration with the table, the record and the field named, and leaves the
// table as main wrote it; once the value is fixed, the next start migrates.
func TestMigrateRefuses(t *testing.T) {
	ctx := context.Background()
	path := oldDB(t, map[string]string{"a": `{"name":"A","amount":"lots"}`, "b": `{"name":"B","amount":5}`}, nil)
	s := openAt(t, path)
	err := s.EnsureEntity(ctx, oldDeal())
	if err == nil || !strings.Contains(err.Error(), "rec_deal") || !strings.Contains(err.Error(), "record a") || !strings.Contains(err.Error(), "amount") {
		t.Fatalf("want a refusal naming rec_deal, record a and amount; got %v", err)
	}
	if cols := columnsOf(t, path, "rec_deal"); !reflect.DeepEqual(cols[len(cols)-1:], []string{"data"}) {
		t.Fatalf("a refused migration changed the table: %v", cols)
	}
	s.Close()
	db, _ := sql.Open("sqlite", "file:"+path)
	if _, err := db.Exec(`UPDATE rec_deal SET data = '{"name":"A","amount":7}' WHERE id = 'a'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openAt(t, path)
	if err := s.EnsureEntity(ctx, oldDeal()); err != nil {
		t.Fatalf("after the fix: %v", err)
	}
	if r, err := s.Get(ctx, "deal", "a"); err != nil || r.Data["amount"] != 7.0 {
		t.Fatalf("after the fix: %v %v", r, err)
	}
}

// TestForeignTable: a record table with a column Jimu did not make is
// refused by name, not used.
func TestForeignTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jimu.db")
	db, _ := sql.Open("sqlite", "file:"+path)
	if _, err := db.Exec(`CREATE TABLE rec_deal (id TEXT PRIMARY KEY, version INTEGER, created_at TEXT, updated_at TEXT,
		created_by TEXT, updated_by TEXT, owner TEXT, secret BLOB) WITHOUT ROWID`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := openAt(t, path)
	err := s.EnsureEntity(context.Background(), oldDeal())
	if err == nil || !strings.Contains(err.Error(), "rec_deal") || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("want a refusal naming rec_deal and secret; got %v", err)
	}
}

func newRec(id string, data map[string]any) *store.Record {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &store.Record{ID: id, Version: 1, CreatedAt: now, UpdatedAt: now, Data: data}
}

// TestExtraKeys: a key no field names is kept (in the extra JSON) and
// filterable; once a field of that name is added, its values move into
// the new column.
func TestExtraKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jimu.db")
	s := openAt(t, path)
	e := storetestDeal()
	if err := s.EnsureEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, "deal", newRec("a", map[string]any{"name": "A", "region": "east"}), store.Sides{}); err != nil {
		t.Fatal(err)
	}
	region := &store.Cond{Op: store.OpEq, Field: "region", Kind: metadata.KindString, Value: "east"}
	if got, err := s.Find(ctx, "deal", store.Query{Filter: region}); err != nil || len(got) != 1 || got[0].Data["region"] != "east" {
		t.Fatalf("a key without a column: %v %v", got, err)
	}
	e.Fields = append(e.Fields, &metadata.Field{Name: "region", Type: "text", Indexed: true})
	if err := s.EnsureEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Find(ctx, "deal", store.Query{Filter: region}); err != nil || len(got) != 1 || got[0].Data["region"] != "east" {
		t.Fatalf("after the field was added: %v %v", got, err)
	}
	db, _ := sql.Open("sqlite", "file:"+path+"?mode=ro")
	defer db.Close()
	var col string
	var extra sql.NullString
	if err := db.QueryRow(`SELECT f_region, extra FROM rec_deal WHERE id = 'a'`).Scan(&col, &extra); err != nil || col != "east" || extra.Valid {
		t.Fatalf("the value did not move into its column: %q %v %v", col, extra, err)
	}
}

// TestTypeChangeColumn: a type change across families converts every value
// in one transaction, or changes nothing and names the record.
func TestTypeChangeColumn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jimu.db")
	s := openAt(t, path)
	e := storetestDeal()
	if err := s.EnsureEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	for id, q := range map[string]any{"a": int64(5), "b": int64(12)} {
		if err := s.Insert(ctx, "deal", newRec(id, map[string]any{"name": id, "qty": q, "stage": "won"}), store.Sides{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "deal", "b", 0, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	e.Field("qty").Type = "text"
	e.Field("qty").Indexed = true
	if err := s.EnsureEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get(ctx, "deal", "a"); err != nil || r.Data["qty"] != "5" {
		t.Fatalf("integer to text: %v %v", r, err)
	}
	// Back to a number: "5" converts; a value that does not stops it.
	if err := s.Insert(ctx, "deal", newRec("c", map[string]any{"name": "c", "qty": "many"}), store.Sides{}); err != nil {
		t.Fatal(err)
	}
	e.Field("qty").Type = "number"
	err := s.EnsureEntity(ctx, e)
	if err == nil || !strings.Contains(err.Error(), "record c") || !strings.Contains(err.Error(), "qty") {
		t.Fatalf("want a refusal naming record c and qty, got %v", err)
	}
	if r, _ := s.Get(ctx, "deal", "a"); r.Data["qty"] != "5" {
		t.Fatalf("a refused change converted a record: %v", r.Data)
	}
	if err := s.Delete(ctx, "deal", "c", 0, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get(ctx, "deal", "a"); r.Data["qty"] != 5.0 {
		t.Fatalf("text to number: %#v", r.Data["qty"])
	}
	// The trash kept what did not convert, in the row's extra JSON.
	db, _ := sql.Open("sqlite", "file:"+path+"?mode=ro")
	defer db.Close()
	var extra sql.NullString
	var qty sql.NullFloat64
	if err := db.QueryRow(`SELECT f_qty, extra FROM trash_deal WHERE id = 'c'`).Scan(&qty, &extra); err != nil || qty.Valid || extra.String != `{"qty":"many"}` {
		t.Fatalf("trash after the change: %v %v %v", qty, extra, err)
	}
	if err := db.QueryRow(`SELECT f_qty FROM trash_deal WHERE id = 'b'`).Scan(&qty); err != nil || qty.Float64 != 12 {
		t.Fatalf("trash row b: %v %v", qty, err)
	}
}

// TestPurgeDropsColumn: purge drops the field's column from the records
// and the trash, its index first.
func TestPurgeDropsColumn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jimu.db")
	s := openAt(t, path)
	e := storetestDeal()
	if err := s.EnsureEntity(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(ctx, "deal", newRec("a", map[string]any{"name": "A", "amount": 3.0}), store.Sides{}); err != nil {
		t.Fatal(err)
	}
	if err := s.UnsetField(ctx, "deal", "amount", store.Sides{}); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"rec_deal", "trash_deal"} {
		if cols := strings.Join(columnsOf(t, path, table), ","); strings.Contains(cols, "f_amount") {
			t.Fatalf("%s still has the column: %s", table, cols)
		}
	}
	if r, err := s.Get(ctx, "deal", "a"); err != nil || r.Data["amount"] != nil || r.Data["name"] != "A" {
		t.Fatalf("after purge: %v %v", r, err)
	}
}
