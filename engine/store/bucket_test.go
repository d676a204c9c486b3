package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// reference buckets an instant with the time package alone.
func reference(unit string, t time.Time) string {
	switch unit {
	case "hour":
		return t.Format("2006-01-02T15")
	case "day":
		return t.Format("2006-01-02")
	case "week":
		y, w := t.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w)
	case "month":
		return t.Format("2006-01")
	case "quarter":
		return fmt.Sprintf("%04d-Q%d", t.Year(), (int(t.Month())+2)/3)
	}
	return t.Format("2006")
}

var zones = []string{"", "UTC", "Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"}

func TestBucketsMatchTimePackage(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	lo := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, z := range zones {
		loc, err := LoadZone(z)
		if err != nil {
			t.Fatal(err)
		}
		for _, unit := range Buckets {
			b, err := BucketerFor(unit, z)
			if err != nil {
				t.Fatal(err)
			}
			for range 3000 {
				sec := lo + rnd.Int64N(hi-lo)
				in := time.Unix(sec, 0).UTC()
				for _, s := range []string{in.Format("2006-01-02T15:04:05.000Z"), in.Format("2006-01-02T15:04:05Z")} {
					got, ok := b.Key(s)
					if want := reference(unit, in.In(loc)); !ok || got != want {
						t.Fatalf("%s in %q of %s: got %q %v want %q", unit, z, s, got, ok, want)
					}
				}
				// A date is a calendar day: no zone applies.
				d := in.Format("2006-01-02")
				if got, _ := b.Key(d); got != reference(unit, in.Truncate(24*time.Hour)) {
					t.Fatalf("%s in %q of the date %s: got %q", unit, z, d, got)
				}
			}
		}
	}
}

func TestBucketEdges(t *testing.T) {
	cases := []struct{ unit, zone, in, want string }{
		{"month", "Asia/Shanghai", "2026-03-31T16:30:00.000Z", "2026-04"},
		{"month", "", "2026-03-31T16:30:00.000Z", "2026-03"},
		{"quarter", "Asia/Shanghai", "2026-03-31T16:30:00.000Z", "2026-Q2"},
		{"quarter", "UTC", "2026-03-31T16:30:00.000Z", "2026-Q1"},
		// New York springs forward on 2026-03-08 at 07:00Z: EST before, EDT after.
		{"hour", "America/New_York", "2026-03-08T06:59:59.000Z", "2026-03-08T01"},
		{"hour", "America/New_York", "2026-03-08T07:00:00.000Z", "2026-03-08T03"},
		{"day", "America/New_York", "2026-03-09T03:30:00.000Z", "2026-03-08"},
		{"day", "America/New_York", "2026-03-09T04:30:00.000Z", "2026-03-09"},
		{"day", "America/New_York", "2026-11-02T04:30:00.000Z", "2026-11-01"},
		{"day", "America/New_York", "2026-11-02T05:30:00.000Z", "2026-11-02"},
		{"week", "UTC", "2027-01-01T00:00:00.000Z", "2026-W53"},
		{"week", "UTC", "2026-03-14", "2026-W11"},
		{"day", "Asia/Shanghai", "2026-03-14", "2026-03-14"},
		{"hour", "Asia/Shanghai", "2026-03-14", "2026-03-14T00"},
		{"year", "Asia/Shanghai", "2025-12-31T16:00:00.000Z", "2026"},
	}
	for _, c := range cases {
		b, err := BucketerFor(c.unit, c.zone)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := b.Key(c.in); !ok || got != c.want {
			t.Errorf("%s in %q of %s: got %q want %q", c.unit, c.zone, c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "2026", "2026-13-01", "2026-03-1x", "2026-03-14 09:00:00", "x026-03-14", "2026-03-14T25:00:00Z"} {
		b, _ := BucketerFor("day", "")
		if k, ok := b.Key(bad); ok {
			t.Errorf("%q: got bucket %q, want none", bad, k)
		}
	}
	if _, err := BucketerFor("fortnight", ""); err == nil {
		t.Error("unknown unit accepted")
	}
	if _, err := BucketerFor("day", "Mars/Olympus"); err == nil {
		t.Error("unknown zone accepted")
	}
}

func TestBucketNextAndStart(t *testing.T) {
	cases := []struct{ unit, zone, key, next, start string }{
		{"hour", "America/New_York", "2026-03-08T01", "2026-03-08T02", "2026-03-08T06:00:00Z"},
		{"day", "Asia/Shanghai", "2026-03-31", "2026-04-01", "2026-03-30T16:00:00Z"},
		{"week", "UTC", "2026-W53", "2027-W01", "2026-12-28T00:00:00Z"},
		{"week", "UTC", "2026-W11", "2026-W12", "2026-03-09T00:00:00Z"},
		{"month", "Asia/Shanghai", "2026-12", "2027-01", "2026-11-30T16:00:00Z"},
		{"quarter", "UTC", "2026-Q4", "2027-Q1", "2026-10-01T00:00:00Z"},
		{"year", "America/New_York", "2026", "2027", "2026-01-01T05:00:00Z"},
	}
	for _, c := range cases {
		b, _ := BucketerFor(c.unit, c.zone)
		if got, ok := b.Next(c.key); !ok || got != c.next {
			t.Errorf("next %s %s: got %q want %q", c.unit, c.key, got, c.next)
		}
		if got, ok := b.Start(c.key); !ok || got.UTC().Format(time.RFC3339) != c.start {
			t.Errorf("start %s %s in %q: got %v want %s", c.unit, c.key, c.zone, got.UTC(), c.start)
		}
	}
}

// FuzzBucket: any string buckets to what the time package makes of it,
// or to nothing when it is not a stored date or datetime.
func FuzzBucket(f *testing.F) {
	f.Add("2026-03-31T16:30:00.000Z", uint8(3))
	f.Add("2026-03-14", uint8(2))
	f.Add("2026-03-14T09:00:00Z", uint8(0))
	f.Fuzz(func(t *testing.T, s string, u uint8) {
		unit := Buckets[int(u)%len(Buckets)]
		b, _ := BucketerFor(unit, "America/New_York")
		got, ok := b.Key(s)
		var in time.Time
		var err error
		local := false
		switch len(s) {
		case 10:
			in, err = time.Parse("2006-01-02", s)
		case 19:
			in, err = time.Parse("2006-01-02T15:04:05", s)
			local = true
		case 20:
			in, err = time.Parse("2006-01-02T15:04:05Z", s)
			local = true
		case 24:
			in, err = time.Parse("2006-01-02T15:04:05.000Z", s)
			local = true
		default:
			err = fmt.Errorf("length")
		}
		if err != nil {
			// The bucketer is laxer on day-of-month (31 in any month) and
			// leap seconds; it must still not panic.
			return
		}
		if !ok {
			t.Fatalf("%q parses but has no bucket", s)
		}
		if local {
			ny, _ := LoadZone("America/New_York")
			in = in.In(ny)
		}
		if in.Year() < 1 {
			return // before year 1 the time package writes years its own way
		}
		if want := reference(unit, in); got != want {
			t.Fatalf("%s of %q: got %q want %q", unit, s, got, want)
		}
	})
}

// BenchmarkBucketNumber: the per-row cost of a bucket in a zone with
// daylight saving, as the hash aggregate pays it.
func BenchmarkBucketNumber(b *testing.B) {
	bk, _ := BucketerFor("month", "America/New_York")
	in := make([]string, 1024)
	for i := range in {
		in[i] = time.Unix(1767225600+int64(i)*37_000, 0).UTC().Format("2006-01-02T15:04:05.000Z")
	}
	b.ResetTimer()
	for i := range b.N {
		bk.Number(in[i&1023])
	}
}
