package mongo

import (
	"math"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/jimu-crm/jimu/engine/store"
)

// TestDecodeUnreadableNumbers: documents another tool (or a MongoDB that
// accepted ±Inf) wrote read as records without the values no JSON can
// hold, reported by place, instead of failing every page that holds them.
// FerretDB refuses to store these values, so the raw BSON is decoded here.
func TestDecodeUnreadableNumbers(t *testing.T) {
	dec := func(s string) bson.Decimal128 {
		d, err := bson.ParseDecimal128(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	doc := bson.D{{Key: "_id", Value: "r1"}, {Key: "version", Value: int64(2)},
		{Key: "a", Value: math.Inf(1)}, {Key: "b", Value: math.Inf(-1)}, {Key: "c", Value: math.NaN()},
		{Key: "d", Value: dec("Infinity")}, {Key: "e", Value: dec("NaN")}, {Key: "f", Value: dec("1E+6000")},
		{Key: "g", Value: dec("12.5")}, {Key: "h", Value: bson.A{1.5, math.Inf(1)}},
		{Key: "i", Value: bson.D{{Key: "x", Value: math.NaN()}}},
		{Key: "j", Value: bson.Binary{Subtype: jsonSubtype, Data: []byte(`{"k":[1,1e400]}`)}},
		{Key: "k", Value: bson.Binary{Subtype: jsonSubtype, Data: []byte(`-1e400`)}},
		{Key: "n", Value: 1.2345678901234567e19}}
	raw, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"g": 12.5, "h": []any{1.5, nil}, "i": map[string]any{"x": nil},
		"j": map[string]any{"k": []any{int64(1), nil}}, "n": 1.2345678901234567e19}
	if !reflect.DeepEqual(r.Data, want) {
		t.Errorf("data %#v\nwant %#v", r.Data, want)
	}
	wantBad := store.Unreadable{"a": "+Inf", "b": "-Inf", "c": "NaN", "d": "Infinity", "e": "NaN", "f": "1E+6000",
		"h/1": "+Inf", "i/x": "NaN", "j/k/1": "1e400", "k": "-1e400"}
	if !reflect.DeepEqual(r.Unreadable, wantBad) {
		t.Errorf("unreadable %v\nwant %v", r.Unreadable, wantBad)
	}
	// An aggregate reads an unreadable value as missing.
	if v, err := value(raw, "a"); v != nil || err != nil {
		t.Errorf("aggregate value of +Inf: %v %v", v, err)
	}
}

// TestLocalSumOverflow: FerretDB's local sum of integers beyond int64
// becomes a double, as MongoDB's $sum does, instead of wrapping around.
func TestLocalSumOverflow(t *testing.T) {
	a := &accumulator{op: "sum"}
	for range 1100 {
		a.add(int64(1<<53 - 1))
	}
	if got := a.result(); got != 1100*float64(1<<53-1) {
		t.Fatalf("sum %v (%T)", got, got)
	}
	b := &accumulator{op: "sum"}
	b.add(int64(2))
	b.add(int64(3))
	if got := b.result(); got != int64(5) {
		t.Fatalf("small sum %v (%T)", got, got)
	}
}
