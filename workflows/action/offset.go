package action

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxOffset bounds an offset: ten years either way.
const MaxOffset = 10 * 366 * 24 * time.Hour

// Offset is a signed span of days and clock time, "-3d", "30d", "-72h",
// "1d12h", "90m": days are calendar days in the rule's time zone (a day
// across a DST change is 23 or 25 hours), the rest is exact.
type Offset struct {
	Days  int
	Clock time.Duration
}

// ParseOffset reads an offset: an optional sign, then parts each a whole
// number and a unit (d, h, m, s), largest first.
func ParseOffset(s string) (Offset, error) {
	src := s
	s = strings.TrimSpace(s)
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if s == "" {
		return Offset{}, fmt.Errorf("offset %q is empty: write e.g. -3d, 30d, -72h or 90m", src)
	}
	var o Offset
	last := 5
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) || i > 6 {
			return Offset{}, fmt.Errorf("offset %q: each part is a whole number and a unit (d, h, m, s)", src)
		}
		n, _ := strconv.Atoi(s[:i])
		rank := strings.IndexByte("smhd", s[i]) + 1
		if rank == 0 {
			return Offset{}, fmt.Errorf("offset %q: unknown unit %q (use d, h, m or s)", src, s[i])
		}
		if rank >= last {
			return Offset{}, fmt.Errorf("offset %q: write units from days down to seconds, each once", src)
		}
		last = rank
		switch s[i] {
		case 'd':
			o.Days = n
		case 'h':
			o.Clock += time.Duration(n) * time.Hour
		case 'm':
			o.Clock += time.Duration(n) * time.Minute
		case 's':
			o.Clock += time.Duration(n) * time.Second
		}
		s = s[i+1:]
	}
	if o.Days > int(MaxOffset/(24*time.Hour)) || time.Duration(o.Days)*24*time.Hour+o.Clock > MaxOffset {
		return Offset{}, fmt.Errorf("offset %q is more than ten years", src)
	}
	if neg {
		o.Days, o.Clock = -o.Days, -o.Clock
	}
	return o, nil
}

// From is t moved by the offset, days counted on the calendar of loc.
func (o Offset) From(t time.Time, loc *time.Location) time.Time {
	if o.Days != 0 {
		l := t.In(loc)
		t = time.Date(l.Year(), l.Month(), l.Day()+o.Days, l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), loc)
	}
	return t.Add(o.Clock)
}

// Neg is the opposite offset.
func (o Offset) Neg() Offset { return Offset{Days: -o.Days, Clock: -o.Clock} }

// String writes the offset back in the form ParseOffset reads.
func (o Offset) String() string {
	if o.Days == 0 && o.Clock == 0 {
		return "0s"
	}
	sign := ""
	d, c := o.Days, o.Clock
	if d < 0 || c < 0 {
		sign, d, c = "-", -d, -c
	}
	var b strings.Builder
	b.WriteString(sign)
	if d != 0 {
		fmt.Fprintf(&b, "%dd", d)
	}
	for _, u := range []struct {
		d time.Duration
		s string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := c / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.s)
			c -= n * u.d
		}
	}
	return b.String()
}
