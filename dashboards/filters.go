package dashboards

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// DatePresets are the named ranges a date filter takes, computed in the
// dashboard's time zone.
var DatePresets = []string{"today", "yesterday", "this_week", "last_week", "this_month", "last_month",
	"this_quarter", "last_quarter", "this_year", "last_year", "last_7_days", "last_30_days", "last_90_days", "last_365_days"}

// dateRange reads a date filter's value: a preset, or from..to
// (2006-01-02, both inclusive). The range is the calendar days [from, to]
// in loc, as midnights in loc.
func dateRange(v string, now time.Time, loc *time.Location) (from, to time.Time, err error) {
	n := now.In(loc)
	day := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc)
	if a, b, ok := strings.Cut(v, ".."); ok {
		from, err1 := time.ParseInLocation(metadata.DateLayout, strings.TrimSpace(a), loc)
		to, err2 := time.ParseInLocation(metadata.DateLayout, strings.TrimSpace(b), loc)
		if err1 != nil || err2 != nil || to.Before(from) {
			return time.Time{}, time.Time{}, fmt.Errorf("a date range is from..to with dates YYYY-MM-DD, from not after to, not %q", v)
		}
		return from, to, nil
	}
	weekday := (int(day.Weekday()) + 6) % 7 // Monday 0
	monday := day.AddDate(0, 0, -weekday)
	first := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, loc)
	quarter := time.Date(n.Year(), time.Month((int(n.Month())-1)/3*3+1), 1, 0, 0, 0, 0, loc)
	year := time.Date(n.Year(), 1, 1, 0, 0, 0, 0, loc)
	switch v {
	case "today":
		return day, day, nil
	case "yesterday":
		return day.AddDate(0, 0, -1), day.AddDate(0, 0, -1), nil
	case "this_week":
		return monday, monday.AddDate(0, 0, 6), nil
	case "last_week":
		return monday.AddDate(0, 0, -7), monday.AddDate(0, 0, -1), nil
	case "this_month":
		return first, first.AddDate(0, 1, -1), nil
	case "last_month":
		return first.AddDate(0, -1, 0), first.AddDate(0, 0, -1), nil
	case "this_quarter":
		return quarter, quarter.AddDate(0, 3, -1), nil
	case "last_quarter":
		return quarter.AddDate(0, -3, 0), quarter.AddDate(0, 0, -1), nil
	case "this_year":
		return year, year.AddDate(1, 0, -1), nil
	case "last_year":
		return year.AddDate(-1, 0, 0), year.AddDate(0, 0, -1), nil
	case "last_7_days", "last_30_days", "last_90_days", "last_365_days":
		d, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(v, "last_"), "_days"))
		return day.AddDate(0, 0, -d+1), day, nil
	}
	return time.Time{}, time.Time{}, fmt.Errorf("unknown date range %q (from..to or one of %s)", v, strings.Join(DatePresets, ", "))
}

// previousRange is the range of as many days just before [from, to].
func previousRange(from, to time.Time) (time.Time, time.Time) {
	days := int(to.Sub(from).Hours()/24+0.5) + 1
	return from.AddDate(0, 0, -days), from.AddDate(0, 0, -1)
}

func mustZone(z string) *time.Location {
	loc, err := store.LoadZone(z)
	if err != nil {
		return time.UTC
	}
	return loc
}

// literal writes a value as an expression literal.
func literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		s := strconv.FormatFloat(x, 'f', -1, 64)
		return s
	}
	return strconv.Quote(fmt.Sprint(v))
}

// between is the expression for [start, end) on a date or datetime field;
// start and end are instants (a date field compares their calendar days
// in loc).
func between(field string, kind metadata.Kind, start, end time.Time, loc *time.Location) string {
	if kind == metadata.KindDate {
		a, b := start.In(loc).Format(metadata.DateLayout), end.In(loc).Format(metadata.DateLayout)
		if a == b {
			return fmt.Sprintf("%s == date(%q)", field, a)
		}
		return fmt.Sprintf("%s >= date(%q) and %s < date(%q)", field, a, field, b)
	}
	return fmt.Sprintf("%s >= datetime(%q) and %s < datetime(%q)", field, start.UTC().Format(time.RFC3339), field, end.UTC().Format(time.RFC3339))
}

// and joins expressions, each parenthesized.
func and(parts ...string) string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, "("+p+")")
		}
	}
	return strings.Join(out, " and ")
}
