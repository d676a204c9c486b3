package workflows

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/jimu-crm/jimu/engine/problem"
)

// FuzzDecodeRule: any body is decoded or refused with a problem (never a
// panic, never a bare error), and what decodes encodes again.
func FuzzDecodeRule(f *testing.F) {
	for _, s := range []string{
		`{"name":"r","entity":"deal","trigger":{"type":"record.created"},"actions":[{"type":"set_fields","values":{"a":"1"}}]}`,
		`{"name":"r","entity":"deal","trigger":{"type":"schedule","cron":"0 9 * * MON","timezone":"Asia/Shanghai"},"actions":[{"type":"notify"}]}`,
		`{"name":"r","entity":"deal","trigger":{"type":"date_relative","field":"d","offset":"-3d","at":"09:00"},"actions":[{}]}`,
		`{}`, `[]`, `null`, `{"name":1}`, `{"actions":[{"type":"x","secret":"********"}]}`, `{"name":"r"} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeRule(body)
		if err != nil {
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Status < 400 || pe.Status >= 500 {
				t.Fatalf("%q: %v is not a client problem", body, err)
			}
			return
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("%q decoded into something that does not encode: %v", body, err)
		}
		for _, a := range r.Actions {
			if _, err := a.config(); err != nil {
				t.Fatalf("%q: an action's configuration: %v", body, err)
			}
		}
	})
}
