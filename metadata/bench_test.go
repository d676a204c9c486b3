package metadata_test

import (
	"encoding/json"
	"testing"

	"github.com/jimu-crm/jimu/metadata"
)

func ptr(f float64) *float64 { return &f }

// benchDeal is the benchmark entity: the deal of the load tool.
func benchDeal() *metadata.Entity {
	return &metadata.Entity{Name: "deal", Ownership: true, Fields: []*metadata.Field{
		{Name: "name", Type: "text", Required: true, MaxLength: 200},
		{Name: "amount", Type: "currency", Min: ptr(0), Indexed: true},
		{Name: "stage", Type: "select", Indexed: true, Options: []metadata.Option{
			{Value: "lead"}, {Value: "qualified"}, {Value: "won"}, {Value: "lost"}}},
		{Name: "close_date", Type: "date", Indexed: true},
		{Name: "email", Type: "email"},
		{Name: "score", Type: "integer", Min: ptr(0), Max: ptr(100)},
	}}
}

// BenchmarkValidate is the JSON Schema check of one deal record as the
// write pipeline runs it (normalized data, system fields left out).
// Target: < 20 µs/op.
func BenchmarkValidate(b *testing.B) {
	v, err := metadata.Compile(benchDeal())
	if err != nil {
		b.Fatal(err)
	}
	data := map[string]any{
		"name":       "Deal 42 — Acme Corp",
		"amount":     12345.67,
		"stage":      "won",
		"close_date": "2026-03-14",
		"email":      "buyer42@acme.example.com",
		"score":      int64(73),
	}
	if errs := v.Validate(data); len(errs) > 0 {
		b.Fatalf("valid record refused: %v", errs[0])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if errs := v.Validate(data); errs != nil {
			b.Fatal(errs[0])
		}
	}
}

// BenchmarkNormalizeNumbers is the normalisation of one decoded amount,
// integer and number, as the write pipeline runs it per field.
func BenchmarkNormalizeNumbers(b *testing.B) {
	fields := []*metadata.Field{{Name: "amount", Type: "currency"}, {Name: "score", Type: "integer"}, {Name: "rating", Type: "number"}}
	vals := []any{json.Number("12345.67"), json.Number("73"), json.Number("4.5")}
	b.ReportAllocs()
	for b.Loop() {
		for i, f := range fields {
			if _, err := metadata.Normalize(f, vals[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
