package store

import (
	"encoding/json"
	"strings"
)

// PlainNumbers replaces json.Number values inside decoded JSON with int64
// (when integral) or float64, so every backend hands the engine the same Go
// types whatever its driver decoded.
func PlainNumbers(m map[string]any) map[string]any {
	for k, v := range m {
		m[k] = plain(v)
	}
	return m
}

func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if i, err := x.Int64(); err == nil {
				return i
			}
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = plain(x[i])
		}
	case map[string]any:
		return PlainNumbers(x)
	}
	return v
}
