package store

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/jimu-crm/jimu/metadata"
)

// eventBody is what an event carries besides the columns a store indexes
// or filters on. Both stores keep it as JSON text: its keys are field names
// and values users wrote, which must never reach a database as structure.
//
// A record event would otherwise hold most values three times: a create's
// changes are the record's fields (old: null), a delete's are the old
// record's (new: null), and the record's system fields repeat the event's
// own columns. The body keeps each once and says what to rebuild from
// what: Set and Cleared name the changes that are a record field set or
// cleared, Same the record's system fields that equal a column, and
// ActorOrigin an origin whose user is the actor; SetAll and ClearedAll
// stand for a Set or Cleared of every field the record has. A create's
// event for a seven-field deal went from 727 bytes to ~300 with Set and
// Same, and to ~230 with SetAll. A body written before these keys existed
// reads as it always did; one written with SetAll does not read right in
// a Jimu from before it.
type eventBody struct {
	Origin  Origin            `json:"origin,omitzero"`
	Changes map[string]Change `json:"changes,omitempty"`
	Record  map[string]any    `json:"record,omitempty"`
	Payload map[string]any    `json:"payload,omitempty"`

	Set         []string `json:"set,omitempty"`
	SetAll      bool     `json:"set_all,omitempty"` // Set is every key of Record but owner (a create's usual case)
	Cleared     []string `json:"cleared,omitempty"`
	ClearedAll  bool     `json:"cleared_all,omitempty"` // Cleared is, as SetAll (a delete's)
	Same        []string `json:"same,omitempty"`
	SameAll     bool     `json:"same_all,omitempty"` // Same is every column (the usual case)
	ActorOrigin bool     `json:"actor_origin,omitempty"`
}

// MarshalEventBody encodes an event's origin, changes, record and payload
// for a store, each value once (eventBody). UnmarshalEventBody, given the
// event's columns (record id, version, actor, at), rebuilds what was left
// out.
func MarshalEventBody(e *Event) ([]byte, error) {
	body, err := bodyOf(e)
	if err != nil {
		return nil, err
	}
	return json.Marshal(body)
}

func bodyOf(e *Event) (eventBody, error) {
	body := eventBody{Origin: e.Origin, Changes: e.Changes, Record: e.Record, Payload: e.Payload}
	if e.Actor != "" && body.Origin.User == e.Actor {
		body.Origin.User, body.ActorOrigin = "", true
	}
	if e.Record != nil {
		if err := compact(&body, e); err != nil {
			return body, err
		}
	}
	return body, nil
}

// BodyFlags are eventBody's flags as bits, for a store that keeps them in
// a column of their own (SQLite): `"set_all":true,"same_all":true,
// "actor_origin":true` were 49 of a create's ~238 bytes.
type BodyFlags uint8

const (
	FlagSetAll BodyFlags = 1 << iota
	FlagClearedAll
	FlagSameAll
	FlagActorOrigin
)

var flagOf = []struct {
	bit BodyFlags
	get func(*eventBody) *bool
}{
	{FlagSetAll, func(b *eventBody) *bool { return &b.SetAll }},
	{FlagClearedAll, func(b *eventBody) *bool { return &b.ClearedAll }},
	{FlagSameAll, func(b *eventBody) *bool { return &b.SameAll }},
	{FlagActorOrigin, func(b *eventBody) *bool { return &b.ActorOrigin }},
}

// MarshalEventBodyFlags is MarshalEventBody with the flags apart: the body
// holds none, f all. UnmarshalEventBodyFlags puts them back.
func MarshalEventBodyFlags(e *Event) ([]byte, BodyFlags, error) {
	body, err := bodyOf(e)
	if err != nil {
		return nil, 0, err
	}
	var f BodyFlags
	for _, fl := range flagOf {
		if p := fl.get(&body); *p {
			f, *p = f|fl.bit, false
		}
	}
	b, err := json.Marshal(body)
	return b, f, err
}

// columnNames are the keys of columns, in order.
var columnNames = []string{"created_at", "created_by", "id", "updated_at", "updated_by", "version"}

// columns are the record's system fields an event's own columns hold.
func columns(e *Event) map[string]any {
	at := metadata.FormatDateTime(e.At)
	return map[string]any{"id": e.RecordID, "version": e.Version, "created_by": e.Actor, "updated_by": e.Actor,
		"created_at": at, "updated_at": at}
}

// compact leaves out of body what e's record and columns already hold; a
// value is left out only when its JSON is byte for byte what the rebuilt
// one would be.
func compact(body *eventBody, e *Event) error {
	rec := make(map[string]any, len(e.Record))
	for k, v := range e.Record {
		rec[k] = v
	}
	for k, v := range columns(e) {
		if cur, ok := rec[k]; ok && e.RecordID != "" {
			same, err := sameJSON(cur, v)
			if err != nil {
				return err
			}
			if same {
				delete(rec, k)
				body.Same = append(body.Same, k)
			}
		}
	}
	var changes map[string]Change
	for k, c := range e.Changes {
		v, inRecord := e.Record[k]
		kind := ""
		switch {
		case !inRecord || v == nil:
		case c.Old == nil && c.New != nil:
			kind = "set"
			if same, err := sameJSON(c.New, v); err != nil || !same {
				kind = ""
			}
		case c.New == nil && c.Old != nil:
			kind = "cleared"
			if same, err := sameJSON(c.Old, v); err != nil || !same {
				kind = ""
			}
		}
		// A rebuilt change reads its value from the record, so the record
		// keeps it even when it is also a column.
		if kind != "" && slices.Contains(body.Same, k) {
			kind = ""
		}
		switch kind {
		case "set":
			body.Set = append(body.Set, k)
		case "cleared":
			body.Cleared = append(body.Cleared, k)
		default:
			if changes == nil {
				changes = map[string]Change{}
			}
			changes[k] = c
		}
	}
	slices.Sort(body.Set)
	slices.Sort(body.Cleared)
	slices.Sort(body.Same)
	if len(body.Same) == len(columnNames) {
		body.Same, body.SameAll = nil, true
	}
	// A create sets every field it has: naming them all again was a
	// quarter of its body (~75 of ~320 bytes for a seven-field deal).
	if len(body.Set) > 0 || len(body.Cleared) > 0 {
		switch all := dataKeys(rec); {
		case slices.Equal(body.Set, all):
			body.Set, body.SetAll = nil, true
		case slices.Equal(body.Cleared, all):
			body.Cleared, body.ClearedAll = nil, true
		}
	}
	body.Record, body.Changes = rec, changes
	return nil
}

// dataKeys are the keys of a record body but owner, sorted: what SetAll
// and ClearedAll stand for. (A create's changes have no owner: the
// pipeline's diff names an owner only when it changes.)
func dataKeys(rec map[string]any) []string {
	out := make([]string, 0, len(rec))
	for k := range rec {
		if k != "owner" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func sameJSON(a, b any) (bool, error) {
	// Two equal strings, or int64s, encode alike: the usual values (ids,
	// versions, times as text) need no encoding, which every record write
	// did twelve times over. (Unequal strings are called different even
	// where invalid UTF-8 would encode alike: the value is then kept in
	// the body, which is never wrong.)
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return x == y, nil
		}
	case int64:
		if y, ok := b.(int64); ok {
			return x == y, nil
		}
	}
	x, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	y, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

// UnmarshalEventBody decodes what MarshalEventBody made into e, numbers as
// int64 (when integral) or float64 like record data. The event's columns
// (RecordID, Version, Actor, At) must be set first: what the body left out
// is rebuilt from them.
func UnmarshalEventBody(b []byte, e *Event) error {
	return UnmarshalEventBodyFlags(b, 0, e)
}

// UnmarshalEventBodyFlags is UnmarshalEventBody of a body whose flags are
// f (MarshalEventBodyFlags) as well as any the body holds itself.
func UnmarshalEventBodyFlags(b []byte, f BodyFlags, e *Event) error {
	if len(b) == 0 && f == 0 {
		return nil
	}
	var body eventBody
	if len(b) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return err
		}
	}
	for _, fl := range flagOf {
		if f&fl.bit != 0 {
			*fl.get(&body) = true
		}
	}
	e.Origin = body.Origin
	if body.ActorOrigin {
		e.Origin.User = e.Actor
	}
	if body.SetAll {
		body.Set = dataKeys(body.Record)
	}
	if body.ClearedAll {
		body.Cleared = dataKeys(body.Record)
	}
	e.Record = plainMap(body.Record)
	e.Payload = plainMap(body.Payload)
	if body.SameAll {
		body.Same = columnNames
	}
	if len(body.Same) > 0 {
		if e.Record == nil {
			e.Record = map[string]any{}
		}
		cols := columns(e)
		for _, k := range body.Same {
			if v, ok := cols[k]; ok {
				e.Record[k] = v
			}
		}
	}
	if body.Changes != nil || len(body.Set) > 0 || len(body.Cleared) > 0 {
		e.Changes = make(map[string]Change, len(body.Changes)+len(body.Set)+len(body.Cleared))
		for k, c := range body.Changes {
			// The outbox holds what the pipeline wrote: only numbers the
			// field types accept, so nothing is unreadable here.
			old, _ := plain(c.Old, k, nil)
			cur, _ := plain(c.New, k, nil)
			e.Changes[k] = Change{Old: old, New: cur}
		}
		// A rebuilt value is a copy: a consumer that edits the record must
		// not change the change set.
		for _, k := range body.Set {
			e.Changes[k] = Change{New: copyValue(e.Record[k])}
		}
		for _, k := range body.Cleared {
			e.Changes[k] = Change{Old: copyValue(e.Record[k])}
		}
	}
	return nil
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = copyValue(v)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, v := range x {
			s[i] = copyValue(v)
		}
		return s
	}
	return v
}

func plainMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return PlainNumbers(m, nil)
}
