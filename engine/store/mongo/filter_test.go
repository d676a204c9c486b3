package mongo

import (
	"encoding/binary"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

func ext(t *testing.T, d any) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		t.Fatalf("marshal %v: %v", d, err)
	}
	return string(b)
}

func leafC(op store.Op, f string, v any) *store.Cond {
	return &store.Cond{Op: op, Field: f, Kind: metadata.KindString, Value: v}
}

func listC(op store.Op, f string, vs ...any) *store.Cond {
	return &store.Cond{Op: op, Field: f, Kind: metadata.KindString, Values: vs}
}

func TestTranslate(t *testing.T) {
	not := func(c *store.Cond) *store.Cond { return &store.Cond{Op: store.OpNot, Args: []*store.Cond{c}} }
	nothing := `{"_id":{"$in":[]}}`
	cases := []struct {
		name string
		cond *store.Cond
		want string
	}{
		{"nil", nil, `{}`},
		{"true", &store.Cond{Op: store.OpTrue}, `{}`},
		{"false", &store.Cond{Op: store.OpFalse}, nothing},
		{"eq", leafC(store.OpEq, "name", "x"), `{"name":{"$eq":"x"}}`},
		{"id is _id", leafC(store.OpEq, "id", "r1"), `{"_id":{"$eq":"r1"}}`},
		{"ne", leafC(store.OpNe, "name", "x"), `{"name":{"$ne":"x"}}`},
		{"lt", leafC(store.OpLt, "n", int64(3)), `{"n":{"$lt":3}}`},
		{"le", leafC(store.OpLe, "n", 2.5), `{"n":{"$lte":2.5}}`},
		{"gt", leafC(store.OpGt, "d", "2026-01-01"), `{"d":{"$gt":"2026-01-01"}}`},
		{"ge", leafC(store.OpGe, "n", 1), `{"n":{"$gte":1}}`},
		{"eq null matches nothing", leafC(store.OpEq, "name", nil), nothing},
		{"lt null matches nothing", leafC(store.OpLt, "name", nil), nothing},
		{"ne null is is-null", leafC(store.OpNe, "name", nil), `{"name":{"$eq":null}}`},
		{"in", listC(store.OpIn, "s", "a", "b"), `{"s":{"$in":["a","b"]}}`},
		{"in empty", listC(store.OpIn, "s"), nothing},
		{"in drops null", listC(store.OpIn, "s", "a", nil), `{"s":{"$in":["a"]}}`},
		{"in only null", listC(store.OpIn, "s", nil), nothing},
		{"not in", listC(store.OpNotIn, "s", "a"), `{"s":{"$nin":["a"]}}`},
		{"not in empty", listC(store.OpNotIn, "s"), `{}`},
		{"not in with null", listC(store.OpNotIn, "s", "a", nil), `{"s":{"$eq":null}}`},
		{"is null", leafC(store.OpIsNull, "s", nil), `{"s":{"$eq":null}}`},
		{"not null", leafC(store.OpNotNull, "s", nil), `{"s":{"$ne":null}}`},
		{"contains", leafC(store.OpContains, "s", "a.b"), `{"s":{"$regex":"a\\.b"}}`},
		{"starts", leafC(store.OpStartsWith, "s", "^x"), `{"s":{"$regex":"\\A\\^x"}}`},
		{"ends", leafC(store.OpEndsWith, "s", "$"), `{"s":{"$regex":"\\$\\z"}}`},
		{"contains NUL", leafC(store.OpContains, "s", "a\x00b"), `{"s":{"$regex":"a\\x00b"}}`},
		{"contains empty", leafC(store.OpContains, "s", ""), `{"s":{"$ne":null}}`},
		{"contains folded", leafC(store.OpContainsFold, "s", "Ab.\x00é"), `{"s":{"$regex":"[aA][bB]\\.\\x00é"}}`},
		{"has", leafC(store.OpHas, "tags", "vip"), `{"tags":{"$eq":"vip"}}`},
		{"has any", listC(store.OpHasAny, "tags", "a", "b"), `{"tags":{"$in":["a","b"]}}`},
		{"has any empty", listC(store.OpHasAny, "tags"), nothing},
		{"and", store.And(leafC(store.OpEq, "a", "1"), leafC(store.OpEq, "b", "2")), `{"$and":[{"a":{"$eq":"1"}},{"b":{"$eq":"2"}}]}`},
		{"or", store.Or(leafC(store.OpEq, "a", "1"), leafC(store.OpEq, "b", "2")), `{"$or":[{"a":{"$eq":"1"}},{"b":{"$eq":"2"}}]}`},
		{"not", not(leafC(store.OpEq, "a", "1")), `{"$nor":[{"a":{"$eq":"1"}}]}`},
		{"not false", not(&store.Cond{Op: store.OpFalse}), `{}`},
		{"and folds true", &store.Cond{Op: store.OpAnd, Args: []*store.Cond{{Op: store.OpTrue}, leafC(store.OpEq, "a", "1")}}, `{"a":{"$eq":"1"}}`},
		{"and folds false", &store.Cond{Op: store.OpAnd, Args: []*store.Cond{{Op: store.OpFalse}, leafC(store.OpEq, "a", "1")}}, nothing},
		{"or folds true", &store.Cond{Op: store.OpOr, Args: []*store.Cond{{Op: store.OpTrue}, leafC(store.OpEq, "a", "1")}}, `{}`},
		{"or of in-empty", &store.Cond{Op: store.OpOr, Args: []*store.Cond{listC(store.OpIn, "s"), leafC(store.OpEq, "a", "1")}}, `{"a":{"$eq":"1"}}`},
		{"not of empty in", not(listC(store.OpIn, "s")), `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Translate(tc.cond)
			if err != nil {
				t.Fatal(err)
			}
			if g := ext(t, got); g != tc.want {
				t.Fatalf("%s:\ngot  %s\nwant %s", tc.cond, g, tc.want)
			}
		})
	}
}

func TestTranslateRefuses(t *testing.T) {
	cases := []struct {
		name string
		cond *store.Cond
	}{
		{"map value", leafC(store.OpEq, "name", map[string]any{"$ne": "x"})},
		{"bson.D value", leafC(store.OpEq, "name", bson.D{{Key: "$gt", Value: ""}})},
		{"map in list", listC(store.OpIn, "name", map[string]any{"$where": "1"})},
		{"slice value", leafC(store.OpEq, "name", []any{"a"})},
		{"operator field", leafC(store.OpEq, "$where", "x")},
		{"dotted field", leafC(store.OpEq, "a.b", "x")},
		{"underscore id", leafC(store.OpEq, "_id", "x")},
		{"contains number", leafC(store.OpContains, "name", 1)},
		{"unknown op", &store.Cond{Op: "regex", Field: "name", Value: ".*"}},
		{"bad operand deep in an or that folds", &store.Cond{Op: store.OpOr, Args: []*store.Cond{{Op: store.OpTrue}, leafC(store.OpEq, "name", map[string]any{})}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := Translate(tc.cond); err == nil {
				t.Fatalf("%s: got %s, want an error", tc.cond, ext(t, got))
			}
		})
	}
}

// allowedOps are the only operators Translate may write.
var allowedOps = map[string]bool{
	"$and": true, "$or": true, "$nor": true,
	"$eq": true, "$ne": true, "$lt": true, "$lte": true, "$gt": true, "$gte": true,
	"$in": true, "$nin": true, "$regex": true,
}

// checkFilter walks a translated filter: at the top of a filter document
// only field paths and $and/$or/$nor appear, under a field path only one
// allowed operator, and user values only below that.
func checkFilter(t *testing.T, d bson.D, src *store.Cond) {
	t.Helper()
	for _, e := range d {
		switch e.Key {
		case "$and", "$or", "$nor":
			arr, ok := e.Value.(bson.A)
			if !ok || len(arr) == 0 {
				t.Fatalf("%s: %s without operands", src, e.Key)
			}
			for _, x := range arr {
				sub, ok := x.(bson.D)
				if !ok {
					t.Fatalf("%s: %s operand %T", src, e.Key, x)
				}
				checkFilter(t, sub, src)
			}
			continue
		}
		if e.Key != "_id" && !metadata.ValidName(e.Key) {
			t.Fatalf("%s: field path %q", src, e.Key)
		}
		op, ok := e.Value.(bson.D)
		if !ok || len(op) != 1 || !allowedOps[op[0].Key] {
			t.Fatalf("%s: %s is not under one allowed operator: %#v", src, e.Key, e.Value)
		}
		checkValue(t, op[0].Value, src)
	}
}

func checkValue(t *testing.T, v any, src *store.Cond) {
	t.Helper()
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
	case bson.A:
		for _, e := range x {
			switch e.(type) {
			case string, bool, int64, float64:
			default:
				t.Fatalf("%s: list element %T", src, e)
			}
		}
	default:
		t.Fatalf("%s: operand of type %T", src, v)
	}
}

// condDecoder builds a condition tree from fuzz bytes.
type condDecoder struct {
	b    []byte
	strs []string
}

func (d *condDecoder) byte() byte {
	if len(d.b) == 0 {
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

var (
	fuzzOps = []store.Op{store.OpTrue, store.OpFalse, store.OpAnd, store.OpOr, store.OpNot,
		store.OpEq, store.OpNe, store.OpLt, store.OpLe, store.OpGt, store.OpGe, store.OpIn, store.OpNotIn,
		store.OpIsNull, store.OpNotNull, store.OpContains, store.OpContainsFold, store.OpStartsWith, store.OpEndsWith, store.OpHas, store.OpHasAny, "bogus"}
	fuzzFields = []string{"name", "id", "amount", "tags", "$where", "a.b", "_id", "", "Name", "x\x00"}
)

func (d *condDecoder) value() any {
	switch d.byte() % 9 {
	case 0:
		return nil
	case 1:
		return int64(binary.LittleEndian.Uint16([]byte{d.byte(), d.byte()}))
	case 2:
		return float64(d.byte()) / 3
	case 3:
		return d.byte()%2 == 0
	case 4:
		return map[string]any{"$ne": nil}
	case 5:
		return []any{"a"}
	}
	if len(d.strs) == 0 {
		return ""
	}
	return d.strs[int(d.byte())%len(d.strs)]
}

func (d *condDecoder) cond(depth int) *store.Cond {
	op := fuzzOps[int(d.byte())%len(fuzzOps)]
	c := &store.Cond{Op: op}
	switch op {
	case store.OpTrue, store.OpFalse:
		return c
	case store.OpAnd, store.OpOr, store.OpNot:
		n := int(d.byte() % 4)
		if op == store.OpNot {
			n = 1
		}
		if depth > 6 {
			n = 0
		}
		for range n {
			c.Args = append(c.Args, d.cond(depth+1))
		}
		return c
	}
	c.Field = fuzzFields[int(d.byte())%len(fuzzFields)]
	c.Kind = metadata.Kind(d.byte() % 9)
	c.Value = d.value()
	for range int(d.byte() % 4) {
		c.Values = append(c.Values, d.value())
	}
	return c
}

func FuzzTranslate(f *testing.F) {
	f.Add([]byte{5, 0, 1, 6, 0}, "x", "$ne")
	f.Add([]byte{2, 2, 5, 1, 6, 0, 15, 0, 6}, ".*", "a\x00b")
	f.Add([]byte{4, 11, 3, 8, 0, 3}, "", "\n")
	f.Add([]byte{3, 3, 13, 2, 0, 14, 3, 0, 17, 0, 6}, "vip", "$where")
	f.Fuzz(func(t *testing.T, shape []byte, s1, s2 string) {
		d := &condDecoder{b: shape, strs: []string{s1, s2}}
		c := d.cond(0)
		got, err := Translate(c)
		if err != nil {
			// Refusing is always allowed (maps, bad names, null kinds …);
			// what is translated must be safe.
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: translated although invalid: %v", c, err)
		}
		checkFilter(t, got, c)
		if _, err := bson.Marshal(got); err != nil {
			t.Fatalf("%s: does not encode: %v", c, err)
		}
	})
}

func TestPipeline(t *testing.T) {
	keys, ms, err := parseAggregate(store.AggregateQuery{
		GroupBy:  []string{"stage", "close_date:month"},
		Measures: []store.Measure{{Op: "count"}, {Op: "sum", Field: "amount"}, {Op: "count_distinct", Field: "owner"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := ext(t, bson.D{{Key: "p", Value: pipeline(bson.D{}, keys, ms, nil, "", 10)}})
	want := `{"p":[{"$match":{}},` +
		`{"$group":{"_id":{"k0":{"$ifNull":["$stage",null]},` +
		`"k1":{"$cond":[{"$eq":[{"$type":"$close_date"},"string"]},{"$substrBytes":["$close_date",0,7]},null]}},` +
		`"m0":{"$sum":1},"n1":{"$avg":"$amount"},"m1":{"$sum":"$amount"},"m2":{"$addToSet":"$owner"}}},` +
		`{"$addFields":{"m2":{"$size":"$m2"}}},` +
		`{"$sort":{"_id.k0":1,"_id.k1":1}},{"$limit":10}]}`
	if got != want {
		t.Fatalf("pipeline:\ngot  %s\nwant %s", got, want)
	}
	for _, q := range []store.AggregateQuery{
		{GroupBy: []string{"close_date:fortnight"}},
		{GroupBy: []string{"close_date:week"}, TimeZone: "Mars/Olympus"},
		{GroupBy: []string{"stage"}, OrderBy: []store.AggregateOrder{{Measure: true, Index: 2}}},
		{GroupBy: []string{"$x"}},
		{Measures: []store.Measure{{Op: "median", Field: "amount"}}},
		{Measures: []store.Measure{{Op: "sum", Field: "a.b"}}},
		{Measures: []store.Measure{{Op: "sum"}}},
	} {
		if _, _, err := parseAggregate(q); err == nil {
			t.Errorf("%+v: want an error", q)
		}
	}
}

func TestRecordDoc(t *testing.T) {
	r := &store.Record{ID: "r1", Version: 3, Data: map[string]any{
		"b": nil, "a": "x", "n": 2, "tags": []any{"p", "q"},
		"obj": map[string]any{"$where": "1", "a.b": []any{1.5}}, "rows": []any{map[string]any{"k": "v"}},
	}}
	d, err := recordDoc(r)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range d {
		keys = append(keys, e.Key)
	}
	if got := strings.Join(keys, ","); got != "_id,version,created_at,updated_at,created_by,updated_by,owner,a,n,obj,rows,tags" {
		t.Fatalf("keys: %s", got)
	}
	if b, ok := lookup(d, "obj").(bson.Binary); !ok || b.Subtype != jsonSubtype {
		t.Fatalf("object stored as %T", lookup(d, "obj"))
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != 3 || back.Data["n"] != int64(2) || back.Data["a"] != "x" {
		t.Fatalf("round trip: %+v", back)
	}
	obj := back.Data["obj"].(map[string]any)
	if obj["$where"] != "1" || obj["a.b"].([]any)[0] != 1.5 {
		t.Fatalf("object round trip: %#v", obj)
	}
	if _, ok := back.Data["b"]; ok {
		t.Fatal("nil value came back")
	}
	for _, bad := range []map[string]any{{"version": int64(1)}, {"id": "x"}, {"a.b": 1}, {"$set": 1}} {
		if _, err := recordDoc(&store.Record{ID: "r", Data: bad}); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}
