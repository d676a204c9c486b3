package workflows_test

import (
	"strings"
	"testing"
	"time"
)

// nextMonday9Shanghai is the first Monday 09:00 Asia/Shanghai after t.
func nextMonday9Shanghai(t time.Time) time.Time {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	l := t.In(sh)
	d := time.Date(l.Year(), l.Month(), l.Day(), 9, 0, 0, 0, sh)
	for d.Weekday() != time.Monday || !d.After(t) {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

// TestSchedule: the second example — every Monday 09:00 Shanghai
// time, remind the owners of open deals. Each Monday fires once per
// matching record; Mondays missed while no node ran fire once, caught up
// and marked so, or (per rule) are logged as skipped.
func TestSchedule(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			me := e.me()
			e.deal(map[string]any{"name": "Open A", "stage": "lead"})
			e.deal(map[string]any{"name": "Open B", "stage": "qualified"})
			e.deal(map[string]any{"name": "Closed", "stage": "won"})
			remind := map[string]any{"name": "Monday reminder", "entity": "deal", "enabled": true,
				"trigger":   map[string]any{"type": "schedule", "cron": "0 9 * * MON", "timezone": "Asia/Shanghai"},
				"condition": `stage not in ["won", "lost"]`,
				"actions": []any{map[string]any{"type": "notify", "to": "record.owner",
					"title": "{{ record.name }} has not moved", "body": "It is still {{ record.stage }}."}}}
			id := e.rule(remind)
			remind["name"], remind["trigger"] = "Skipping reminder", map[string]any{"type": "schedule", "cron": "0 9 * * MON", "timezone": "Asia/Shanghai", "missed": "skip"}
			skip := e.rule(remind)

			var pv struct {
				Times    []time.Time
				Count    int
				Matching []map[string]any
			}
			e.Do("GET", "/api/v1/meta/workflows/"+id+"/preview?days=14", nil, 200, &pv)
			first := nextMonday9Shanghai(e.clock.Now())
			if len(pv.Times) != 2 || !pv.Times[0].Equal(first) || pv.Count != 2 {
				t.Fatalf("preview: %+v (first Monday %v)", pv, first)
			}

			e.drain()
			if rs := e.runs("workflow=" + id); len(rs) != 0 {
				t.Fatalf("fired before Monday: %+v", rs)
			}
			e.clock.Set(first.Add(2 * time.Second))
			e.drain()
			e.drain() // the same time does not fire twice
			rs := e.runs("workflow=" + id)
			if len(rs) != 2 {
				t.Fatalf("Monday runs: %+v", rs)
			}
			for _, r := range rs {
				if r.Status != "succeeded" || r.Trigger != "schedule" || r.Missed != "" || r.Input.Record["stage"] == "won" {
					t.Fatalf("run: %+v", r)
				}
			}
			var inbox struct{ Items []map[string]any }
			e.Do("GET", "/api/v1/notifications", nil, 200, &inbox)
			if len(inbox.Items) != 4 || !strings.HasSuffix(inbox.Items[0]["title"].(string), "has not moved") || inbox.Items[0]["user"] != me {
				t.Fatalf("inbox (two rules, two deals): %+v", inbox.Items)
			}

			// Three Mondays pass with no node running.
			e.clock.Set(first.Add(3*7*24*time.Hour + time.Hour))
			e.drain()
			rs = e.runs("workflow=" + id)
			if len(rs) != 4 {
				t.Fatalf("after three missed Mondays: %d runs, want 2 more (one per deal, once)", len(rs))
			}
			for _, r := range rs[:2] {
				if r.Missed != "caught_up" || !strings.Contains(r.Note, "3 scheduled time(s) came due while no node was running") {
					t.Fatalf("caught-up run: %+v", r)
				}
			}
			sk := e.runs("workflow=" + skip)
			if len(sk) != 3 || sk[0].Status != "skipped" || sk[0].Missed != "skipped" || !strings.Contains(sk[0].Note, "skipped, as the rule says") {
				t.Fatalf("skip rule: %+v", sk)
			}
		})
	}
}

// TestDateRelative: the third example's shape — a date rule fires
// an offset from a date field, in the rule's time zone; a changed date
// fires at its new time and not its old, a deleted record never; the
// preview lists what will fire and when.
func TestDateRelative(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			e := start(t, open(t))
			e.deals()
			sh, _ := time.LoadLocation("Asia/Shanghai")
			now := e.clock.Now().In(sh)
			day := func(n int) string { return now.AddDate(0, 0, n).Format("2006-01-02") }
			at := func(n int) time.Time { // 3 days before close date n, 09:00 Shanghai
				d, _ := time.ParseInLocation("2006-01-02", day(n), sh)
				return d.AddDate(0, 0, -3).Add(9 * time.Hour)
			}
			a := e.deal(map[string]any{"name": "A", "close_date": day(10)})
			b := e.deal(map[string]any{"name": "B", "close_date": day(12)})
			c := e.deal(map[string]any{"name": "C", "close_date": day(14)})
			e.deal(map[string]any{"name": "No date"})
			id := e.rule(map[string]any{"name": "3 days before close", "entity": "deal", "enabled": true, "timezone": "Asia/Shanghai",
				"trigger": map[string]any{"type": "date_relative", "field": "close_date", "offset": "-3d", "at": "09:00"},
				"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"touches": "(record.touches ?? 0) + 1"}}}})
			var pv struct {
				Fires []struct {
					At       time.Time
					RecordID string `json:"record_id"`
				}
			}
			e.Do("GET", "/api/v1/meta/workflows/"+id+"/preview?days=30", nil, 200, &pv)
			if len(pv.Fires) != 3 || pv.Fires[0].RecordID != a["id"] || !pv.Fires[0].At.Equal(at(10)) || !pv.Fires[2].At.Equal(at(14)) {
				t.Fatalf("preview: %+v, want A at %v", pv.Fires, at(10))
			}
			// B moves two days later; C is deleted.
			e.Do("PATCH", "/api/v1/records/deal/"+b["id"].(string), map[string]any{"close_date": day(16)}, 200, nil)
			e.Do("DELETE", "/api/v1/records/deal/"+c["id"].(string), nil, 204, nil)
			for _, step := range []struct {
				to   time.Time
				runs int
			}{{at(10).Add(time.Second), 1}, {at(12).Add(time.Second), 1}, {at(14).Add(time.Second), 1}, {at(16).Add(time.Second), 2}} {
				e.clock.Set(step.to)
				e.drain()
				if rs := e.runs("workflow=" + id); len(rs) != step.runs {
					t.Fatalf("at %v: %d runs, want %d: %+v", step.to, len(rs), step.runs, rs)
				}
			}
			rs := e.runs("workflow=" + id)
			if rs[0].RecordID != b["id"] || rs[1].RecordID != a["id"] || rs[0].Status != "succeeded" {
				t.Fatalf("runs: %+v", rs)
			}
		})
	}
}

// TestScheduleKeepsGoing: a schedule whose action panics fails that run;
// the scheduler fires the other schedules then and every time after.
func TestScheduleKeepsGoing(t *testing.T) {
	e := start(t, stores["sqlite"](t))
	e.deals()
	e.deal(map[string]any{"name": "A", "stage": "lead"})
	bad := e.rule(map[string]any{"name": "bad", "entity": "deal", "enabled": true,
		"trigger": map[string]any{"type": "schedule", "cron": "*/10 * * * *"}, "actions": []any{map[string]any{"type": "test_panic"}}})
	good := e.rule(map[string]any{"name": "good", "entity": "deal", "enabled": true,
		"trigger": map[string]any{"type": "schedule", "cron": "*/10 * * * *"},
		"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"score": "5"}}}})
	for i := 1; i <= 3; i++ {
		e.clock.Add(10 * time.Minute)
		e.drain()
		if b, g := e.runs("workflow="+bad), e.runs("workflow="+good); len(b) != i || len(g) != i || b[0].Status != "failed" || g[0].Status != "succeeded" {
			t.Fatalf("round %d: bad %+v, good %+v", i, b, g)
		}
	}
}

// TestDateMissed: date times that came due while no node ran fire once,
// marked caught up, or are logged as skipped.
func TestDateMissed(t *testing.T) {
	e := start(t, stores["sqlite"](t))
	e.deals()
	day := e.clock.Now().AddDate(0, 0, 5).Format("2006-01-02")
	d := e.deal(map[string]any{"name": "A", "close_date": day})
	rule := func(missed string) string {
		return e.rule(map[string]any{"name": missed, "entity": "deal", "enabled": true,
			"trigger": map[string]any{"type": "date_relative", "field": "close_date", "offset": "-1d", "missed": missed},
			"actions": []any{map[string]any{"type": "set_fields", "values": map[string]any{"touches": "(record.touches ?? 0) + 1"}}}})
	}
	up, skip := rule("catch_up"), rule("skip")
	e.clock.Add(10 * 24 * time.Hour) // the node was down over the due time
	e.drain()
	if rs := e.runs("workflow=" + up); len(rs) != 1 || rs[0].Status != "succeeded" || rs[0].Missed != "caught_up" || !strings.Contains(rs[0].Note, "while no node was running") {
		t.Fatalf("catch up: %+v", rs)
	}
	if rs := e.runs("workflow=" + skip); len(rs) != 1 || rs[0].Status != "skipped" || rs[0].Missed != "skipped" {
		t.Fatalf("skip: %+v", rs)
	}
	var rec map[string]any
	e.Do("GET", "/api/v1/records/deal/"+d["id"].(string), nil, 200, &rec)
	if rec["touches"] != float64(1) {
		t.Fatalf("touches %v", rec["touches"])
	}
}
