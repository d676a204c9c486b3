// Package benchdata is the workload Jimu's performance figures are measured
// on: the deal entity and its generated records. make bench (cmd/jimubench)
// and the Go benchmarks of the records service use the same definitions, so
// their figures describe the same writes.
package benchdata

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jimu-crm/jimu/metadata"
)

func fptr(f float64) *float64 { return &f }

// Deal is the measured entity: the fields issue 2 names, amount, stage and
// close_date indexed, and the compound indexes the measured lists need.
func Deal() *metadata.Entity {
	return &metadata.Entity{Name: "deal", Label: metadata.Plain("Deal"), LabelPlural: metadata.Plain("Deals"), Ownership: true,
		// The list phases filter on stage and sort by amount; a rep's row
		// rule adds owner in front.
		Indexes: []*metadata.Index{{Fields: []string{"stage", "amount"}}, {Fields: []string{"owner", "stage", "amount"}}},
		Fields: []*metadata.Field{
			{Name: "name", Type: "text", Required: true, MaxLength: 200},
			{Name: "amount", Type: "currency", Min: fptr(0), Indexed: true},
			{Name: "stage", Type: "select", Indexed: true, Options: []metadata.Option{
				{Value: "lead"}, {Value: "qualified"}, {Value: "won"}, {Value: "lost"}}},
			{Name: "close_date", Type: "date", Indexed: true},
			{Name: "email", Type: "email"},
			{Name: "score", Type: "integer", Min: fptr(0), Max: fptr(100)},
		}}
}

var stages = [...]string{"lead", "qualified", "won", "lost"}

// Record is the i-th generated deal, as a decoded JSON body (numbers as
// json.Number). The same i always gives the same deal: amount uniform in
// [0, 100000) to the cent, stage uniform over the four options (so the
// list filter stage == "won" and amount >= 1000 matches about 24.75%),
// close_date uniform over 2024-01-01 … 2026-12-30, score in [0, 100].
func Record(i int) map[string]any {
	r := rand.New(rand.NewPCG(uint64(i), 0x6a696d75))
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(3*365))
	return map[string]any{
		"name":       "Deal " + strconv.Itoa(i),
		"amount":     json.Number(strconv.FormatFloat(float64(r.IntN(10_000_000))/100, 'f', 2, 64)),
		"stage":      stages[r.IntN(len(stages))],
		"close_date": day.Format(metadata.DateLayout),
		"email":      "buyer" + strconv.Itoa(i) + "@example.com",
		"score":      json.Number(strconv.Itoa(r.IntN(101))),
	}
}
