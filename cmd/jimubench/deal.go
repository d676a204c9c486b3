package main

import (
	"fmt"

	"github.com/jimu-crm/jimu/engine/benchdata"
)

// Reps own the loaded deals round-robin, so a Sales Rep's row rule
// (owner == user.id) selects 1/reps of them: RepEmail(0) signs in with
// RepPassword for the rep list phase.
const (
	reps        = 20
	RepPassword = "bench-rep-password"
)

// RepEmail is the address of rep k.
func RepEmail(k int) string { return fmt.Sprintf("rep%02d@bench.example", k) }

// dealOwned is deal i owned by its rep (ids from the loaded users).
func dealOwned(i int, repIDs []string) map[string]any {
	d := benchdata.Record(i)
	if len(repIDs) > 0 {
		d["owner"] = repIDs[i%len(repIDs)]
	}
	return d
}
