package store

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Buckets are the date buckets an aggregate may group by, as in
// "close_date:month". Keys are strings that sort in time order:
// 2026-03-14T09 (hour), 2026-03-14 (day), 2026-W11 (ISO week),
// 2026-03 (month), 2026-Q1 (quarter), 2026 (year).
var Buckets = []string{"hour", "day", "week", "month", "quarter", "year"}

// Bucketer turns stored date and datetime strings into bucket keys in one
// time zone. A datetime (2006-01-02T15:04:05.000Z, decision 3) is an
// instant: it is shifted by the zone's offset at that instant, so the
// bucket is the local calendar's, across daylight-saving changes. A date
// (2006-01-02) is a calendar day already and is bucketed as it is; its
// hour bucket is T00. Bucketers are shared, so they hold no per-call
// state but a lock-free cache of the zone period last seen.
type Bucketer struct {
	unit string
	loc  *time.Location
	utc  bool

	mu     sync.Mutex
	period zonePeriod
	names  map[int64]string
}

type zonePeriod struct {
	start, end int64 // unix seconds, [start, end)
	offset     int64
}

var bucketers sync.Map // unit + "\x00" + zone → *Bucketer

// BucketerFor is the shared bucketer for a unit and an IANA zone name
// ("" is UTC).
func BucketerFor(unit, zone string) (*Bucketer, error) {
	key := unit + "\x00" + zone
	if b, ok := bucketers.Load(key); ok {
		return b.(*Bucketer), nil
	}
	ok := false
	for _, u := range Buckets {
		ok = ok || u == unit
	}
	if !ok {
		return nil, fmt.Errorf("unknown date bucket %q", unit)
	}
	loc, err := LoadZone(zone)
	if err != nil {
		return nil, err
	}
	b := &Bucketer{unit: unit, loc: loc, utc: loc == time.UTC, names: map[int64]string{}}
	b.period.end = b.period.start // empty: the first instant looks the zone up
	v, _ := bucketers.LoadOrStore(key, b)
	return v.(*Bucketer), nil
}

// LoadZone loads an IANA zone; "" and "UTC" are UTC.
func LoadZone(zone string) (*time.Location, error) {
	if zone == "" || zone == "UTC" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "Local" {
		return nil, fmt.Errorf("unknown time zone %q", zone)
	}
	return loc, nil
}

// Unit is the bucket's unit.
func (b *Bucketer) Unit() string { return b.unit }

// Key is the bucket of a stored date or datetime; ok is false for a
// value that is neither (it then groups as null).
func (b *Bucketer) Key(s string) (string, bool) {
	n, ok := b.Number(s)
	if !ok {
		return "", false
	}
	b.mu.Lock()
	name, hit := b.names[n]
	if !hit {
		name = b.name(n)
		if len(b.names) < 1<<16 {
			b.names[n] = name
		}
	}
	b.mu.Unlock()
	return name, true
}

// Number is the bucket as an integer that orders like its key:
// hours, days since 1970-01-01 (local), year*100+week, year*12+month-1,
// year*4+quarter-1, year.
func (b *Bucketer) Number(s string) (int64, bool) {
	y, mo, d, ok := digitsDate(s)
	if !ok {
		return 0, false
	}
	days := daysFromCivil(y, mo, d)
	hour := days * 24
	switch len(s) {
	case 10: // a date: no zone
	case 24, 20, 19:
		// 2006-01-02T15:04:05(.000)(Z): an instant in UTC.
		if s[10] != 'T' || s[13] != ':' || s[16] != ':' {
			return 0, false
		}
		h, ok1 := two(s[11:13])
		mi, ok2 := two(s[14:16])
		se, ok3 := two(s[17:19])
		if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || se > 60 {
			return 0, false
		}
		sec := days*86400 + int64(h)*3600 + int64(mi)*60 + int64(se)
		if !b.utc {
			sec += b.offset(sec)
		}
		days = floorDiv(sec, 86400)
		hour = floorDiv(sec, 3600)
		if b.unit != "hour" && b.unit != "day" && b.unit != "week" {
			y, mo, _ = civilFromDays(days)
		}
	default:
		return 0, false
	}
	switch b.unit {
	case "hour":
		return hour, true
	case "day":
		return days, true
	case "week":
		t := time.Unix(days*86400, 0).UTC()
		iy, iw := t.ISOWeek()
		return int64(iy)*100 + int64(iw), true
	case "month":
		return int64(y)*12 + int64(mo) - 1, true
	case "quarter":
		return int64(y)*4 + int64(mo-1)/3, true
	}
	return int64(y), true
}

// Name is the key of a bucket Number.
func (b *Bucketer) Name(n int64) string {
	b.mu.Lock()
	name, hit := b.names[n]
	b.mu.Unlock()
	if hit {
		return name
	}
	return b.name(n)
}

func (b *Bucketer) name(n int64) string {
	switch b.unit {
	case "hour":
		t := time.Unix(n*3600, 0).UTC()
		return t.Format("2006-01-02T15")
	case "day":
		return time.Unix(n*86400, 0).UTC().Format("2006-01-02")
	case "week":
		return fmt.Sprintf("%04d-W%02d", floorDiv(n, 100), n-floorDiv(n, 100)*100)
	case "month":
		return fmt.Sprintf("%04d-%02d", floorDiv(n, 12), n-floorDiv(n, 12)*12+1)
	case "quarter":
		return fmt.Sprintf("%04d-Q%d", floorDiv(n, 4), n-floorDiv(n, 4)*4+1)
	}
	return fmt.Sprintf("%04d", n)
}

// offset is the zone's offset in seconds at the UTC instant sec. The
// period around the last instant looked up is kept: rows of one board
// mostly fall in a few periods, and ZoneBounds costs a search of the
// zone's transitions.
func (b *Bucketer) offset(sec int64) int64 {
	b.mu.Lock()
	p := b.period
	b.mu.Unlock()
	if sec >= p.start && sec < p.end {
		return p.offset
	}
	t := time.Unix(sec, 0).In(b.loc)
	_, off := t.Zone()
	start, end := t.ZoneBounds()
	p = zonePeriod{start: minInt64, end: maxInt64, offset: int64(off)}
	if !start.IsZero() {
		p.start = start.Unix()
	}
	if !end.IsZero() {
		p.end = end.Unix()
	}
	b.mu.Lock()
	b.period = p
	b.mu.Unlock()
	return p.offset
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)

// Next is the bucket after key, for filling empty buckets; ok is false
// for a key this bucketer did not make.
func (b *Bucketer) Next(key string) (string, bool) {
	n, ok := b.parseName(key)
	if !ok {
		return "", false
	}
	if b.unit == "week" {
		// Week numbers do not run on: step through the calendar.
		t := isoWeekStart(int(floorDiv(n, 100)), int(n-floorDiv(n, 100)*100)).AddDate(0, 0, 7)
		y, w := t.ISOWeek()
		return b.name(int64(y)*100 + int64(w)), true
	}
	return b.name(n + 1), true
}

func (b *Bucketer) parseName(key string) (int64, bool) {
	switch b.unit {
	case "hour":
		t, err := time.Parse("2006-01-02T15", key)
		return floorDiv(t.Unix(), 3600), err == nil
	case "day":
		t, err := time.Parse("2006-01-02", key)
		return floorDiv(t.Unix(), 86400), err == nil
	case "week":
		if len(key) != 8 || key[4:6] != "-W" {
			return 0, false
		}
		y, err1 := strconv.Atoi(key[:4])
		w, err2 := strconv.Atoi(key[6:])
		return int64(y)*100 + int64(w), err1 == nil && err2 == nil && w >= 1 && w <= 53
	case "month":
		t, err := time.Parse("2006-01", key)
		return int64(t.Year())*12 + int64(t.Month()) - 1, err == nil
	case "quarter":
		if len(key) != 7 || key[4:6] != "-Q" || key[6] < '1' || key[6] > '4' {
			return 0, false
		}
		y, err := strconv.Atoi(key[:4])
		return int64(y)*4 + int64(key[6]-'1'), err == nil
	}
	y, err := strconv.Atoi(key)
	return int64(y), err == nil && len(key) == 4
}

// Start is the first instant of a bucket key in the bucketer's zone, for
// drill-down filters.
func (b *Bucketer) Start(key string) (time.Time, bool) {
	n, ok := b.parseName(key)
	if !ok {
		return time.Time{}, false
	}
	var y, mo, d, h int
	switch b.unit {
	case "hour":
		t := time.Unix(n*3600, 0).UTC()
		y, mo, d, h = t.Year(), int(t.Month()), t.Day(), t.Hour()
	case "day":
		t := time.Unix(n*86400, 0).UTC()
		y, mo, d = t.Year(), int(t.Month()), t.Day()
	case "week":
		t := isoWeekStart(int(floorDiv(n, 100)), int(n-floorDiv(n, 100)*100))
		y, mo, d = t.Year(), int(t.Month()), t.Day()
	case "month":
		y, mo, d = int(floorDiv(n, 12)), int(n-floorDiv(n, 12)*12)+1, 1
	case "quarter":
		y, mo, d = int(floorDiv(n, 4)), int(n-floorDiv(n, 4)*4)*3+1, 1
	default:
		y, mo, d = int(n), 1, 1
	}
	return time.Date(y, time.Month(mo), d, h, 0, 0, 0, b.loc), true
}

// isoWeekStart is the Monday of ISO week w of year y (UTC midnight).
func isoWeekStart(y, w int) time.Time {
	jan4 := time.Date(y, 1, 4, 0, 0, 0, 0, time.UTC)
	wd := (int(jan4.Weekday()) + 6) % 7 // Monday 0
	return jan4.AddDate(0, 0, -wd+(w-1)*7)
}

func digitsDate(s string) (y, mo, d int, ok bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y4, ok1 := two(s[0:2])
	y2, ok2 := two(s[2:4])
	mo, ok3 := two(s[5:7])
	d, ok4 := two(s[8:10])
	if !ok1 || !ok2 || !ok3 || !ok4 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return 0, 0, 0, false
	}
	return y4*100 + y2, mo, d, true
}

func two(s string) (int, bool) {
	a, b := s[0]-'0', s[1]-'0'
	if a > 9 || b > 9 {
		return 0, false
	}
	return int(a)*10 + int(b), true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// daysFromCivil and civilFromDays are Howard Hinnant's algorithms: days
// since 1970-01-01 of a proleptic Gregorian date and back.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(int64(y), 400)
	yoe := int64(y) - era*400
	mp := int64(m+9) % 12
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func civilFromDays(z int64) (int, int, int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}
