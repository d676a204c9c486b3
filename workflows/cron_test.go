package workflows

import (
	"testing"
	"time"
)

// TestScheduleDST: a time in a spring-forward gap fires once, when the gap
// ends; a time the autumn repeats fires once, at its first occurrence;
// robfig/cron alone skips the first and fires the second twice.
func TestScheduleDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	fires := func(spec string, from, until time.Time) []time.Time {
		s, err := ParseSchedule(spec, ny)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := s.Between(from, until, 1000)
		return out
	}
	utc := func(s string) time.Time {
		t0, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return t0
	}
	// 2026-03-08: clocks go from 02:00 EST to 03:00 EDT.
	got := fires("30 2 * * *", utc("2026-03-07T12:00:00Z"), utc("2026-03-09T12:00:00Z"))
	want := []time.Time{utc("2026-03-08T07:30:00Z"), utc("2026-03-09T06:30:00Z")} // 03:30 EDT in the gap's day, then 02:30 EDT
	if !equalTimes(got, want) {
		t.Fatalf("gap: %v, want %v", got, want)
	}
	// Every 30 minutes across the gap: 01:00, 01:30, then 03:00 (02:00 moved), 03:30 (02:30 moved), 04:00 — each instant once.
	got = fires("*/30 1-4 * * *", utc("2026-03-08T05:59:00Z"), utc("2026-03-08T08:01:00Z"))
	want = []time.Time{utc("2026-03-08T06:00:00Z"), utc("2026-03-08T06:30:00Z"), utc("2026-03-08T07:00:00Z"), utc("2026-03-08T07:30:00Z"), utc("2026-03-08T08:00:00Z")}
	if !equalTimes(got, want) {
		t.Fatalf("every 30 min across the gap: %v, want %v", got, want)
	}
	// 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST; 01:30 happens twice.
	got = fires("30 1 * * *", utc("2026-10-31T12:00:00Z"), utc("2026-11-02T12:00:00Z"))
	want = []time.Time{utc("2026-11-01T05:30:00Z"), utc("2026-11-02T06:30:00Z")}
	if !equalTimes(got, want) {
		t.Fatalf("repeat: %v, want %v", got, want)
	}
	// Asking from inside the repeated hour does not fire the repeat.
	s, _ := ParseSchedule("30 1 * * *", ny)
	if next := s.Next(utc("2026-11-01T06:10:00Z")); !next.Equal(utc("2026-11-02T06:30:00Z")) {
		t.Fatalf("next from the repeated hour: %v", next)
	}
	// Monday 09:00 in Shanghai is 01:00 UTC.
	sh, _ := time.LoadLocation("Asia/Shanghai")
	s, _ = ParseSchedule("0 9 * * MON", sh)
	if next := s.Next(utc("2026-11-26T00:00:00Z")); !next.Equal(utc("2026-11-30T01:00:00Z")) {
		t.Fatalf("Monday 09:00 Shanghai: %v", next)
	}
	// Seconds and descriptors.
	s, _ = ParseSchedule("*/10 * * * * *", time.UTC)
	if next := s.Next(utc("2026-01-01T00:00:05Z")); !next.Equal(utc("2026-01-01T00:00:10Z")) {
		t.Fatalf("every 10 s: %v", next)
	}
	if _, err := ParseSchedule("@every 10ms", time.UTC); err == nil {
		t.Fatal("an interval under a second accepted")
	}
	for _, bad := range []string{"", "61 * * * *", "* * *", "TZ=UTC * * * * *", "@fortnightly"} {
		if _, err := ParseSchedule(bad, time.UTC); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
