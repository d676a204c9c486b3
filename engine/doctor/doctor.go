// Package doctor finds what an older Jimu stored that this one cannot
// serve, and repairs it: numbers no JSON carries (1e400 read as ±Inf,
// NaN), integers beyond int64 and other values outside their field type's
// range, and field definitions whose min, max or default the type cannot
// hold. A repaired value is removed (it reads as null), in a write that
// bumps the record's version and commits with an audit entry and an event,
// like any change. `jimu doctor` runs it; `jimu serve` runs the scan once
// per database (see Startup).
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// Finding is one value or definition this version cannot serve.
type Finding struct {
	Entity string
	ID     string // the record; "" for the entity's definition
	Field  string // the field, a place inside a json field ("extra/a/1"), or a definition path
	Stored string // the value as stored
	Reason string
}

func (f Finding) String() string {
	if f.ID == "" {
		return fmt.Sprintf("%s definition %s: %s", f.Entity, f.Field, f.Reason)
	}
	return fmt.Sprintf("%s %s %s: stored %s: %s", f.Entity, f.ID, f.Field, f.Stored, f.Reason)
}

// Report is the outcome of a scan.
type Report struct {
	Entities int
	Records  int // records read
	Findings []Finding
	Repaired int // records rewritten
}

// Options of a scan.
type Options struct {
	// Repair rewrites every record with findings without the values found.
	Repair bool
	// Each, when set, is called with every finding as it is found.
	Each func(Finding)
}

// Actor is the audit actor of repairs: the system, not a user.
const Actor = ""

const pageSize = 500

// Run scans every record of every entity (and every entity's definition).
// A scan reads each record once, in id order, as a list page does.
func Run(ctx context.Context, st store.Store, cat *catalog.Catalog, opt Options) (*Report, error) {
	rep := &Report{}
	found := func(f Finding) {
		rep.Findings = append(rep.Findings, f)
		if opt.Each != nil {
			opt.Each(f)
		}
	}
	for _, e := range cat.List() {
		rep.Entities++
		for _, fe := range e.Entity.Clone().Check(func(name string) bool { _, err := cat.Get(name); return err == nil }) {
			if fe.Code == "out_of_range" {
				found(Finding{Entity: e.Name, Field: fe.Field, Reason: fe.Message})
			}
		}
		after := ""
		for {
			var filter *store.Cond
			if after != "" {
				filter = &store.Cond{Op: store.OpGt, Field: "id", Kind: metadata.KindString, Value: after}
			}
			page, err := st.Find(ctx, e.Name, store.Query{Filter: filter, Sort: []store.SortKey{{Field: "id"}}, Limit: pageSize})
			if err != nil {
				return rep, fmt.Errorf("doctor: read %s: %w", e.Name, err)
			}
			for _, r := range page {
				rep.Records++
				fs := Check(e, r)
				for _, f := range fs {
					found(f)
				}
				if opt.Repair && len(fs) > 0 {
					if err := repair(ctx, st, e, r.ID); err != nil {
						return rep, err
					}
					rep.Repaired++
				}
			}
			if len(page) < pageSize {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return rep, nil
}

// Check lists what record r of e holds that this version cannot serve:
// the values the store could not read, and live numeric or json values
// their field's type refuses (an integer beyond ±(2^53−1), an amount
// beyond the currency range).
func Check(e *catalog.Entity, r *store.Record) []Finding {
	var out []Finding
	for path, stored := range r.Unreadable {
		out = append(out, Finding{Entity: e.Name, ID: r.ID, Field: path, Stored: stored, Reason: "not a number JSON can carry"})
	}
	for _, f := range e.LiveFields() {
		v, ok := r.Data[f.Name]
		if !ok || v == nil {
			continue
		}
		kind, _ := e.KindOf(f.Name)
		if kind != metadata.KindNumber && kind != metadata.KindInteger && f.Type != "json" {
			continue
		}
		if _, err := metadata.Normalize(f, v); err != nil {
			var fe *metadata.FieldError
			if errors.As(err, &fe) && fe.Code == "out_of_range" {
				out = append(out, Finding{Entity: e.Name, ID: r.ID, Field: f.Name, Stored: text(v), Reason: fe.Message})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func text(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// repair rewrites one record without the values Check finds, retrying
// when a concurrent write moved its version.
func repair(ctx context.Context, st store.Store, e *catalog.Entity, id string) error {
	for attempt := 0; ; attempt++ {
		r, err := st.Get(ctx, e.Name, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("doctor: repair %s %s: %w", e.Name, id, err)
		}
		fs := Check(e, r)
		if len(fs) == 0 {
			return nil
		}
		changes := map[string]any{}
		for _, f := range fs {
			// The store already left an unreadable field out (null inside
			// a json value); a readable value out of range goes here.
			if !strings.Contains(f.Field, "/") {
				delete(r.Data, f.Field)
			}
			changes[f.Field] = map[string]any{"stored": f.Stored, "reason": f.Reason}
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		r.Version++
		r.UpdatedAt = now
		r.UpdatedBy = Actor
		err = st.Update(ctx, e.Name, r, store.Sides{
			Audit: &store.AuditEntry{ID: store.NewID(), At: now, Actor: Actor, Action: "record.repair",
				Entity: e.Name, RecordID: id, Changes: changes},
			Event: &store.Event{ID: store.NewID(), Type: "record.updated", Entity: e.Name, RecordID: id,
				Actor: Actor, At: now, Payload: map[string]any{"changes": changes, "repair": true}},
		})
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 3 {
			return fmt.Errorf("doctor: repair %s %s: %w", e.Name, id, err)
		}
	}
}

// The outcome of the last full scan is kept as a system document, so
// `jimu serve` scans a database once (versions from issue 13 on never
// store what the scan looks for), not at every start.
const (
	markKind = "doctor"
	markID   = "numbers"
)

// Mark is the stored outcome of the last full scan.
type Mark struct {
	At       time.Time `json:"at"`
	Records  int       `json:"records"`
	Findings int       `json:"findings"` // left unrepaired
}

// LastScan returns the outcome of the last full scan, or nil if the
// database was never scanned.
func LastScan(ctx context.Context, st store.Store) (*Mark, error) {
	d, err := st.GetDoc(ctx, markKind, markID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Mark
	if err := json.Unmarshal(d.Data, &m); err != nil {
		return nil, fmt.Errorf("doctor: last scan: %w", err)
	}
	return &m, nil
}

// Remember stores the outcome of a full scan.
func Remember(ctx context.Context, st store.Store, rep *Report) error {
	m := Mark{At: time.Now().UTC(), Records: rep.Records}
	for _, f := range rep.Findings {
		// A repairing scan that returned rewrote every record it found
		// something in; definitions are for an admin to fix.
		if f.ID == "" || rep.Repaired == 0 {
			m.Findings++
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	d := &store.Doc{Kind: markKind, ID: markID, Version: 1, Data: data}
	if old, err := st.GetDoc(ctx, markKind, markID); err == nil {
		d.Version = old.Version + 1
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	err = st.PutDoc(ctx, d, store.Sides{})
	if errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrConflict) {
		return nil // another node remembered a scan meanwhile
	}
	return err
}

// maxLogged bounds the findings Startup logs one by one.
const maxLogged = 100

// Startup is what `jimu serve` runs at start: a database never scanned is
// scanned once (reads only; at 1M records this takes a while, so serve
// runs it beside the server), each finding is logged, and the outcome is
// remembered. A database scanned before only gets a warning while the
// last scan left findings unrepaired.
func Startup(ctx context.Context, st store.Store, cat *catalog.Catalog, log *slog.Logger) error {
	m, err := LastScan(ctx, st)
	if err != nil {
		return err
	}
	hint := "they read as empty; run jimu doctor to list them and jimu doctor --repair to remove them"
	if m != nil {
		if m.Findings > 0 {
			log.Warn("stored values this version cannot serve: "+hint, "findings", m.Findings, "scanned_at", m.At)
		}
		return nil
	}
	log.Info("checking stored numbers once (this database was not scanned by jimu doctor yet)")
	logged := 0
	rep, err := Run(ctx, st, cat, Options{Each: func(f Finding) {
		if logged < maxLogged {
			log.Warn("stored value cannot be served", "entity", f.Entity, "id", f.ID, "field", f.Field, "stored", f.Stored, "reason", f.Reason)
		}
		logged++
	}})
	if err != nil {
		return err
	}
	if len(rep.Findings) > 0 {
		log.Warn("stored values this version cannot serve: "+hint, "findings", len(rep.Findings), "records", rep.Records)
	} else {
		log.Info("stored numbers checked", "records", rep.Records)
	}
	return Remember(ctx, st, rep)
}
