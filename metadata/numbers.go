package metadata

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits of numeric field values. Every stored number must read back as
// the same number in any JSON client, JavaScript's float64 numbers
// included, and must be encodable as JSON at all (no ±Inf, no NaN).
const (
	// MaxInteger is the largest magnitude of an integer field: 2^53−1,
	// JavaScript's Number.MAX_SAFE_INTEGER. Beyond it a float64 no longer
	// tells neighbouring integers apart (2^53+1 reads as 2^53).
	MaxInteger = 1<<53 - 1
	// MaxCurrencyCents is the largest magnitude of a currency amount, in
	// cents: 9,999,999,999,999.99. A decimal of at most 15 significant
	// digits survives a float64 round trip, so every cent up to it reads
	// back as written; at 2^53/100 (≈9·10^13) float64s are 1/64 apart and
	// .90 and .91 become the same number.
	MaxCurrencyCents = 999_999_999_999_999
)

// MaxCurrency is MaxCurrencyCents in currency units.
const MaxCurrency = float64(MaxCurrencyCents) / 100

// Normalize turns a value written to field f into its stored form: the
// field type's own normalisation, then a check that every number in the
// result, at any depth, is one a float64 holds. Each path that stores a
// value (the write pipeline, defaults, formulas, type conversions) goes
// through here, so nothing non-finite reaches the JSON Schema validator or
// a store.
func Normalize(f *Field, v any) (any, error) {
	t, ok := LookupType(f.Type)
	if !ok {
		return nil, fieldErr(f, "unknown_type", "unknown field type %q", f.Type)
	}
	out, err := t.Normalize(f, v)
	if err != nil {
		return nil, err
	}
	return plainNumbers(f, out, "")
}

// plainNumbers replaces json.Number values inside v with float64 and
// refuses numbers no float64 holds. It changes lists and objects in place,
// and only where a json.Number is found, so shared values (a field's
// default) are never written to.
func plainNumbers(f *Field, v any, path string) (any, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := parseFloat(f, string(x), path)
		if err != nil {
			return nil, err
		}
		return n, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, rangeErr(f, path, formatFloat(x), "a number must be finite")
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, rangeErr(f, path, formatFloat(float64(x)), "a number must be finite")
		}
	case []any:
		for i := range x {
			n, err := plainNumbers(f, x[i], path+"/"+strconv.Itoa(i))
			if err != nil {
				return nil, err
			}
			if _, was := x[i].(json.Number); was {
				x[i] = n
			}
		}
	case map[string]any:
		for k, e := range x {
			n, err := plainNumbers(f, e, path+"/"+pointerEscape(k))
			if err != nil {
				return nil, err
			}
			if _, was := e.(json.Number); was {
				x[k] = n
			}
		}
	}
	return v, nil
}

func pointerEscape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// rangeErr is the error of a number a field cannot hold; path is the JSON
// Pointer inside a json value ("" for the value itself).
func rangeErr(f *Field, path, text, limit string) error {
	if len(text) > 40 {
		text = text[:37] + "..."
	}
	if path != "" {
		return fieldErr(f, "out_of_range", "the number %s at %s is out of range: %s", text, path, limit)
	}
	return fieldErr(f, "out_of_range", "%s is out of range: %s", text, limit)
}

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// parseFloat reads a JSON number as the nearest float64, refusing those
// beyond float64's range and non-zero ones so small they would be stored
// as 0 (1e-400).
func parseFloat(f *Field, s, path string) (float64, error) {
	d, ok := parseDecimal(s)
	if !ok {
		return 0, fieldErr(f, "type", "%q is not a number", clip(s))
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(n, 0) {
		return 0, rangeErr(f, path, s, fmt.Sprintf("a number must be between %g and %g", -math.MaxFloat64, math.MaxFloat64))
	}
	if n == 0 && d.digits != "" {
		return 0, rangeErr(f, path, s, fmt.Sprintf("a number other than 0 must be at least %g in size", math.SmallestNonzeroFloat64))
	}
	return n + 0, nil // + 0 turns −0 into 0
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// decimal is a number as written: ±digits × 10^exp, the digits without
// leading or trailing zeros ("" for zero). It is exact, whatever float64
// would make of it.
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// maxExp bounds the exponents parseDecimal keeps; beyond it every number
// is out of every range, and the arithmetic stays far from overflow.
const maxExp = 1 << 30

// parseDecimal reads s by the JSON number grammar
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?). It refuses anything
// else, such as "NaN", "Inf", "0x10" or " 1", which strconv would accept.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return d, false
	}
	intPart := s[start:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == fs {
			return d, false
		}
		frac = s[fs:i]
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if exp < maxExp {
				exp = exp*10 + int(s[i]-'0')
			}
			i++
		}
		if i == es {
			return d, false
		}
		if exp > maxExp {
			exp = maxExp
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return d, false
	}
	all := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	trimmed := strings.TrimRight(all, "0")
	exp += len(all) - len(trimmed)
	if trimmed == "" {
		return decimal{neg: d.neg}, true
	}
	// Body limits keep the digit count far below maxExp; clamp anyway so
	// no sum below can overflow.
	d.digits = trimmed
	d.exp = max(-maxExp, min(maxExp, exp))
	return d, true
}

// magnitude is the number of digits before the decimal point (may be ≤ 0
// for values below 1).
func (d decimal) magnitude() int { return len(d.digits) + d.exp }

// integer returns d as an int64 when it is a whole number of at most 18
// digits; whole reports whether it is whole at all.
func (d decimal) integer() (n int64, whole, fits bool) {
	if d.digits == "" {
		return 0, true, true
	}
	if d.exp < 0 {
		return 0, false, false
	}
	if d.magnitude() > 18 {
		return 0, true, false
	}
	u, err := strconv.ParseInt(d.digits+strings.Repeat("0", d.exp), 10, 64)
	if err != nil {
		return 0, true, false
	}
	if d.neg {
		u = -u
	}
	return u, true, true
}

// cents rounds d to a whole number of hundredths, half away from zero
// (1.005 → 101, -0.125 → -13), exactly: the decimal the client wrote is
// rounded, not the nearest float64 (which for 1.005 is 1.00499…). fits is
// false beyond 18 digits.
func (d decimal) cents() (n int64, fits bool) {
	if d.digits == "" {
		return 0, true
	}
	keep := d.magnitude() + 2 // digits at or above the hundredths
	if keep > 18 {
		return 0, false
	}
	var whole string
	up := false
	switch {
	case keep <= 0:
		// Below half a cent unless the first digit is the thousandths.
		up = keep == 0 && d.digits[0] >= '5'
	case keep >= len(d.digits):
		whole = d.digits + strings.Repeat("0", keep-len(d.digits))
	default:
		whole = d.digits[:keep]
		up = d.digits[keep] >= '5'
	}
	var u int64
	if whole != "" {
		var err error
		if u, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return 0, false
		}
	}
	if up {
		u++
	}
	if d.neg {
		u = -u
	}
	return u, true
}

// decimalOf is the decimal a Go number stands for: a float64 by its
// shortest representation (what JSON shows of it: 1.005, not 1.00499…).
func decimalOf(v any) (decimal, bool) {
	switch n := v.(type) {
	case json.Number:
		return parseDecimal(string(n))
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return decimal{}, false
		}
		return parseDecimal(strconv.FormatFloat(n, 'g', -1, 64))
	case float32:
		return decimalOf(float64(n))
	case int64:
		return parseDecimal(strconv.FormatInt(n, 10))
	case int:
		return parseDecimal(strconv.Itoa(n))
	case int32:
		return parseDecimal(strconv.FormatInt(int64(n), 10))
	}
	return decimal{}, false
}

// numberText is how an error message shows a number the client sent.
func numberText(v any) string {
	switch n := v.(type) {
	case json.Number:
		return string(n)
	case float64:
		return formatFloat(n)
	case float32:
		return formatFloat(float64(n))
	}
	return fmt.Sprint(v)
}

// isNumber reports whether v is one of the Go number types a value may
// arrive as.
func isNumber(v any) bool {
	switch v.(type) {
	case json.Number, float64, float32, int64, int, int32:
		return true
	}
	return false
}

// Ranged is implemented by numeric field types: the smallest and largest
// value a field of the type holds. Field definitions' min and max must lie
// within it.
type Ranged interface {
	Range(f *Field) (lo, hi float64)
}
