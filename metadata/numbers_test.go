package metadata

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

// TestNormalizeNumbers: every numeric type keeps what it can hold exactly
// enough and refuses the rest with a FieldError naming the field, whatever
// Go type the value arrives as (json.Number from a request, float64 from a
// default or a formula, int64 from a conversion).
func TestNormalizeNumbers(t *testing.T) {
	type want struct {
		v    any    // the stored value, when accepted
		code string // the error code, when refused
	}
	ok := func(v any) want { return want{v: v} }
	bad := func(code string) want { return want{code: code} }
	cases := []struct {
		in   any
		want map[string]want // by type
	}{
		{json.Number("1e400"), map[string]want{"number": bad("out_of_range"), "currency": bad("out_of_range"), "integer": bad("out_of_range"), "json": bad("out_of_range")}},
		{json.Number("-1e400"), map[string]want{"number": bad("out_of_range"), "currency": bad("out_of_range"), "integer": bad("out_of_range"), "json": bad("out_of_range")}},
		{json.Number("1e307"), map[string]want{"number": ok(1e307), "currency": bad("out_of_range"), "integer": bad("out_of_range"), "json": ok(1e307)}},
		{json.Number("1e-400"), map[string]want{"number": bad("out_of_range"), "currency": ok(0.0), "integer": bad("type"), "json": bad("out_of_range")}},
		{json.Number("-0"), map[string]want{"number": ok(0.0), "currency": ok(0.0), "integer": ok(int64(0)), "json": ok(0.0)}},
		{json.Number("9007199254740991"), map[string]want{"number": ok(9007199254740991.0), "currency": bad("out_of_range"), "integer": ok(int64(9007199254740991))}},
		{json.Number("9007199254740992"), map[string]want{"integer": bad("out_of_range")}},
		{json.Number("-9007199254740991"), map[string]want{"integer": ok(int64(-9007199254740991))}},
		{json.Number("12345678901234567890"), map[string]want{"number": ok(12345678901234567890.0), "integer": bad("out_of_range")}},
		{json.Number("1.0"), map[string]want{"integer": ok(int64(1))}},
		{json.Number("1e3"), map[string]want{"integer": ok(int64(1000))}},
		{json.Number("1.5"), map[string]want{"integer": bad("type")}},
		{json.Number("1.005"), map[string]want{"currency": ok(1.01), "number": ok(1.005)}},
		{json.Number("-0.125"), map[string]want{"currency": ok(-0.13)}},
		{json.Number("0.004999"), map[string]want{"currency": ok(0.0)}},
		{json.Number("0.005"), map[string]want{"currency": ok(0.01)}},
		{json.Number("9999999999999.99"), map[string]want{"currency": ok(9999999999999.99)}},
		{json.Number("9999999999999.994"), map[string]want{"currency": ok(9999999999999.99)}},
		{json.Number("9999999999999.995"), map[string]want{"currency": bad("out_of_range")}},
		{json.Number("90071992547409.91"), map[string]want{"currency": bad("out_of_range")}},
		{json.Number("NaN"), map[string]want{"number": bad("type"), "currency": bad("type"), "integer": bad("type")}},
		{json.Number("0x10"), map[string]want{"number": bad("type"), "integer": bad("type")}},
		{math.Inf(1), map[string]want{"number": bad("out_of_range"), "currency": bad("out_of_range"), "integer": bad("out_of_range"), "json": bad("out_of_range"), "formula": bad("out_of_range"), "text": bad("out_of_range")}},
		{math.NaN(), map[string]want{"number": bad("out_of_range"), "currency": bad("out_of_range"), "integer": bad("out_of_range"), "formula": bad("out_of_range")}},
		{1000.005, map[string]want{"currency": ok(1000.01)}},
		{pointOne + pointTwo, map[string]want{"currency": ok(0.3), "number": ok(0.30000000000000004)}},
		{math.Copysign(0, -1), map[string]want{"number": ok(0.0)}},
		{int64(math.MaxInt64), map[string]want{"number": ok(float64(math.MaxInt64)), "integer": bad("out_of_range"), "currency": bad("out_of_range")}},
		{int64(42), map[string]want{"currency": ok(42.0), "integer": ok(int64(42))}},
		{"12", map[string]want{"number": ok("12"), "integer": ok("12"), "currency": ok("12")}}, // the schema's type error
		{map[string]any{"a": []any{json.Number("1"), json.Number("1e400")}}, map[string]want{"json": bad("out_of_range")}},
		{map[string]any{"a": []any{json.Number("1"), json.Number("2.5")}}, map[string]want{"json": ok(map[string]any{"a": []any{1.0, 2.5}})}},
		{json.Number("1e400"), map[string]want{"text": bad("out_of_range")}},
	}
	for _, c := range cases {
		for typ, w := range c.want {
			f := &Field{Name: "x", Type: typ, Formula: "1"}
			got, err := Normalize(f, c.in)
			if w.code != "" {
				fe, isFE := err.(*FieldError)
				if !isFE || fe.Code != w.code || fe.Field != "x" || fe.Message == "" {
					t.Errorf("%s %v: got %#v, %v; want error %s", typ, c.in, got, err, w.code)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s %v: refused: %v", typ, c.in, err)
				continue
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(w.v)
			if string(gj) != string(wj) || !sameType(got, w.v) {
				t.Errorf("%s %v: got %#v, want %#v", typ, c.in, got, w.v)
			}
		}
	}
}

// Variables, not constants: Go folds 0.1 + 0.2 to exactly 0.3.
var pointOne, pointTwo = 0.1, 0.2

func sameType(a, b any) bool {
	switch a.(type) {
	case float64:
		_, ok := b.(float64)
		return ok
	case int64:
		_, ok := b.(int64)
		return ok
	}
	return true
}

// TestJSONNumberPath: a number a json field cannot hold is reported with
// its place inside the value.
func TestJSONNumberPath(t *testing.T) {
	_, err := Normalize(&Field{Name: "extra", Type: "json"},
		map[string]any{"a/b": []any{json.Number("1"), map[string]any{"c": json.Number("-1e999")}}})
	if err == nil || !strings.Contains(err.Error(), "/a~1b/1/c") {
		t.Fatalf("error %v does not name /a~1b/1/c", err)
	}
}

// TestFieldLimits: a definition whose min, max or default a field of its
// type cannot hold is refused when the metadata is saved.
func TestFieldLimits(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		field *Field
		path  string
		code  string
	}{
		{&Field{Name: "n", Type: "integer", Max: f(1e300)}, "fields.n.max", "out_of_range"},
		{&Field{Name: "n", Type: "integer", Min: f(-9007199254740992)}, "fields.n.min", "out_of_range"},
		{&Field{Name: "n", Type: "currency", Max: f(1e14)}, "fields.n.max", "out_of_range"},
		{&Field{Name: "n", Type: "number", Min: f(math.Inf(-1))}, "fields.n.min", "out_of_range"},
		{&Field{Name: "n", Type: "number", Max: f(math.NaN())}, "fields.n.max", "out_of_range"},
		{&Field{Name: "n", Type: "currency", Default: 1e307}, "fields.n.default", "out_of_range"},
		{&Field{Name: "n", Type: "currency", Min: f(0), Default: 1e307}, "fields.n.default", "out_of_range"},
		{&Field{Name: "n", Type: "integer", Default: 1e300}, "fields.n.default", "out_of_range"},
		{&Field{Name: "n", Type: "json", Default: map[string]any{"a": math.Inf(1)}}, "fields.n.default", "out_of_range"},
	}
	for _, c := range cases {
		e := &Entity{Name: "e", Fields: []*Field{c.field}}
		errs := e.Check(nil)
		found := false
		for _, fe := range errs {
			if fe.Field == c.path && fe.Code == c.code {
				found = true
			}
		}
		if !found {
			t.Errorf("%+v: errors %v, want %s at %s", c.field, errs, c.code, c.path)
		}
	}
	deleted := &Entity{Name: "e", Fields: []*Field{{Name: "old", Type: "integer", Max: f(1e300), Deleted: true}}}
	if errs := deleted.Check(nil); len(errs) > 0 {
		t.Errorf("a deleted field's legacy max blocks the entity: %v", errs[0])
	}
	ok := &Entity{Name: "e", Fields: []*Field{
		{Name: "a", Type: "integer", Min: f(-9007199254740991), Max: f(9007199254740991), Default: 5.0},
		{Name: "b", Type: "currency", Min: f(0), Max: f(9999999999999.99), Default: 1.005},
		{Name: "c", Type: "number", Min: f(-math.MaxFloat64), Max: f(math.MaxFloat64)},
	}}
	if errs := ok.Check(nil); len(errs) > 0 {
		t.Fatalf("limits at the edge refused: %v", errs[0])
	}
}

// TestMetaDocumentNumbers: numbers beyond float64 in a metadata document
// are refused by place before the document is decoded.
func TestMetaDocumentNumbers(t *testing.T) {
	var doc any
	dec := json.NewDecoder(strings.NewReader(`{"name":"e","fields":[{"name":"a","type":"number","min":1e400},{"name":"b","type":"json","default":{"x":[1e-400]}}]}`))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	errs := ValidateDocument(doc, false)
	got := map[string]string{}
	for _, e := range errs {
		got[e.Field] = e.Code
	}
	if got["fields.0.min"] != "out_of_range" || got["fields.1.default.x.0"] != "out_of_range" {
		t.Fatalf("errors %v", errs)
	}
}

// TestSchemaRange: the published schema states the range of integer and
// currency fields, narrowed by the field's own min and max.
func TestSchemaRange(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	e := &Entity{Name: "e", Fields: []*Field{
		{Name: "i", Type: "integer"}, {Name: "c", Type: "currency", Min: f(0)}, {Name: "n", Type: "number"},
	}}
	props := e.JSONSchema()["properties"].(map[string]any)
	i, c, n := props["i"].(map[string]any), props["c"].(map[string]any), props["n"].(map[string]any)
	if i["minimum"] != float64(-MaxInteger) || i["maximum"] != float64(MaxInteger) {
		t.Errorf("integer schema %v", i)
	}
	if c["minimum"] != 0.0 || c["maximum"] != MaxCurrency {
		t.Errorf("currency schema %v", c)
	}
	if _, has := n["maximum"]; has {
		t.Errorf("number schema %v has a maximum", n)
	}
}

// FuzzDecimal: parseDecimal accepts exactly the JSON number grammar, and
// what it reads (value, whole number, cents) agrees with math/big.
func FuzzDecimal(f *testing.F) {
	for _, s := range []string{"0", "-0", "1e400", "-1e-400", "1.005", "12345678901234567890", "9007199254740991",
		"0.125", "1E+2", "01", "1.", ".5", "NaN", "Inf", "0x10", "1_0", "+1", "1e", "-", "", " 1", "1e99999999999999999999",
		"999999999999999.995", "0.000", "100e-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseDecimal(s)
		var n json.Number
		grammar := len(s) > 0 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && json.Unmarshal([]byte(s), &n) == nil && string(n) == s
		if ok != grammar {
			t.Fatalf("%q: parseDecimal ok=%v, JSON grammar %v", s, ok, grammar)
		}
		if !ok || len(s) > 200 || d.exp > 400 || d.exp < -400 {
			return
		}
		if i := strings.IndexAny(s, "eE"); i >= 0 {
			if e, err := strconv.Atoi(s[i+1:]); err != nil || e > 400 || e < -400 {
				return // big.Rat refuses huge exponents
			}
		}
		want, okRat := new(big.Rat).SetString(s)
		if !okRat {
			t.Fatalf("%q: big.Rat cannot read it", s)
		}
		got := new(big.Rat)
		if d.digits != "" {
			got.SetString(d.digits)
			p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(d.exp))), nil)
			if d.exp >= 0 {
				got.Mul(got, new(big.Rat).SetInt(p))
			} else {
				got.Quo(got, new(big.Rat).SetInt(p))
			}
			if d.neg {
				got.Neg(got)
			}
		}
		if got.Cmp(want) != 0 {
			t.Fatalf("%q: read as %s, want %s", s, got, want)
		}
		if i, whole, fits := d.integer(); whole != want.IsInt() || (fits && big.NewRat(i, 1).Cmp(want) != 0) {
			t.Fatalf("%q: integer() = %d %v %v", s, i, whole, fits)
		}
		// cents: |want*100| rounded half away from zero.
		h := new(big.Rat).Mul(want, big.NewRat(100, 1))
		neg := h.Sign() < 0
		h.Abs(h)
		h.Add(h, big.NewRat(1, 2))
		c := new(big.Int).Quo(h.Num(), h.Denom())
		if neg {
			c.Neg(c)
		}
		if cents, fits := d.cents(); fits && (!c.IsInt64() || c.Int64() != cents) {
			t.Fatalf("%q: cents %d, want %s", s, cents, c)
		} else if !fits && c.IsInt64() && c.CmpAbs(big.NewInt(1e17)) < 0 {
			t.Fatalf("%q: cents refused, want %s", s, c)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
