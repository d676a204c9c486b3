package main

import (
	"bytes"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeRefusesAnOldDatabaseItCannotMigrate: a database written before
// fields had columns, holding text in a number field, stops `jimu serve`
// before it listens, with the table, the record and the field named; the
// record is still there, unchanged.
func TestServeRefusesAnOldDatabaseItCannotMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jimu.db")
	db, err := sql.Open("sqlite", "file:"+path) // the driver the store registers
	if err != nil {
		t.Fatal(err)
	}
	cols := `id TEXT PRIMARY KEY, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
		created_by TEXT, updated_by TEXT, owner TEXT, data TEXT NOT NULL`
	const at = "2026-11-30T10:00:00.000Z"
	for _, q := range []string{
		`CREATE TABLE docs (kind TEXT NOT NULL, id TEXT NOT NULL, key TEXT, version INTEGER NOT NULL,
			data TEXT NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID`,
		`INSERT INTO docs VALUES ('entity', 'deal', NULL, 1, '{"name":"deal","label":"Deal","version":1,
			"fields":[{"name":"name","type":"text"},{"name":"amount","type":"currency"}]}')`,
		`CREATE TABLE rec_deal (` + cols + `) WITHOUT ROWID`,
		`CREATE TABLE trash_deal (` + cols + `, deleted_at TEXT NOT NULL, deleted_by TEXT) WITHOUT ROWID`,
		`INSERT INTO rec_deal VALUES ('r1', 1, '` + at + `', '` + at + `', '', '', '', '{"name":"Acme","amount":"a lot"}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	var out, errb bytes.Buffer
	err = run([]string{"serve", "--db", "sqlite://" + path, "--http", "127.0.0.1:0", "--log-level", "error"}, &out, &errb)
	if err == nil {
		t.Fatal("serve started on a database it could not migrate")
	}
	for _, want := range []string{"rec_deal", "record r1", "amount", "nothing was changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	db, _ = sql.Open("sqlite", "file:"+path+"?mode=ro")
	defer db.Close()
	var data string
	if err := db.QueryRow(`SELECT data FROM rec_deal WHERE id = 'r1'`).Scan(&data); err != nil || data != `{"name":"Acme","amount":"a lot"}` {
		t.Fatalf("the record after the refusal: %q %v", data, err)
	}
}
