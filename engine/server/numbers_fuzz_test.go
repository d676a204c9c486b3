package server_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// FuzzNumbers sends any text as the value of a numeric (or json) field
// through the whole path — decode, normalise, validate, store on SQLite,
// read back — and holds the invariant of issue 13: either a 4xx and
// nothing stored, or a stored value that reads back as JSON equal to what
// was sent within the type's rounding. Never a 5xx.
func FuzzNumbers(f *testing.F) {
	fields := []string{"n", "p", "c", "cm", "i", "j"}
	for _, edge := range numberEdges {
		for k := range fields {
			f.Add(uint8(k), edge.text)
		}
	}
	f.Add(uint8(5), `{"a":[1,{"b":1e400}]}`)
	f.Add(uint8(0), `1, "label": "x"`)
	e := start(f)
	e.do("POST", "/api/v1/meta/entities", numEntity, 201, nil)
	stored := 0
	f.Fuzz(func(t *testing.T, k uint8, text string) {
		ee := *e
		ee.t = t
		field := fields[int(k)%len(fields)]
		r := ee.raw("POST", "/api/v1/records/num", `{"`+field+`":`+text+`}`)
		switch {
		case r.Status >= 500:
			t.Fatalf("%s = %q: %d %s", field, text, r.Status, r.Body)
		case r.Status >= 400:
			var page struct{ Count int }
			ee.do("GET", "/api/v1/records/num?count=true&limit=1", nil, 200, &page)
			if page.Count != stored {
				t.Fatalf("%s = %q refused with %d, yet %d records stored (want %d)", field, text, r.Status, page.Count, stored)
			}
			return
		}
		stored++
		id, _ := r.JSON(t)["id"].(string)
		back := ee.raw("GET", "/api/v1/records/num/"+id, nil)
		if back.Status != 200 {
			t.Fatalf("%s = %q stored, read back %d %s", field, text, back.Status, back.Body)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(back.Body, &got); err != nil {
			t.Fatalf("read back is not JSON: %v", err)
		}
		sent := strings.TrimSpace(text)
		if !json.Valid([]byte(sent)) {
			return // the text was more than one value ({"n": 1, "label": "x"}): only the invariants above
		}
		if err := sameNumber(field, sent, got[field]); err != nil {
			t.Fatalf("%s = %q: %v", field, text, err)
		}
	})
}

// sameNumber checks that the value read back is what was sent within the
// rounding of the field's type.
func sameNumber(field, sent string, back json.RawMessage) error {
	if field == "j" {
		var a, b any
		if err := json.Unmarshal([]byte(sent), &a); err != nil {
			return err
		}
		if err := json.Unmarshal(back, &b); err != nil {
			return err
		}
		if !reflect.DeepEqual(zeroSign(a), zeroSign(b)) {
			return fmt.Errorf("read back %s", back)
		}
		return nil
	}
	mantissa, _, _ := strings.Cut(strings.ToLower(sent), "e")
	if strings.Trim(mantissa, "-0.") == "" && mantissa != "" {
		sent = "0" // 0e99999999: big.Rat refuses the exponent, the value is 0
	}
	want, ok := new(big.Rat).SetString(sent)
	if !ok || sent[0] == '"' {
		return fmt.Errorf("not a number, yet stored as %s", back)
	}
	switch field {
	case "i":
		n, err := strconv.ParseInt(string(back), 10, 64)
		if err != nil || !want.IsInt() || want.Cmp(new(big.Rat).SetInt64(n)) != 0 || math.Abs(float64(n)) > 1<<53-1 {
			return fmt.Errorf("integer read back as %s", back)
		}
	case "c", "cm":
		cents := new(big.Rat).Mul(want, big.NewRat(100, 1))
		neg := cents.Sign() < 0
		cents.Abs(cents).Add(cents, big.NewRat(1, 2))
		c := new(big.Int).Quo(cents.Num(), cents.Denom())
		if neg {
			c.Neg(c)
		}
		w := float64(c.Int64()) / 100
		if g, err := strconv.ParseFloat(string(back), 64); err != nil || g != w || !c.IsInt64() || c.CmpAbs(big.NewInt(999_999_999_999_999)) > 0 {
			return fmt.Errorf("amount read back as %s, want %v", back, w)
		}
	default:
		w, _ := strconv.ParseFloat(sent, 64)
		if g, err := strconv.ParseFloat(string(back), 64); err != nil || g != w || math.IsInf(w, 0) || (w == 0 && want.Sign() != 0) {
			return fmt.Errorf("number read back as %s, want %v", back, w)
		}
	}
	return nil
}

// zeroSign maps −0 to 0 inside decoded JSON: the store keeps 0.
func zeroSign(v any) any {
	switch x := v.(type) {
	case float64:
		return x + 0
	case []any:
		for i := range x {
			x[i] = zeroSign(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = zeroSign(x[k])
		}
	}
	return v
}
