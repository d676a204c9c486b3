package records_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jimu-crm/jimu/engine/benchdata"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// deals is a records service on a new SQLite store with benchdata's deal
// entity, and that store; both close when the test ends.
func deals(t *testing.T) (*records.Service, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat := catalog.New(st, nil)
	if _, err := cat.Create(ctx, actor, benchdata.Deal()); err != nil {
		t.Fatal(err)
	}
	return records.New(st, cat, records.System{}, nil), st
}
