package store_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
)

// TestPlainNumbers: decoded record data comes back with plain Go numbers;
// a number no float64 holds (what older versions stored for 1e400) is
// left out of a field, set to null inside a json value, and reported by
// place with its stored text.
func TestPlainNumbers(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"a":1e400,"b":-1e400,"c":12345678901234567890,"d":9223372036854775807,
		"e":1.5,"f":-0,"g":{"x/y":[1,1e999,"s"],"z":2},"h":[1e400],"i":"1e400"}`))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	var bad store.Unreadable
	got := store.PlainNumbers(m, &bad)
	want := map[string]any{"c": 12345678901234567890.0, "d": int64(9223372036854775807), "e": 1.5, "f": int64(0),
		"g": map[string]any{"x/y": []any{int64(1), nil, "s"}, "z": int64(2)}, "h": []any{nil}, "i": "1e400"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("data %#v\nwant %#v", got, want)
	}
	wantBad := store.Unreadable{"a": "1e400", "b": "-1e400", "g/x~1y/1": "1e999", "h/0": "1e400"}
	if !reflect.DeepEqual(bad, wantBad) {
		t.Errorf("unreadable %v, want %v", bad, wantBad)
	}
	if f := bad.Fields(); !reflect.DeepEqual(f, []string{"a", "b", "g", "h"}) {
		t.Errorf("fields %v", f)
	}
	var none store.Unreadable
	store.PlainNumbers(map[string]any{"a": json.Number("1")}, &none)
	if none != nil {
		t.Errorf("clean data reported %v", none)
	}
}
