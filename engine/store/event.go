package store

import (
	"bytes"
	"encoding/json"
)

// eventBody is what an event carries besides the columns a store indexes
// or filters on. Both stores keep it as JSON text: its keys are field names
// and values users wrote, which must never reach a database as structure.
type eventBody struct {
	Origin  Origin            `json:"origin"`
	Changes map[string]Change `json:"changes,omitempty"`
	Record  map[string]any    `json:"record,omitempty"`
	Payload map[string]any    `json:"payload,omitempty"`
}

// MarshalEventBody encodes an event's origin, changes, record and payload
// for a store.
func MarshalEventBody(e *Event) ([]byte, error) {
	return json.Marshal(eventBody{Origin: e.Origin, Changes: e.Changes, Record: e.Record, Payload: e.Payload})
}

// UnmarshalEventBody decodes what MarshalEventBody made into e, numbers as
// int64 (when integral) or float64 like record data.
func UnmarshalEventBody(b []byte, e *Event) error {
	if len(b) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var body eventBody
	if err := dec.Decode(&body); err != nil {
		return err
	}
	e.Origin = body.Origin
	e.Record = plainMap(body.Record)
	e.Payload = plainMap(body.Payload)
	if body.Changes != nil {
		e.Changes = make(map[string]Change, len(body.Changes))
		for k, c := range body.Changes {
			// The outbox holds what the pipeline wrote: only numbers the
			// field types accept, so nothing is unreadable here.
			old, _ := plain(c.Old, k, nil)
			cur, _ := plain(c.New, k, nil)
			e.Changes[k] = Change{Old: old, New: cur}
		}
	}
	return nil
}

func plainMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return PlainNumbers(m, nil)
}
