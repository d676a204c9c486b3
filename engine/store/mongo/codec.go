package mongo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// System field names in a record document. The id is _id, so the primary
// key index serves it.
const (
	keyID        = "_id"
	keyVersion   = "version"
	keyCreatedAt = "created_at"
	keyUpdatedAt = "updated_at"
	keyCreatedBy = "created_by"
	keyUpdatedBy = "updated_by"
	keyOwner     = "owner"

	// Trash documents also carry when and by whom they were deleted. The
	// leading underscore keeps these apart from data fields, which are stored
	// at the top level and may themselves be called deleted_at.
	keyDeletedAt = "_deleted_at"
	keyDeletedBy = "_deleted_by"
)

// systemKeys are the document keys that are not data fields.
var systemKeys = map[string]bool{
	keyID: true, keyVersion: true, keyCreatedAt: true, keyUpdatedAt: true,
	keyCreatedBy: true, keyUpdatedBy: true, keyOwner: true,
	keyDeletedAt: true, keyDeletedBy: true,
}

// jsonSubtype marks a binary value holding JSON text: an object-valued field
// (kind json) is stored that way, never as an embedded document, because
// its keys are user input and a key such as "$where" or "a.b" is refused or
// misread by MongoDB-wire servers. JSON fields are not filterable, so
// nothing is lost.
const jsonSubtype = 0x80

// recordDoc is the stored form of a record: system fields, then data fields
// at the top level in name order. Nil data values are left out, never stored
// as null, so a unique index restricted to existing values ignores them.
func recordDoc(r *store.Record) (bson.D, error) {
	if r.ID == "" {
		return nil, fmt.Errorf("record without id")
	}
	d := make(bson.D, 0, 7+len(r.Data))
	d = append(d,
		bson.E{Key: keyID, Value: r.ID},
		bson.E{Key: keyVersion, Value: r.Version},
		bson.E{Key: keyCreatedAt, Value: metadata.FormatDateTime(r.CreatedAt)},
		bson.E{Key: keyUpdatedAt, Value: metadata.FormatDateTime(r.UpdatedAt)},
		bson.E{Key: keyCreatedBy, Value: r.CreatedBy},
		bson.E{Key: keyUpdatedBy, Value: r.UpdatedBy},
		bson.E{Key: keyOwner, Value: r.Owner},
	)
	names := make([]string, 0, len(r.Data))
	for k := range r.Data {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !metadata.ValidName(k) {
			return nil, fmt.Errorf("invalid field name %q", k)
		}
		if _, sys := metadata.SystemFields[k]; sys {
			return nil, fmt.Errorf("%s is a system field, not data", k)
		}
		v, err := toBSON(r.Data[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if v == nil {
			continue
		}
		d = append(d, bson.E{Key: k, Value: v})
	}
	return d, nil
}

// toBSON converts a data value to what is stored. Scalars and lists of
// scalars are stored as themselves, so they can be filtered, sorted and
// indexed; anything holding an object is stored as JSON (see jsonSubtype).
func toBSON(v any) (any, error) {
	if out, ok, err := plainScalar(v); ok {
		return out, err
	}
	switch x := v.(type) {
	case time.Time:
		// Dates are strings in the IR; a stray time.Time is kept comparable
		// with them rather than stored as a BSON date.
		return metadata.FormatDateTime(x), nil
	case []string:
		a := make(bson.A, len(x))
		for i, s := range x {
			a[i] = s
		}
		return a, nil
	case []any:
		if !holdsObject(x) {
			a := make(bson.A, len(x))
			for i, e := range x {
				c, err := toBSON(e)
				if err != nil {
					return nil, err
				}
				a[i] = c
			}
			return a, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot store a %T: %w", v, err)
	}
	return bson.Binary{Subtype: jsonSubtype, Data: b}, nil
}

func holdsObject(a []any) bool {
	for _, e := range a {
		switch x := e.(type) {
		case nil, string, bool, int64, float64, int, int32, float32, json.Number:
		case []any:
			if holdsObject(x) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// decodeRecord reads a stored record document.
func decodeRecord(raw bson.Raw) (*store.Record, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("corrupt record: %w", err)
	}
	r := &store.Record{Data: map[string]any{}}
	for _, e := range elems {
		k := e.Key()
		v := e.Value()
		switch k {
		case keyID:
			r.ID, _ = v.StringValueOK()
		case keyVersion:
			r.Version, _ = asInt64(v)
		case keyCreatedAt:
			r.CreatedAt = parseTime(v)
		case keyUpdatedAt:
			r.UpdatedAt = parseTime(v)
		case keyCreatedBy:
			r.CreatedBy, _ = v.StringValueOK()
		case keyUpdatedBy:
			r.UpdatedBy, _ = v.StringValueOK()
		case keyOwner:
			r.Owner, _ = v.StringValueOK()
		default:
			if systemKeys[k] {
				continue
			}
			x, err := fromBSON(v, k, &r.Unreadable)
			if err != nil {
				return nil, fmt.Errorf("record %s field %s: %w", r.ID, k, err)
			}
			if x != nil {
				r.Data[k] = x
			}
		}
	}
	if r.ID == "" {
		return nil, fmt.Errorf("corrupt record: no string _id")
	}
	return r, nil
}

func parseTime(v bson.RawValue) time.Time {
	if s, ok := v.StringValueOK(); ok {
		t, _ := metadata.ParseDateTime(s)
		return t.UTC()
	}
	if t, ok := v.TimeOK(); ok {
		return t.UTC()
	}
	return time.Time{}
}

func asInt64(v bson.RawValue) (int64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return int64(v.Int32()), true
	case bson.TypeInt64:
		return v.Int64(), true
	case bson.TypeDouble:
		f := v.Double()
		if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f), true
		}
	}
	return 0, false
}

// fromBSON converts a stored value to the Go types the engine works with:
// string, int64, float64, bool, []any, map[string]any, nil. A number that
// cannot be served (±Inf, NaN; older versions or other tools wrote them)
// reads as nil and is added to bad under its path.
func fromBSON(v bson.RawValue, path string, bad *store.Unreadable) (any, error) {
	switch v.Type {
	case bson.TypeNull, bson.TypeUndefined:
		return nil, nil
	case bson.TypeString:
		return v.StringValue(), nil
	case bson.TypeInt32:
		return int64(v.Int32()), nil
	case bson.TypeInt64:
		return v.Int64(), nil
	case bson.TypeDouble:
		f := v.Double()
		if !store.Finite(f) {
			bad.Add(path, strconv.FormatFloat(f, 'g', -1, 64))
			return nil, nil
		}
		return f, nil
	case bson.TypeBoolean:
		return v.Boolean(), nil
	case bson.TypeDateTime:
		return metadata.FormatDateTime(v.Time()), nil
	case bson.TypeDecimal128:
		text := v.Decimal128().String()
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || !store.Finite(f) {
			bad.Add(path, text)
			return nil, nil
		}
		return f, nil
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			return nil, err
		}
		out := make([]any, len(vals))
		for i, e := range vals {
			if out[i], err = fromBSON(e, path+"/"+strconv.Itoa(i), bad); err != nil {
				return nil, err
			}
		}
		return out, nil
	case bson.TypeEmbeddedDocument:
		// Not written by this store (objects go in as JSON), but read
		// gracefully from data written by other tools.
		elems, err := v.Document().Elements()
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(elems))
		for _, e := range elems {
			if m[e.Key()], err = fromBSON(e.Value(), path+"/"+pointerEscape(e.Key()), bad); err != nil {
				return nil, err
			}
		}
		return m, nil
	case bson.TypeBinary:
		sub, data := v.Binary()
		if sub != jsonSubtype {
			return data, nil
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			return nil, fmt.Errorf("corrupt JSON value: %w", err)
		}
		// store.PlainNumbers works on objects; wrap so scalars and lists
		// get the same treatment, under the field's own path.
		var inner store.Unreadable
		out := store.PlainNumbers(map[string]any{"": x}, &inner)[""]
		for p, text := range inner {
			bad.Add(path+p, text)
		}
		return out, nil
	}
	return v.String(), nil
}

func pointerEscape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
