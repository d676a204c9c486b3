package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// kindClock keeps, per schedule or date rule, how far its times have been
// fired: the times after it are due.
const kindClock = "workflow_clock"

// Grace is how late a time may fire and still count as on time; a time
// older than this when it is seen came due while no node was running,
// and the rule's missed setting decides what happens to it.
const Grace = time.Minute

type clock struct {
	Version int64     `json:"version"`
	Last    time.Time `json:"last"`
}

// clockOf reads a rule's clock. A rule version seen for the first time
// starts at the moment it was saved: a schedule does not fire for the
// times before it existed, nor a rule switched back on for the times it
// was off.
func (s *Service) clockOf(ctx context.Context, r *Rule) (clock, *store.Doc, error) {
	d, err := s.st.GetDoc(ctx, kindClock, r.ID)
	if errors.Is(err, store.ErrNotFound) {
		return clock{Version: r.Version, Last: r.UpdatedAt}, nil, nil
	}
	if err != nil {
		return clock{}, nil, err
	}
	var c clock
	if err := json.Unmarshal(d.Data, &c); err != nil {
		return clock{}, nil, err
	}
	if c.Version != r.Version {
		c.Version = r.Version
		if r.UpdatedAt.After(c.Last) {
			c.Last = r.UpdatedAt
		}
	}
	return c, d, nil
}

func (s *Service) saveClock(ctx context.Context, id string, c clock, d *store.Doc) error {
	data, _ := json.Marshal(c)
	nd := &store.Doc{Kind: kindClock, ID: id, Version: 1, Data: data}
	if d != nil {
		nd.Version = d.Version + 1
	}
	return s.st.PutDoc(ctx, nd, store.Sides{})
}

// tick fires what came due for every enabled schedule and date rule, and
// reports how many runs it made.
func (s *Service) tick(ctx context.Context, now time.Time) (int, error) {
	ids := make([]string, 0, len(s.rn.rules))
	for id, r := range s.rn.rules {
		if r.Trigger.Type == OnSchedule || r.Trigger.Type == OnDate {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	total := 0
	for _, id := range ids {
		n, err := s.tickRule(ctx, s.rn.rules[id], now)
		total += n
		if err != nil {
			return total, fmt.Errorf("workflow %s: %w", id, err)
		}
	}
	return total, nil
}

// tickRule fires one rule's due times. A panic in it (a bad action
// module, a bug) fails that rule's tick and is logged; the scheduler goes
// on with the others, never stopping.
func (s *Service) tickRule(ctx context.Context, r *Rule, now time.Time) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("workflows: a schedule panicked; the scheduler goes on", "workflow", r.ID, "panic", p)
			n, err = 0, nil
		}
	}()
	c, err := s.rules.get(r)
	if err != nil {
		s.log.Warn("workflows: a schedule's rule does not compile; it does not fire", "workflow", r.ID, "err", err)
		return 0, nil
	}
	clk, doc, err := s.clockOf(ctx, r)
	if err != nil {
		return 0, err
	}
	if !now.After(clk.Last) {
		return 0, nil
	}
	var runs []*Run
	if c.Trigger.Type == OnSchedule {
		runs, err = s.scheduleRuns(ctx, c, clk.Last, now)
	} else {
		runs, err = s.dateRuns(ctx, c, clk.Last, now)
	}
	if err != nil {
		return 0, err
	}
	written, err := s.insertRuns(ctx, runs)
	if err != nil {
		return 0, err
	}
	clk.Last = now
	if err := s.saveClock(ctx, r.ID, clk, doc); err != nil {
		return 0, err
	}
	s.dispatch(written)
	return len(written), nil
}

// scheduleRuns are the runs of a schedule's times in (last, now]: one per
// record the condition selects at each on-time time; of the times missed
// while no node ran, the latest fires once, marked as caught up — or, if
// the rule says skip, one skipped run says so.
func (s *Service) scheduleRuns(ctx context.Context, c *compiled, last, now time.Time) ([]*Run, error) {
	times, count := c.sched.Between(last, now, 100)
	if count == 0 {
		return nil, nil
	}
	var fresh, missed []time.Time
	for _, t := range times {
		if now.Sub(t) > Grace {
			missed = append(missed, t)
		} else {
			fresh = append(fresh, t)
		}
	}
	nMissed := count - len(fresh)
	var runs []*Run
	if nMissed > 0 {
		latest := missed[len(missed)-1]
		note := fmt.Sprintf("%d scheduled time(s) came due while no node was running, the latest at %s", nMissed, ts(latest))
		if c.missed() == MissedSkip {
			run := s.timeRun(c, "sch:"+c.ID+":"+ts(latest)+":missed", nil, latest, now)
			run.Status, run.Missed, run.Note = StatusSkipped, "skipped", note+"; skipped, as the rule says"
			fin := now
			run.FinishedAt = &fin
			runs = append(runs, run)
		} else {
			rs, err := s.fire(ctx, c, latest, now, "caught_up", note+"; caught up once at "+ts(now))
			if err != nil {
				return nil, err
			}
			runs = append(runs, rs...)
		}
	}
	for _, t := range fresh {
		rs, err := s.fire(ctx, c, t, now, "", "")
		if err != nil {
			return nil, err
		}
		runs = append(runs, rs...)
	}
	return runs, nil
}

// fire makes the runs of one scheduled time: one per record the condition
// selects, as the rule's identity may read them.
func (s *Service) fire(ctx context.Context, c *compiled, at, now time.Time, missed, note string) ([]*Run, error) {
	recs, err := s.selectRecords(ctx, c, "", nil)
	if err != nil {
		return nil, err
	}
	runs := make([]*Run, 0, len(recs))
	for _, rec := range recs {
		run := s.timeRun(c, "sch:"+c.ID+":"+ts(at)+":"+rec.ID, plainRecord(c.entity, rec), at, now)
		run.Missed, run.Note = missed, note
		s.held(run, now)
		runs = append(runs, run)
	}
	return runs, nil
}

// selectRecords lists the records of the rule's entity that match its
// condition and extra (a filter over window vars), as the rule's identity
// may read them, in pages, up to the limit.
func (s *Service) selectRecords(ctx context.Context, c *compiled, extra string, vars map[string]any) ([]*store.Record, error) {
	p, err := s.users.principal(ctx, c.RunAs)
	if err != nil {
		return nil, err
	}
	filter := extra
	if c.Condition != "" {
		// Each on its own lines: a comment in the condition ends there.
		filter = "(\n" + c.Condition + "\n)"
		if extra != "" {
			filter += " and " + extra
		}
	}
	sortBy := "id"
	if c.Trigger.Type == OnDate {
		sortBy = c.Trigger.Field + ",id"
	}
	var out []*store.Record
	cursor := ""
	for {
		res, _, err := s.recs.List(ctx, p, c.Entity, records.ListParams{Filter: filter, Sort: sortBy, Limit: records.MaxLimit, Cursor: cursor, Vars: vars})
		if err != nil {
			return nil, err
		}
		out = append(out, res.Items...)
		if res.NextCursor == "" || len(out) >= s.limits.MaxRecords {
			break
		}
		cursor = res.NextCursor
	}
	if len(out) > s.limits.MaxRecords {
		s.log.Warn("workflows: a schedule selects more records than one time may run; the rest wait for the next time",
			"workflow", c.ID, "limit", s.limits.MaxRecords)
		out = out[:s.limits.MaxRecords]
	}
	return out, nil
}

// timeRun is a run of a schedule or date rule for one record (nil: none)
// at a time.
func (s *Service) timeRun(c *compiled, key string, record map[string]any, at, now time.Time) *Run {
	run := &Run{ID: store.NewID(), Key: key, Workflow: c.ID, Version: c.Version, Name: c.Name, Trigger: c.Trigger.Type,
		Entity: c.Entity, Status: StatusQueued, DueAt: now, Depth: 1, CreatedAt: now.UTC().Truncate(time.Millisecond),
		Body: Body{Input: Input{Record: record, At: at}, Steps: []*Step{}}}
	if record != nil {
		run.RecordID, _ = record["id"].(string)
		run.Touched = []string{c.Entity + ":" + run.RecordID}
		if c.cond != nil {
			run.Condition = &Condition{Expression: c.Condition, Result: true}
		}
	}
	return run
}

// --- date_relative ---

// due is when a date rule fires for a record: its field's value (a
// date's day at the rule's time of day, in its time zone) moved by the
// offset; false when the record has no such value.
func (c *compiled) due(rec *store.Record) (time.Time, bool) {
	v, _ := rec.Data[c.Trigger.Field].(string)
	if v == "" {
		return time.Time{}, false
	}
	var base time.Time
	if c.kind == metadata.KindDate {
		d, err := time.ParseInLocation(metadata.DateLayout, v, c.loc)
		if err != nil {
			return time.Time{}, false
		}
		base = d.Add(c.at)
	} else {
		t, err := metadata.ParseDateTime(v)
		if err != nil {
			return time.Time{}, false
		}
		base = t
	}
	return c.offset.From(base, c.loc), true
}

// window is the filter of the records whose due time may fall in (from,
// to]: the field between the bounds moved back by the offset, a day wider
// either way (a calendar day across a DST change is not 24 hours); the
// exact due time is checked on each record found.
func (c *compiled) window(from, to time.Time) (string, map[string]any) {
	back := c.offset.Neg()
	lo, hi := back.From(from, c.loc).Add(-25*time.Hour), back.From(to, c.loc).Add(25*time.Hour)
	f := c.Trigger.Field
	vars := map[string]any{}
	if c.kind == metadata.KindDate {
		vars["wf_from"], vars["wf_to"] = lo.In(c.loc).Format(metadata.DateLayout), hi.In(c.loc).Format(metadata.DateLayout)
	} else {
		vars["wf_from"], vars["wf_to"] = metadata.FormatDateTime(lo), metadata.FormatDateTime(hi)
	}
	return f + " >= wf_from and " + f + " <= wf_to", vars
}

// dated are the records whose due time is in (from, to], with it, by due
// time.
type dated struct {
	rec *store.Record
	at  time.Time
}

func (s *Service) dueIn(ctx context.Context, c *compiled, from, to time.Time) ([]dated, error) {
	filter, vars := c.window(from, to)
	recs, err := s.selectRecords(ctx, c, filter, vars)
	if err != nil {
		return nil, err
	}
	var out []dated
	for _, rec := range recs {
		at, ok := c.due(rec)
		if ok && at.After(from) && !at.After(to) {
			out = append(out, dated{rec, at})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out, nil
}

// dateRuns are the runs of a date rule whose records came due in (last,
// now]: a record's due time moves with its field, so a changed date fires
// at its new time and a deleted record never; a time missed while no
// node ran fires once, caught up, or is logged as skipped.
func (s *Service) dateRuns(ctx context.Context, c *compiled, last, now time.Time) ([]*Run, error) {
	found, err := s.dueIn(ctx, c, last, now)
	if err != nil {
		return nil, err
	}
	runs := make([]*Run, 0, len(found))
	for _, d := range found {
		run := s.timeRun(c, "date:"+c.ID+":"+d.rec.ID+":"+ts(d.at), plainRecord(c.entity, d.rec), d.at, now)
		if now.Sub(d.at) > Grace {
			note := fmt.Sprintf("came due at %s while no node was running", ts(d.at))
			if c.missed() == MissedSkip {
				fin := now
				run.Status, run.Missed, run.Note, run.FinishedAt = StatusSkipped, "skipped", note+"; skipped, as the rule says", &fin
				runs = append(runs, run)
				continue
			}
			run.Missed, run.Note = "caught_up", note+"; caught up at "+ts(now)
		}
		s.held(run, now)
		runs = append(runs, run)
	}
	return runs, nil
}
