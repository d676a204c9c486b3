package metadata

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// The built-in field types. Each is small; the registry is what the rest of
// Jimu sees, so a plugin's type is served exactly like these.
func init() {
	for _, t := range []FieldType{
		textType{name: "text", maxDefault: 1000},
		textType{name: "long_text", maxDefault: 100000},
		numberType{name: "number"},
		numberType{name: "currency"},
		numberType{name: "percent"},
		integerType{},
		booleanType{},
		dateType{},
		datetimeType{},
		emailType{},
		phoneType{},
		urlType{},
		selectType{},
		multiSelectType{},
		tagsType{},
		lookupType{},
		userType{},
		formulaType{},
		autoNumberType{},
		jsonType{},
	} {
		RegisterType(t)
	}
}

// DateLayout and DateTimeLayout are the stored forms of dates and datetimes:
// fixed-width, so comparing strings compares instants on every store.
const (
	DateLayout     = "2006-01-02"
	DateTimeLayout = "2006-01-02T15:04:05.000Z"
)

type base struct{}

func (base) Check(*Entity, *Field) error { return nil }

// minMax adds the field's min and max to its schema, narrowed to what the
// type holds, so the published contract states the whole range. The
// float64 range is left implicit: JSON numbers beyond it do not exist.
func minMax(f *Field, t Ranged, s map[string]any) map[string]any {
	lo, hi := t.Range(f)
	if lo != -math.MaxFloat64 {
		s["minimum"] = lo
	}
	if hi != math.MaxFloat64 {
		s["maximum"] = hi
	}
	if f.Min != nil && *f.Min > lo {
		s["minimum"] = *f.Min
	}
	if f.Max != nil && *f.Max < hi {
		s["maximum"] = *f.Max
	}
	return s
}

func trimString(v any) any {
	if s, ok := v.(string); ok {
		return strings.TrimSpace(s)
	}
	return v
}

// --- text, long_text ---

type textType struct {
	base
	name       string
	maxDefault int
}

func (t textType) Name() string { return t.name }
func (textType) Kind() Kind     { return KindString }
func (t textType) Check(_ *Entity, f *Field) error {
	if f.Pattern != "" {
		if _, err := regexp.Compile(f.Pattern); err != nil {
			return fieldErr(f, "pattern", "pattern does not compile: %v", err)
		}
	}
	if f.MaxLength < 0 {
		return fieldErr(f, "max_length", "max_length cannot be negative")
	}
	return nil
}
func (t textType) Schema(f *Field) map[string]any {
	s := map[string]any{"type": "string"}
	max := t.maxDefault
	if f.MaxLength > 0 {
		max = f.MaxLength
	}
	s["maxLength"] = max
	if f.Pattern != "" {
		s["pattern"] = f.Pattern
	}
	return s
}
func (textType) Normalize(_ *Field, v any) (any, error) { return trimString(v), nil }

// --- number, currency, percent ---

type numberType struct {
	base
	name string
}

func (t numberType) Name() string { return t.name }
func (numberType) Kind() Kind     { return KindNumber }
func (t numberType) Schema(f *Field) map[string]any {
	return minMax(f, t, map[string]any{"type": "number"})
}
func (t numberType) Range(*Field) (float64, float64) {
	if t.name == "currency" {
		return -MaxCurrency, MaxCurrency
	}
	return -math.MaxFloat64, math.MaxFloat64
}

// Normalize stores a number as the nearest float64 (0 for −0) and refuses
// what no float64 holds. Currency is rounded to the cent from the decimal
// the client wrote, half away from zero, within ±MaxCurrency. Anything
// else (a string such as "12") is left for the schema's type error.
func (t numberType) Normalize(f *Field, v any) (any, error) {
	if !isNumber(v) {
		return v, nil
	}
	if t.name == "currency" {
		d, ok := decimalOf(v)
		if !ok {
			if n, isJSON := v.(json.Number); isJSON {
				return nil, fieldErr(f, "type", "%q is not a number", clip(string(n)))
			}
			return nil, rangeErr(f, "", numberText(v), "an amount must be finite")
		}
		c, fits := d.cents()
		if !fits || c > MaxCurrencyCents || c < -MaxCurrencyCents {
			return nil, rangeErr(f, "", numberText(v), fmt.Sprintf("an amount must be between %.2f and %.2f", -MaxCurrency, MaxCurrency))
		}
		// c is exact in a float64 and the division is correctly rounded:
		// the result is the float64 nearest the rounded amount.
		return float64(c) / 100, nil
	}
	switch n := v.(type) {
	case json.Number:
		return parseFloat(f, string(n), "")
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, rangeErr(f, "", formatFloat(n), "a number must be finite")
		}
		return n + 0, nil
	case float32:
		return t.Normalize(f, float64(n))
	case int64:
		return float64(n), nil
	case int:
		return float64(n), nil
	case int32:
		return float64(n), nil
	}
	return v, nil
}

// --- integer ---

type integerType struct{ base }

func (integerType) Name() string { return "integer" }
func (integerType) Kind() Kind   { return KindInteger }
func (t integerType) Schema(f *Field) map[string]any {
	return minMax(f, t, map[string]any{"type": "integer"})
}
func (integerType) Range(*Field) (float64, float64) { return -MaxInteger, MaxInteger }

// Normalize stores a whole number (1, 1.0, 1e3) as an int64 within
// ±MaxInteger, judged on the decimal as written: 12345678901234567890 is
// refused, not rounded, and 1e-400 is not a whole number.
func (integerType) Normalize(f *Field, v any) (any, error) {
	if !isNumber(v) {
		return v, nil
	}
	d, ok := decimalOf(v)
	if !ok {
		if n, isJSON := v.(json.Number); isJSON {
			return nil, fieldErr(f, "type", "%q is not a number", clip(string(n)))
		}
		return nil, rangeErr(f, "", numberText(v), "an integer must be finite")
	}
	n, whole, fits := d.integer()
	if !whole {
		return nil, fieldErr(f, "type", "%s is not a whole number", clip(numberText(v)))
	}
	if !fits || n > MaxInteger || n < -MaxInteger {
		return nil, rangeErr(f, "", numberText(v), fmt.Sprintf("an integer must be between %d and %d", -MaxInteger, MaxInteger))
	}
	return n, nil
}

// --- boolean ---

type booleanType struct{ base }

func (booleanType) Name() string                           { return "boolean" }
func (booleanType) Kind() Kind                             { return KindBoolean }
func (booleanType) Schema(*Field) map[string]any           { return map[string]any{"type": "boolean"} }
func (booleanType) Normalize(_ *Field, v any) (any, error) { return v, nil }

// --- date, datetime ---

type dateType struct{ base }

func (dateType) Name() string { return "date" }
func (dateType) Kind() Kind   { return KindDate }
func (dateType) Schema(*Field) map[string]any {
	return map[string]any{"type": "string", "format": "date"}
}
func (dateType) Normalize(f *Field, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	s = strings.TrimSpace(s)
	if t, err := time.Parse(DateLayout, s); err == nil {
		return t.Format(DateLayout), nil
	}
	return nil, fieldErr(f, "format", "%q is not a date (YYYY-MM-DD)", s)
}

type datetimeType struct{ base }

func (datetimeType) Name() string { return "datetime" }
func (datetimeType) Kind() Kind   { return KindDateTime }
func (datetimeType) Schema(*Field) map[string]any {
	return map[string]any{"type": "string", "format": "date-time"}
}
func (datetimeType) Normalize(f *Field, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	t, err := ParseDateTime(s)
	if err != nil {
		return nil, fieldErr(f, "format", "%q is not a date-time (RFC 3339, e.g. 2026-01-02T15:04:05Z)", s)
	}
	return FormatDateTime(t), nil
}

// ParseDateTime reads an RFC 3339 date-time, or a bare date as midnight UTC.
func ParseDateTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(DateLayout, s)
}

// FormatDateTime is the stored form of an instant.
func FormatDateTime(t time.Time) string { return t.UTC().Format(DateTimeLayout) }

// --- email, phone, url ---

var emailRE = regexp.MustCompile(`^[^\s@]+@[^\s@]+\.[^\s@]+$`)

type emailType struct{ base }

func (emailType) Name() string { return "email" }
func (emailType) Kind() Kind   { return KindString }
func (emailType) Schema(*Field) map[string]any {
	return map[string]any{"type": "string", "format": "email", "maxLength": 254}
}
func (emailType) Normalize(f *Field, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if !emailRE.MatchString(s) {
		return nil, fieldErr(f, "format", "%q is not an e-mail address", s)
	}
	return s, nil
}

type phoneType struct{ base }

func (phoneType) Name() string { return "phone" }
func (phoneType) Kind() Kind   { return KindString }
func (phoneType) Schema(*Field) map[string]any {
	return map[string]any{"type": "string", "pattern": `^\+[1-9][0-9]{6,14}$`}
}
func (phoneType) Normalize(f *Field, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	region := f.Region
	if region == "" {
		region = "CN"
	}
	num, err := phonenumbers.Parse(s, strings.ToUpper(region))
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return nil, fieldErr(f, "format", "%q is not a phone number", s)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

type urlType struct{ base }

func (urlType) Name() string { return "url" }
func (urlType) Kind() Kind   { return KindString }
func (urlType) Schema(*Field) map[string]any {
	return map[string]any{"type": "string", "maxLength": 2048}
}
func (urlType) Normalize(f *Field, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fieldErr(f, "format", "%q is not an http(s) URL", s)
	}
	return s, nil
}

// --- select, multi_select, tags ---

func checkOptions(f *Field) error {
	if len(f.Options) == 0 {
		return fieldErr(f, "options", "a %s field needs at least one option", f.Type)
	}
	seen := map[string]bool{}
	for _, o := range f.Options {
		if strings.TrimSpace(o.Value) == "" {
			return fieldErr(f, "options", "an option has an empty value")
		}
		if seen[o.Value] {
			return fieldErr(f, "options", "option %q appears twice", o.Value)
		}
		seen[o.Value] = true
	}
	return nil
}

func optionValues(f *Field) []any {
	out := make([]any, len(f.Options))
	for i, o := range f.Options {
		out[i] = o.Value
	}
	return out
}

type selectType struct{}

func (selectType) Name() string                    { return "select" }
func (selectType) Kind() Kind                      { return KindString }
func (selectType) Check(_ *Entity, f *Field) error { return checkOptions(f) }
func (selectType) Schema(f *Field) map[string]any {
	return map[string]any{"type": "string", "enum": optionValues(f)}
}
func (selectType) Normalize(_ *Field, v any) (any, error) { return trimString(v), nil }

type multiSelectType struct{}

func (multiSelectType) Name() string                    { return "multi_select" }
func (multiSelectType) Kind() Kind                      { return KindList }
func (multiSelectType) Check(_ *Entity, f *Field) error { return checkOptions(f) }
func (multiSelectType) Schema(f *Field) map[string]any {
	return map[string]any{"type": "array", "uniqueItems": true,
		"items": map[string]any{"type": "string", "enum": optionValues(f)}}
}
func (multiSelectType) Normalize(_ *Field, v any) (any, error) { return trimList(v), nil }

type tagsType struct{ base }

func (tagsType) Name() string { return "tags" }
func (tagsType) Kind() Kind   { return KindList }
func (tagsType) Schema(*Field) map[string]any {
	return map[string]any{"type": "array", "maxItems": 100,
		"items": map[string]any{"type": "string", "minLength": 1, "maxLength": 100}}
}
func (tagsType) Normalize(_ *Field, v any) (any, error) {
	list, ok := trimList(v).([]any)
	if !ok {
		return v, nil
	}
	// Tags are a set: duplicates are dropped, first spelling kept.
	seen := map[string]bool{}
	out := list[:0]
	for _, x := range list {
		s, ok := x.(string)
		if ok && seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, x)
	}
	return out, nil
}

func trimList(v any) any {
	list, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(list))
	for i, x := range list {
		out[i] = trimString(x)
	}
	return out
}

// --- lookup, user ---

type lookupType struct{}

func (lookupType) Name() string { return "lookup" }
func (lookupType) Kind() Kind   { return KindString }
func (lookupType) Check(_ *Entity, f *Field) error {
	if f.Target == "" {
		return fieldErr(f, "target", "a lookup field needs a target entity")
	}
	return nil
}
func (lookupType) Schema(*Field) map[string]any {
	return map[string]any{"type": "string", "minLength": 1, "maxLength": 64}
}
func (lookupType) Normalize(_ *Field, v any) (any, error) { return trimString(v), nil }

type userType struct{ base }

func (userType) Name() string { return "user" }
func (userType) Kind() Kind   { return KindString }
func (userType) Schema(*Field) map[string]any {
	return map[string]any{"type": "string", "minLength": 1, "maxLength": 64}
}
func (userType) Normalize(_ *Field, v any) (any, error) { return trimString(v), nil }

// --- formula, auto_number ---

type formulaType struct{}

func (formulaType) Name() string   { return "formula" }
func (formulaType) Kind() Kind     { return KindJSON }
func (formulaType) ReadOnly() bool { return true }
func (formulaType) Check(_ *Entity, f *Field) error {
	if strings.TrimSpace(f.Formula) == "" {
		return fieldErr(f, "formula", "a formula field needs an expression")
	}
	return nil
}
func (formulaType) Schema(*Field) map[string]any           { return map[string]any{} }
func (formulaType) Normalize(_ *Field, v any) (any, error) { return v, nil }

var autoNumberRE = regexp.MustCompile(`\{(0+)\}`)

type autoNumberType struct{}

func (autoNumberType) Name() string   { return "auto_number" }
func (autoNumberType) Kind() Kind     { return KindString }
func (autoNumberType) ReadOnly() bool { return true }
func (autoNumberType) Check(_ *Entity, f *Field) error {
	if f.Format == "" {
		f.Format = "{0000}"
	}
	if len(autoNumberRE.FindAllString(f.Format, -1)) != 1 {
		return fieldErr(f, "format", "format %q must hold one counter such as {0000}", f.Format)
	}
	return nil
}
func (autoNumberType) Schema(*Field) map[string]any           { return map[string]any{"type": "string"} }
func (autoNumberType) Normalize(_ *Field, v any) (any, error) { return v, nil }

// FormatAutoNumber renders counter n into an auto-number format such as
// LEAD-{0000} → LEAD-0042.
func FormatAutoNumber(format string, n int64) string {
	return autoNumberRE.ReplaceAllStringFunc(format, func(m string) string {
		width := len(m) - 2
		s := strconv.FormatInt(n, 10)
		for len(s) < width {
			s = "0" + s
		}
		return s
	})
}

// --- json ---

type jsonType struct{ base }

func (jsonType) Name() string                 { return "json" }
func (jsonType) Kind() Kind                   { return KindJSON }
func (jsonType) Schema(*Field) map[string]any { return map[string]any{} }
func (jsonType) Normalize(_ *Field, v any) (any, error) {
	// Normalize (numbers.go) turns json.Number into float64 at any depth
	// and refuses what no float64 holds, naming the place inside.
	return v, nil
}
