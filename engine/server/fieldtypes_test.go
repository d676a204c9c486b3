package server_test

import (
	"testing"
	"time"
)

// TestFieldTypes: every built-in field type accepts, normalizes and
// refuses values as a user of a CRM expects; defaults, formulas and
// auto-numbers are filled by the engine.
func TestFieldTypes(t *testing.T) {
	e := start(t)
	e.do("POST", "/api/v1/meta/entities", map[string]any{"name": "account", "fields": []any{
		map[string]any{"name": "name", "type": "text", "required": true, "pattern": "^[A-Z]"},
		map[string]any{"name": "notes", "type": "long_text"},
		map[string]any{"name": "size", "type": "integer", "default": 10},
		map[string]any{"name": "revenue", "type": "currency"},
		map[string]any{"name": "margin", "type": "percent"},
		map[string]any{"name": "rating", "type": "number", "min": 0, "max": 5},
		map[string]any{"name": "active", "type": "boolean", "default": true},
		map[string]any{"name": "founded", "type": "date"},
		map[string]any{"name": "seen_at", "type": "datetime"},
		map[string]any{"name": "email", "type": "email"},
		map[string]any{"name": "phone", "type": "phone"},
		map[string]any{"name": "site", "type": "url"},
		map[string]any{"name": "tier", "type": "select", "options": []any{map[string]any{"value": "gold", "color": "#d4af37"}, map[string]any{"value": "silver"}}},
		map[string]any{"name": "regions", "type": "multi_select", "options": []any{map[string]any{"value": "east"}, map[string]any{"value": "west"}}},
		map[string]any{"name": "tags", "type": "tags"},
		map[string]any{"name": "parent", "type": "lookup", "target": "account"},
		map[string]any{"name": "manager", "type": "user"},
		map[string]any{"name": "profit", "type": "formula", "formula": "revenue * margin / 100"},
		map[string]any{"name": "number", "type": "auto_number", "format": "ACC-{0000}"},
		map[string]any{"name": "extra", "type": "json"},
		map[string]any{"name": "review_on", "type": "date", "default_expr": "days_ahead(30)"},
	}}, 201, nil)
	var a map[string]any
	e.do("POST", "/api/v1/records/account", map[string]any{
		"name": "  Acme  ", "revenue": 1000.005, "margin": 25, "rating": 4.5, "founded": "1999-12-31",
		"seen_at": "2026-11-25T10:00:00+08:00", "email": " Info@Acme.Example ", "phone": "138 0013 8000",
		"site": "https://acme.example", "tier": "gold", "regions": []any{"east"}, "tags": []any{"a", "b", "a"},
		"extra": map[string]any{"k": []any{1, "x"}},
	}, 201, &a)
	want := map[string]any{
		"name": "Acme", "size": 10.0, "active": true, "revenue": 1000.01, "email": "info@acme.example",
		"phone": "+8613800138000", "seen_at": "2026-11-25T02:00:00.000Z", "profit": 250.0025, "number": "ACC-0001",
		"review_on": time.Now().UTC().AddDate(0, 0, 30).Format("2006-01-02"),
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s: got %#v, want %#v", k, a[k], v)
		}
	}
	if tags := a["tags"].([]any); len(tags) != 2 {
		t.Errorf("tags are a set: %v", tags)
	}
	var b map[string]any
	e.do("POST", "/api/v1/records/account", map[string]any{"name": "Beta", "parent": a["id"]}, 201, &b)
	if b["number"] != "ACC-0002" {
		t.Errorf("auto-number: %v", b["number"])
	}
	bad := map[string]map[string]any{
		"name":    {"name": "lower"},          // pattern
		"rating":  {"name": "X", "rating": 7}, // max
		"founded": {"name": "X", "founded": "31/12/1999"},
		"seen_at": {"name": "X", "seen_at": "yesterday"},
		"email":   {"name": "X", "email": "nope"},
		"phone":   {"name": "X", "phone": "12"},
		"site":    {"name": "X", "site": "javascript:alert(1)"},
		"tier":    {"name": "X", "tier": "bronze"},
		"regions": {"name": "X", "regions": []any{"north"}},
		"size":    {"name": "X", "size": 1.5},
		"active":  {"name": "X", "active": "yes"},
		"parent":  {"name": "X", "parent": "01a214e0-0000-7000-8000-000000000000"},
		"profit":  {"name": "X", "profit": 1},
		"notes":   {"name": "X", "notes": 5},
	}
	for field, body := range bad {
		r := e.raw("POST", "/api/v1/records/account", body)
		if r.Status != 422 || problemFields(t, r)[field] == "" {
			t.Errorf("bad %s: %d %s", field, r.Status, r.Body)
		}
	}
}
