package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/metadata"
)

// BenchmarkAggregateBuckets: a month group-by over 200,000 datetimes as a
// prefix of the string (UTC) and as a bucket in a zone with daylight
// saving, each uncached, so the zone's cost per row shows.
func BenchmarkAggregateBuckets(b *testing.B) {
	ctx := context.Background()
	s := openAt(b, filepath.Join(b.TempDir(), "jimu.db"))
	e := &metadata.Entity{Name: "ev", Version: 1, Fields: []*metadata.Field{{Name: "at", Type: "datetime"}, {Name: "amount", Type: "number"}}}
	if err := s.EnsureEntity(ctx, e); err != nil {
		b.Fatal(err)
	}
	const n = 200_000
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.Atomic(ctx, func(tx store.Tx) error {
		for i := range n {
			at := base.Add(time.Duration(i) * 157 * time.Second)
			if err := tx.Insert(ctx, "ev", newRec(fmt.Sprintf("r%07d", i), map[string]any{"at": metadata.FormatDateTime(at), "amount": float64(i % 1000)}), store.Sides{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, zone := range []string{"UTC", "America/New_York"} {
		b.Run(zone, func(b *testing.B) {
			for range b.N {
				sqlite.ForgetAggregates(s, "ev")
				if _, err := s.Aggregate(ctx, "ev", store.AggregateQuery{GroupBy: []string{"at:month"}, TimeZone: zone,
					Measures: []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
		})
	}
}
