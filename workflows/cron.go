package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser reads five-field specs ("0 9 * * MON"), six with seconds
// first, and descriptors (@daily, @every 1h).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a cron schedule in a time zone whose times fire once each,
// across daylight-saving changes: robfig/cron, asked in the zone itself,
// skips a time that falls in a spring-forward gap (02:30 on the day clocks
// jump from 02:00 to 03:00) and fires twice a time the autumn repeats
// (01:30 EDT, then 01:30 EST). Here the spec runs on the wall clock
// instead (in UTC, which has no DST), and each wall time is placed in the
// zone: a time in a gap fires when the gap ends (02:30 → 03:30 new
// time), a repeated time fires at its first occurrence only, and two wall
// times landing on one instant fire once.
type Schedule struct {
	spec  cron.Schedule
	every bool // @every: a fixed interval, not a wall-clock time
	loc   *time.Location
}

// MaxCronLen caps a cron spec.
const MaxCronLen = 100

// ParseSchedule reads a cron spec for loc. The time zone belongs in the
// rule, not in the spec (CRON_TZ= and TZ= are refused).
func ParseSchedule(spec string, loc *time.Location) (*Schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("the cron spec is empty")
	}
	if len(spec) > MaxCronLen {
		return nil, fmt.Errorf("the cron spec is longer than %d characters", MaxCronLen)
	}
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		return nil, errors.New("put the time zone in the trigger's timezone, not in the cron spec")
	}
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		// robfig/cron rounds an interval under a second up to one: say so
		// rather than run something else than was written.
		if d, err := time.ParseDuration(strings.TrimSpace(rest)); err == nil && d < time.Second {
			return nil, errors.New("an @every interval must be at least 1s")
		}
	}
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("the cron spec %q does not parse: %v", spec, err)
	}
	_, every := s.(cron.ConstantDelaySchedule)
	return &Schedule{spec: s, every: every, loc: loc}, nil
}

// floating is t's wall clock in loc, as the same wall clock in UTC.
func floating(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
}

// place puts a wall time (in UTC) into loc: a time that does not exist
// there (a gap) moves forward by the gap.
func place(w time.Time, loc *time.Location) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
	if got := floating(t, loc); !got.Equal(w) {
		// Go placed it by the offset before the gap, so its wall clock is
		// behind by the gap's length: move it forward that much.
		t = t.Add(w.Sub(got))
	}
	return t
}

// Next is the first time the schedule fires after t (zero: never again).
func (s *Schedule) Next(t time.Time) time.Time {
	if s.every {
		return s.spec.Next(t)
	}
	// Near a change of offset, start a little before t's wall clock: a
	// wall time in a gap just before t is placed after t.
	w := floating(t, s.loc)
	_, before := t.Add(-2 * time.Hour).In(s.loc).Zone()
	if _, now := t.In(s.loc).Zone(); now != before {
		w = w.Add(-2 * time.Hour)
	}
	for range 20000 {
		w = s.spec.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if at := place(w, s.loc); at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// Between lists the times the schedule fires in (after, until], at most
// max of them (the latest ones when there are more), and how many there
// were in all (up to a bound).
func (s *Schedule) Between(after, until time.Time, max int) ([]time.Time, int) {
	var out []time.Time
	n := 0
	for t := s.Next(after); !t.IsZero() && !t.After(until); t = s.Next(t) {
		n++
		out = append(out, t)
		if len(out) > max {
			out = out[1:]
		}
		if n >= 100000 {
			break
		}
	}
	return out, n
}
