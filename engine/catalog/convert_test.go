package catalog_test

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

var ab = []metadata.Option{{Value: "a"}, {Value: "b"}}

// conversions are the type changes that convert a stored value, and what
// the record holds after.
var conversions = []struct {
	from, to string
	value    any
	want     any
}{
	{"text", "integer", "42", int64(42)},
	{"text", "integer", " 7 ", int64(7)},
	{"text", "number", "2.5", 2.5},
	{"text", "currency", "19.99", 19.99},
	{"text", "boolean", "yes", true},
	{"text", "boolean", "否", false},
	{"text", "boolean", "0", false},
	{"text", "select", "b", "b"},
	{"text", "multi_select", "a", []any{"a"}},
	{"text", "tags", "x", []any{"x"}},
	{"text", "date", "2024-03-01", "2024-03-01"},
	{"integer", "text", int64(3), "3"},
	{"number", "text", 1.5, "1.5"},
	{"number", "integer", 2.0, int64(2)},
	{"boolean", "text", true, "true"},
	{"boolean", "integer", true, int64(1)},
	{"integer", "boolean", int64(0), false},
	{"tags", "text", []any{"x", "y"}, "x, y"},
}

// refusedConversions are values the new type cannot hold.
var refusedConversions = []struct {
	from, to string
	value    any
}{
	{"text", "integer", "abc"},
	{"text", "integer", "0x10"},
	{"text", "number", "1e400"},
	{"text", "number", "NaN"},
	{"text", "boolean", "maybe"},
	{"text", "select", "c"},
	{"number", "integer", 2.5},
	{"text", "date", "1 March"},
	{"text", "email", "not an address"},
}

func convField(name, typ string) *metadata.Field {
	f := &metadata.Field{Name: name, Type: typ}
	if typ == "select" || typ == "multi_select" {
		f.Options = ab
	}
	return f
}

// TestConversions: each type change converts the values stored, or is
// refused naming the record; a refused one changes nothing.
func TestConversions(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		e := &metadata.Entity{Name: "conv", Fields: []*metadata.Field{{Name: "title", Type: "text"}}}
		for i, tc := range conversions {
			e.Fields = append(e.Fields, convField(fmt.Sprintf("ok%d", i), tc.from))
		}
		for i, tc := range refusedConversions {
			e.Fields = append(e.Fields, convField(fmt.Sprintf("no%d", i), tc.from))
		}
		mustCreate(t, c, e)
		okRecs := make([]*store.Record, len(conversions))
		for i, tc := range conversions {
			okRecs[i] = insert(t, st, "conv", map[string]any{fmt.Sprintf("ok%d", i): tc.value})
		}

		for i, tc := range refusedConversions {
			name := fmt.Sprintf("no%d", i)
			r := insert(t, st, "conv", map[string]any{name: tc.value})
			_, err := c.UpdateField(t.Context(), admin, "conv", name, convField(name, tc.to))
			var pe *problem.Error
			if !errors.As(err, &pe) || pe.Status != http.StatusUnprocessableEntity || len(pe.Errors) != 1 {
				t.Errorf("%s %v → %s: %v", tc.from, tc.value, tc.to, err)
				continue
			}
			if fe := pe.Errors[0]; fe.Field != name || fe.Code != "conversion" || !strings.Contains(fe.Message, r.ID) {
				t.Errorf("%s %v → %s: %+v", tc.from, tc.value, tc.to, fe)
			}
			if !strings.Contains(pe.Detail, "1 records would not convert; nothing was changed") {
				t.Errorf("detail: %q", pe.Detail)
			}
			if got := get(t, st, "conv", r.ID); got.Version != 1 || !reflect.DeepEqual(got.Data[name], tc.value) {
				t.Errorf("a refused conversion changed the record: %+v", got)
			}
		}
		if got, _ := c.Get("conv"); got.Version != 1 {
			t.Fatalf("refused conversions changed the entity: version %d", got.Version)
		}

		// Every change that converts, in one new version.
		ce, err := c.Change(t.Context(), admin, "conv", 1, "meta.entity.update", func(e *metadata.Entity) error {
			for i, tc := range conversions {
				f := e.Field(fmt.Sprintf("ok%d", i))
				*f = *convField(f.Name, tc.to)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if ce.Version != 2 {
			t.Fatalf("version after the conversions: %d", ce.Version)
		}
		for i, tc := range conversions {
			got := get(t, st, "conv", okRecs[i].ID)
			if v := got.Data[fmt.Sprintf("ok%d", i)]; !reflect.DeepEqual(v, tc.want) || got.Version != 2 {
				t.Errorf("%s %#v → %s: %#v (%T), version %d; want %#v", tc.from, tc.value, tc.to, v, v, got.Version, tc.want)
			}
		}
	})
}

// TestConversionRewrites: a conversion rewrites every record holding the
// field with a new version, an audit entry and a record.updated event
// each, before the metadata event; records without the field are left as
// they are.
func TestConversionRewrites(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		e := dealEntity()
		e.Fields = append(e.Fields, &metadata.Field{Name: "flag", Type: "text"})
		mustCreate(t, c, e)
		one := insert(t, st, "deal", map[string]any{"name": "A", "code": "1"})
		both := insert(t, st, "deal", map[string]any{"name": "B", "code": "2", "flag": "yes"})
		none := insert(t, st, "deal", map[string]any{"name": "C"})
		null := insert(t, st, "deal", map[string]any{"name": "D", "code": nil})
		ob := follow(t, st)

		next := e.Clone()
		next.Field("code").Type = "integer"
		next.Field("flag").Type = "boolean"
		if _, err := c.Update(t.Context(), admin, "deal", next, 1); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			r       *store.Record
			version int64
			data    map[string]any
		}{
			{one, 2, map[string]any{"code": int64(1)}},
			{both, 2, map[string]any{"code": int64(2), "flag": true}},
			{none, 1, map[string]any{"code": nil}},
			{null, 1, map[string]any{"code": nil}},
		} {
			got := get(t, st, "deal", tc.r.ID)
			if got.Version != tc.version {
				t.Errorf("record %s: version %d, want %d", got.Data["name"], got.Version, tc.version)
			}
			for k, v := range tc.data {
				if !reflect.DeepEqual(got.Data[k], v) {
					t.Errorf("record %s: %s = %#v, want %#v", got.Data["name"], k, got.Data[k], v)
				}
			}
			if tc.version == 2 && got.UpdatedBy != admin.UserID {
				t.Errorf("record %s: updated by %q", got.Data["name"], got.UpdatedBy)
			}
		}

		evs := ob.next()
		want := []string{"record.updated", "record.updated", "meta.entity.updated"}
		if !reflect.DeepEqual(types(evs), want) {
			t.Fatalf("events: %v, want %v", types(evs), want)
		}
		byID := map[string]*store.Event{}
		for _, ev := range evs[:2] {
			byID[ev.RecordID] = ev
			if ev.Entity != "deal" || ev.Version != 2 || ev.Actor != admin.UserID || ev.Origin != (store.Origin{User: admin.UserID}) {
				t.Errorf("conversion event: %+v", ev)
			}
		}
		if ev := byID[one.ID]; ev == nil || len(ev.Changes) != 1 || ev.Changes["code"] != (store.Change{Old: "1", New: int64(1)}) ||
			!reflect.DeepEqual(ev.Payload["conversion"], []any{"code"}) {
			t.Errorf("event of A: %+v", ev)
		}
		if ev := byID[both.ID]; ev == nil || len(ev.Changes) != 2 || ev.Changes["flag"] != (store.Change{Old: "yes", New: true}) ||
			!reflect.DeepEqual(ev.Payload["conversion"], []any{"code", "flag"}) {
			t.Errorf("event of B: %+v", ev)
		}
		conv := audit(t, st, "deal", "record.convert")
		if len(conv) != 2 {
			t.Fatalf("conversion audit entries: %d", len(conv))
		}
		for _, a := range conv {
			if a.Actor != admin.UserID || a.IP != admin.IP || (a.RecordID != one.ID && a.RecordID != both.ID) {
				t.Errorf("conversion audit: %+v", a)
			}
			if a.RecordID == one.ID {
				ch, _ := a.Changes["code"].(map[string]any)
				if ch["from"] != "1" || fmt.Sprint(ch["to"]) != "1" {
					t.Errorf("audit of A's conversion: %v", a.Changes)
				}
			}
		}
	})
}

// TestConversionReport: a conversion that cannot convert every record is
// refused; the answer counts them and lists the first 50; no record,
// event or audit entry is written.
func TestConversionReport(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		mustCreate(t, c, dealEntity())
		ids := map[string]bool{}
		for i := range 60 {
			ids[insert(t, st, "deal", map[string]any{"name": "x", "code": fmt.Sprintf("x%d", i)}).ID] = true
		}
		good := insert(t, st, "deal", map[string]any{"name": "g", "code": "5"})
		ob := follow(t, st)

		_, err := c.UpdateField(t.Context(), admin, "deal", "code", &metadata.Field{Name: "code", Type: "integer"})
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Status != http.StatusUnprocessableEntity {
			t.Fatalf("refused conversion: %v", err)
		}
		if !strings.HasPrefix(pe.Detail, "60 records would not convert") || len(pe.Errors) != 50 {
			t.Fatalf("report: %q with %d errors", pe.Detail, len(pe.Errors))
		}
		seen := map[string]bool{}
		for _, fe := range pe.Errors {
			id, _, _ := strings.Cut(strings.TrimPrefix(fe.Message, "record "), ":")
			if fe.Field != "code" || fe.Code != "conversion" || !ids[id] || seen[id] {
				t.Fatalf("reported: %+v", fe)
			}
			seen[id] = true
		}
		if got := get(t, st, "deal", good.ID); got.Version != 1 || got.Data["code"] != "5" {
			t.Fatalf("a convertible record changed with the refusal: %+v", got)
		}
		if evs := ob.next(); len(evs) != 0 {
			t.Fatalf("a refused conversion wrote events: %v", types(evs))
		}
		if as := audit(t, st, "deal", "record.convert"); len(as) != 0 {
			t.Fatalf("a refused conversion wrote %d audit entries", len(as))
		}
		if got, _ := c.Get("deal"); got.Version != 1 || got.Field("code").Type != "text" {
			t.Fatalf("a refused conversion changed the entity: %+v", got.Field("code"))
		}
	})
}

// TestConversionUnit: when a write of the unit fails — here two values of
// a unique field that become equal once converted — the answer names the
// field, the storage is as the stored definition wants it, and where the
// store has transactions nothing of the unit stays: no converted record,
// no event, no audit entry, no new version.
func TestConversionUnit(t *testing.T) {
	for _, wasUnique := range []bool{true, false} {
		t.Run(fmt.Sprintf("unique before: %v", wasUnique), func(t *testing.T) {
			eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
				c := newCatalog(t, st)
				e := dealEntity()
				e.Fields[3].Unique = wasUnique
				mustCreate(t, c, e)
				a := insert(t, st, "deal", map[string]any{"name": "A", "code": " 1"})
				b := insert(t, st, "deal", map[string]any{"name": "B", "code": "1"})
				ob := follow(t, st)

				_, err := c.UpdateField(t.Context(), admin, "deal", "code", &metadata.Field{Name: "code", Type: "integer", Unique: true})
				if fe := fieldErrors(t, err, http.StatusUnprocessableEntity); fe["fields.code.unique"] != "duplicates" {
					t.Fatalf("a conversion that makes duplicates: %v", fe)
				}
				if got, _ := c.Get("deal"); got.Version != 1 || got.Field("code").Type != "text" {
					t.Fatalf("the entity changed: version %d", got.Version)
				}
				if d, err := st.GetDoc(t.Context(), "entity", "deal"); err != nil || d.Version != 1 {
					t.Fatalf("stored definition: %+v %v", d, err)
				}
				// A field that was not unique still takes repeated values.
				if !wasUnique {
					insert(t, st, "deal", map[string]any{"name": "C", "code": "1"})
				}
				if !transactional(st) {
					t.Log("no transactions on this server: the records converted before the failure stay (decision 5)")
					return
				}
				for _, r := range []*store.Record{a, b} {
					if got := get(t, st, "deal", r.ID); got.Version != 1 || got.Data["code"] != r.Data["code"] {
						t.Errorf("record %s after the failed unit: version %d, code %#v", r.Data["name"], got.Version, got.Data["code"])
					}
				}
				if evs := ob.next(); len(evs) != 0 {
					t.Errorf("the failed unit left events: %v", types(evs))
				}
				if as := audit(t, st, "deal", "record.convert"); len(as) != 0 {
					t.Errorf("the failed unit left %d audit entries", len(as))
				}
			})
		})
	}
}
