package store

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
)

// PlainNumbers replaces json.Number values inside decoded JSON with int64
// (when written as an integer that int64 holds) or float64, so every
// backend hands the engine the same Go types whatever its driver decoded.
//
// A number no float64 holds (1e400, which Jimu before issue 13 stored for
// an amount of 1e400) cannot be served: JSON has no ±Inf. It is removed
// when it is a field's value and set to null inside a list or object, and
// Unreadable keeps its place and stored text, so the record can still be
// read, listed, changed and deleted, and `jimu doctor` can report it.
func PlainNumbers(m map[string]any, bad *Unreadable) map[string]any {
	for k, v := range m {
		x, ok := plain(v, k, bad)
		if !ok {
			delete(m, k)
			continue
		}
		m[k] = x
	}
	return m
}

// Unreadable maps the place of each stored value that could not be read
// (a field name, or field/pointer inside a json value: "extra/k/0") to
// the value as stored ("1e400", "+Inf", "NaN").
type Unreadable map[string]string

// Add records a value that could not be read; through a nil pointer it
// is dropped silently (aggregate results, which name no record).
func (u *Unreadable) Add(path, stored string) {
	if u == nil {
		return
	}
	if *u == nil {
		*u = Unreadable{}
	}
	(*u)[path] = stored
}

// Fields are the data fields holding unreadable values, sorted.
func (u Unreadable) Fields() []string {
	seen := map[string]bool{}
	var out []string
	for p := range u {
		f, _, _ := strings.Cut(p, "/")
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// Finite reports whether a float64 read from a store can be served.
func Finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// plain converts one decoded value; ok is false when v itself is a number
// that cannot be read.
func plain(v any, path string, bad *Unreadable) (any, bool) {
	switch x := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if i, err := x.Int64(); err == nil {
				return i, true
			}
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || !Finite(f) {
			bad.Add(path, string(x))
			return nil, false
		}
		return f, true
	case float64:
		if !Finite(x) {
			bad.Add(path, strconv.FormatFloat(x, 'g', -1, 64))
			return nil, false
		}
	case []any:
		for i := range x {
			x[i], _ = plain(x[i], path+"/"+strconv.Itoa(i), bad)
		}
	case map[string]any:
		for k, e := range x {
			x[k], _ = plain(e, path+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), bad)
		}
	}
	return v, true
}
