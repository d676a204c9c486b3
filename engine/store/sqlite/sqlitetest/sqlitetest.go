// Package sqlitetest writes into a SQLite store's file behind its back, as
// older versions of Jimu could, for tests of what the store must still
// read: values no client can read (1e400, an integer beyond int64).
package sqlitetest

import (
	"database/sql"
	"regexp"
	"testing"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

var number = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// Poison sets one field of a record to jsonText as a version before issue
// 13 stored it: a JSON number is written as a numeric literal into the
// field's column (SQLite reads 1e400 as infinity, 12345678901234567890 as
// a real), anything else as its JSON text (a json or list field's column).
func Poison(t testing.TB, path, entity, id, field, jsonText string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set, args := `"f_`+field+`" = ?`, []any{jsonText, id, id}
	if number.MatchString(jsonText) {
		set, args = `"f_`+field+`" = `+jsonText, []any{id, id} // a literal: the test's own constant
	}
	// A UUID is stored as its 16 bytes (decision 30), any other id as text.
	res, err := db.Exec(`UPDATE "rec_`+entity+`" SET `+set+` WHERE id IN (?, unhex(replace(?, '-', '')))`, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("poison %s %s: %d rows", entity, id, n)
	}
}
