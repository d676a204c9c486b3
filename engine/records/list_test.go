package records_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jimu-crm/jimu/engine/benchdata"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
)

// TestCountCap: count=true is exact up to the service's cap and says when
// it stopped there.
func TestCountCap(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jimu.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat := catalog.New(st, nil)
	if _, err := cat.Create(ctx, actor, benchdata.Deal()); err != nil {
		t.Fatal(err)
	}
	svc := records.New(st, cat, records.System{}, nil)
	svc.CountCap = 3
	for i := range 4 {
		if _, err := svc.Create(ctx, actor, "deal", map[string]any{"name": fmt.Sprint("d", i), "stage": "won"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		filter string
		n      int64
		capped bool
	}{{"", 3, true}, {`name == "d1"`, 1, false}} {
		res, _, err := svc.List(ctx, actor, "deal", records.ListParams{Filter: tc.filter, Count: true, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if *res.Count != tc.n || res.CountCapped != tc.capped {
			t.Errorf("filter %q: count %d capped %v, want %d %v", tc.filter, *res.Count, res.CountCapped, tc.n, tc.capped)
		}
	}
}
