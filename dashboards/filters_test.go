package dashboards

import (
	"testing"
	"time"
)

func TestDateRange(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	// 2026-03-31T16:30Z is Wednesday 2026-04-01 00:30 in Shanghai.
	now := time.Date(2026, 3, 31, 16, 30, 0, 0, time.UTC)
	cases := map[string][2]string{
		"today":                  {"2026-04-01", "2026-04-01"},
		"yesterday":              {"2026-03-31", "2026-03-31"},
		"this_week":              {"2026-03-30", "2026-04-05"},
		"last_week":              {"2026-03-23", "2026-03-29"},
		"this_month":             {"2026-04-01", "2026-04-30"},
		"last_month":             {"2026-03-01", "2026-03-31"},
		"this_quarter":           {"2026-04-01", "2026-06-30"},
		"last_quarter":           {"2026-01-01", "2026-03-31"},
		"this_year":              {"2026-01-01", "2026-12-31"},
		"last_year":              {"2025-01-01", "2025-12-31"},
		"last_7_days":            {"2026-03-26", "2026-04-01"},
		"last_30_days":           {"2026-03-03", "2026-04-01"},
		"2026-01-01..2026-01-31": {"2026-01-01", "2026-01-31"},
	}
	for in, want := range cases {
		from, to, err := dateRange(in, now, sh)
		if err != nil || from.Format("2006-01-02") != want[0] || to.Format("2006-01-02") != want[1] || from.Location() != sh {
			t.Errorf("%s: %v..%v %v, want %v", in, from, to, err, want)
		}
	}
	if from, _, _ := dateRange("today", now, time.UTC); from.Format("2006-01-02") != "2026-03-31" {
		t.Errorf("today in UTC: %v", from)
	}
	for _, bad := range []string{"", "tomorrow", "2026-02-01..2026-01-01", "2026-01-01..", "2026-13-01..2026-12-01"} {
		if _, _, err := dateRange(bad, now, sh); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	from, to := previousRange(time.Date(2026, 1, 1, 0, 0, 0, 0, sh), time.Date(2026, 3, 31, 0, 0, 0, 0, sh))
	if from.Format("2006-01-02") != "2025-10-03" || to.Format("2006-01-02") != "2025-12-31" {
		t.Errorf("the period before Q1: %v..%v", from, to)
	}
}

// FuzzDecode: any body is refused with a problem or read into a dashboard
// the schema accepts; never a panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"name":"B","widgets":[{"id":"w","type":"bar","query":{"entity":"deal","group_by":[{"field":"stage"}]}}]}`))
	f.Add([]byte(`{"name":"B","sharing":{"roles":["x"]},"widgets":[]}`))
	f.Add([]byte(`{"name":{"en":"B"},"filters":[{"type":"date","field":"close_date","default":"this_month"}],"widgets":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := decode(body)
		if err == nil && d == nil {
			t.Fatal("no dashboard and no error")
		}
	})
}
