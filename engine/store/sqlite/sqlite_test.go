package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/engine/store/storetest"
)

func open(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open, storetest.Capabilities{})
}

// FuzzTranslate: the SQL text never depends on a value, only on its
// length (the text operators compare substrings of a given length), so no
// value can change the statement: every value is a bound argument.
func FuzzTranslate(f *testing.F) {
	f.Add("name", "eq", "x' OR 1=1 --")
	f.Add("amount", "gt", "5")
	f.Add("a;DROP TABLE x", "in", "y")
	f.Add("name", "contains", "'; --")
	f.Fuzz(func(t *testing.T, field, op, value string) {
		mk := func(v string) *store.Cond {
			return &store.Cond{Op: store.Op(op), Field: field, Value: v, Values: []any{v}}
		}
		sql, _, err := sqlite.Translate(mk(value))
		if err != nil {
			return
		}
		same := strings.Repeat("x", utf8.RuneCountInString(value))
		ref, _, err := sqlite.Translate(mk(same))
		if err != nil {
			t.Fatalf("%q translates but %q does not: %v", value, same, err)
		}
		if sql != ref {
			t.Fatalf("the value changed the SQL:\n%s\n%s", sql, ref)
		}
	})
}
