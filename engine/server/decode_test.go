package server_test

import (
	"errors"
	"testing"

	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/server"
)

// FuzzDecodeObject: whatever the body, the decoder returns an object or a
// 400 that names the body; it never panics.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{"a":1e400}`, `[1]`, `{"a":{"$ne":1}}`, `{} {}`, `{"a":"\ud800"}`, `null`, `{"a":`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := server.DecodeObject(body)
		if err != nil {
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Status != 400 || len(pe.Errors) == 0 || pe.Errors[0].Field != "body" {
				t.Fatalf("decode error is not a 400 naming the body: %v", err)
			}
			return
		}
		if m == nil {
			t.Fatal("nil object without error")
		}
	})
}
