package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

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

func FuzzTranslate(f *testing.F) {
	f.Add("name", "eq", "x' OR 1=1 --")
	f.Add("amount", "gt", "5")
	f.Add("a;DROP TABLE x", "in", "y")
	f.Fuzz(func(t *testing.T, field, op, value string) {
		c := &store.Cond{Op: store.Op(op), Field: field, Value: value, Values: []any{value}}
		sql, args, err := sqlite.Translate(c)
		if err != nil {
			return
		}
		// A translated condition never carries a value inline: every
		// value is a bound argument.
		if strings.ContainsRune(value, '\'') && strings.Contains(sql, value) {
			t.Fatalf("value %q spliced into SQL %q (args %v)", value, sql, args)
		}
	})
}
