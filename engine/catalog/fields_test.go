package catalog_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// TestAddField: a field is added to the definition at once; records
// written before simply lack it. A name already taken, live or deleted, is
// refused.
func TestAddField(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		mustCreate(t, c, dealEntity())
		rec := insert(t, st, "deal", map[string]any{"name": "A"})
		ce, err := c.AddField(t.Context(), admin, "deal", &metadata.Field{Name: "region", Type: "text", Indexed: true})
		if err != nil {
			t.Fatal(err)
		}
		if ce.Version != 2 || ce.Field("region") == nil {
			t.Fatalf("after AddField: version %d", ce.Version)
		}
		if _, ok := get(t, st, "deal", rec.ID).Data["region"]; ok {
			t.Fatal("an existing record got the new field")
		}
		if as := audit(t, st, "deal", "meta.field.create"); len(as) != 1 || as[0].Changes["before"] == nil {
			t.Fatalf("add-field audit: %+v", as)
		}

		_, err = c.AddField(t.Context(), admin, "deal", &metadata.Field{Name: "region", Type: "number"})
		if status(err) != http.StatusConflict || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("a second field of the same name: %v", err)
		}
		if _, err := c.DeleteField(t.Context(), admin, "deal", "region"); err != nil {
			t.Fatal(err)
		}
		_, err = c.AddField(t.Context(), admin, "deal", &metadata.Field{Name: "region", Type: "number"})
		if status(err) != http.StatusConflict || !strings.Contains(err.Error(), "purge") {
			t.Fatalf("a field named like a deleted one: %v", err)
		}
		if fe := fieldErrors(t, must(c.AddField(t.Context(), admin, "deal", &metadata.Field{Name: "size", Type: "huge"})), 422); fe["fields.size.type"] != "unknown_type" {
			t.Fatalf("a field of an unknown type: %v", fe)
		}
		if _, err := c.AddField(t.Context(), admin, "nope", &metadata.Field{Name: "x", Type: "text"}); status(err) != http.StatusNotFound {
			t.Fatalf("a field on an unknown entity: %v", err)
		}
		if got, _ := c.Get("deal"); got.Version != 3 {
			t.Fatalf("refused additions changed the entity: version %d", got.Version)
		}
	})
}

// TestUpdateField: a field's definition is replaced under its name; a
// rename and an unknown field are refused.
func TestUpdateField(t *testing.T) {
	st, _ := stores["sqlite"](t)
	c := newCatalog(t, st)
	mustCreate(t, c, dealEntity())
	ce, err := c.UpdateField(t.Context(), admin, "deal", "code", &metadata.Field{Name: "code", Type: "text", Label: metadata.Text{"en": "Code"}, MaxLength: 8})
	if err != nil {
		t.Fatal(err)
	}
	if f := ce.Field("code"); ce.Version != 2 || f.MaxLength != 8 || f.Label["en"] != "Code" {
		t.Fatalf("updated field: version %d, %+v", ce.Version, f)
	}
	if errs := ce.Validator.Validate(map[string]any{"name": "A", "code": "123456789"}); len(errs) == 0 {
		t.Fatal("the new max_length is not in the compiled validator")
	}
	if as := audit(t, st, "deal", "meta.field.update"); len(as) != 1 {
		t.Fatalf("update-field audit: %d entries", len(as))
	}
	fe := fieldErrors(t, must(c.UpdateField(t.Context(), admin, "deal", "code", &metadata.Field{Name: "ref", Type: "text"})), 422)
	if fe["name"] != "immutable" {
		t.Fatalf("rename of a field: %v", fe)
	}
	if _, err := c.UpdateField(t.Context(), admin, "deal", "nope", &metadata.Field{Name: "nope", Type: "text"}); status(err) != http.StatusNotFound {
		t.Fatalf("update of an unknown field: %v", err)
	}
	if _, err := c.UpdateField(t.Context(), admin, "nope", "code", &metadata.Field{Name: "code", Type: "text"}); status(err) != http.StatusNotFound {
		t.Fatalf("update on an unknown entity: %v", err)
	}
	bad := &metadata.Field{Name: "stage", Type: "select"} // no options
	if fe := fieldErrors(t, must(c.UpdateField(t.Context(), admin, "deal", "stage", bad)), 422); fe["fields.stage.options"] != "options" {
		t.Fatalf("a select without options: %v", fe)
	}
	if got, _ := c.Get("deal"); got.Version != 2 || len(got.Field("stage").Options) != 2 {
		t.Fatalf("refused updates changed the entity: version %d", got.Version)
	}
}

// TestUnique: making a field unique over records that repeat a value is
// refused naming the field, and changes nothing, storage included; over
// distinct values the store enforces it from then on.
func TestUnique(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		mustCreate(t, c, dealEntity())
		insert(t, st, "deal", map[string]any{"name": "A", "code": "X"})
		dup := insert(t, st, "deal", map[string]any{"name": "B", "code": "X"})
		unique := &metadata.Field{Name: "code", Type: "text", Unique: true}
		fe := fieldErrors(t, must(c.UpdateField(t.Context(), admin, "deal", "code", unique)), 422)
		if fe["fields.code.unique"] != "duplicates" {
			t.Fatalf("unique over duplicates: %v", fe)
		}
		if got, _ := c.Get("deal"); got.Version != 1 || got.Field("code").Unique {
			t.Fatalf("a refused unique change took effect: version %d", got.Version)
		}
		insert(t, st, "deal", map[string]any{"name": "C", "code": "X"}) // still allowed

		// Without the duplicates it goes through, and holds.
		for _, r := range []*store.Record{dup} {
			if err := st.Delete(t.Context(), "deal", r.ID, 0, store.Sides{}); err != nil {
				t.Fatal(err)
			}
		}
		recs, err := st.Find(t.Context(), "deal", store.Query{Filter: &store.Cond{Op: store.OpEq, Field: "name", Kind: metadata.KindString, Value: "C"}})
		if err != nil || len(recs) != 1 {
			t.Fatalf("find C: %v %v", recs, err)
		}
		if err := st.Delete(t.Context(), "deal", recs[0].ID, 0, store.Sides{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateField(t.Context(), admin, "deal", "code", unique); err != nil {
			t.Fatal(err)
		}
		now := dup.CreatedAt
		err = st.Insert(t.Context(), "deal", &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
			Data: map[string]any{"name": "D", "code": "X"}}, store.Sides{})
		var ue *store.UniqueError
		if !errors.As(err, &ue) || ue.Field != "code" {
			t.Fatalf("a duplicate of a unique field: %v", err)
		}
	})
}

// TestDeleteField: a deleted field is hidden, stops blocking writes, loses
// its indexes (compound ones too) and keeps its data; restoring it shows
// the data again.
func TestDeleteField(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		e := dealEntity()
		e.Fields[3].Required, e.Fields[3].Unique = true, true
		e.Indexes = []*metadata.Index{{Fields: []string{"stage", "code"}}, {Fields: []string{"stage", "amount"}}}
		mustCreate(t, c, e)
		rec := insert(t, st, "deal", map[string]any{"name": "A", "code": "X"})

		ce, err := c.DeleteField(t.Context(), admin, "deal", "code")
		if err != nil {
			t.Fatal(err)
		}
		f := ce.AnyField("code")
		if ce.Field("code") != nil || !f.Deleted || f.DeletedAt == nil || f.Required || f.Unique || f.Indexed {
			t.Fatalf("deleted field: %+v", f)
		}
		if len(ce.Indexes) != 1 || !reflect.DeepEqual(ce.Indexes[0].Fields, []string{"stage", "amount"}) {
			t.Fatalf("compound indexes after deleting code: %v", ce.Indexes)
		}
		if errs := ce.Validator.Validate(map[string]any{"name": "B"}); len(errs) != 0 {
			t.Fatalf("a deleted required field still blocks writes: %v", errs)
		}
		if got := get(t, st, "deal", rec.ID); got.Data["code"] != "X" {
			t.Fatalf("a deleted field lost its data: %v", got.Data)
		}
		insert(t, st, "deal", map[string]any{"name": "B", "code": "X"}) // no longer unique
		if as := audit(t, st, "deal", "meta.field.delete"); len(as) != 1 {
			t.Fatalf("delete-field audit: %d entries", len(as))
		}
		if _, err := c.DeleteField(t.Context(), admin, "deal", "code"); status(err) != http.StatusNotFound {
			t.Fatalf("second delete of a field: %v", err)
		}
		if _, err := c.DeleteField(t.Context(), admin, "deal", "nope"); status(err) != http.StatusNotFound {
			t.Fatalf("delete of an unknown field: %v", err)
		}

		// Restoring is an update of the deleted field.
		restored := *f
		restored.Deleted, restored.DeletedAt = false, nil
		ce, err = c.UpdateField(t.Context(), admin, "deal", "code", &restored)
		if err != nil {
			t.Fatal(err)
		}
		if ce.Field("code") == nil {
			t.Fatal("the field is not restored")
		}
	})
}

// TestDeleteFieldInUse: a field a formula, a default or a rule reads
// cannot be deleted while they read it.
func TestDeleteFieldInUse(t *testing.T) {
	st, _ := stores["sqlite"](t)
	c := newCatalog(t, st)
	e := dealEntity()
	e.Fields = append(e.Fields,
		&metadata.Field{Name: "double", Type: "formula", Formula: "amount * 2"},
		&metadata.Field{Name: "ref", Type: "text", DefaultEx: "code + '-1'"})
	e.Rules = []*metadata.Rule{{Name: "named", Expression: "stage != 'won' or name != ''", Message: "m"}}
	mustCreate(t, c, e)
	for field, path := range map[string]string{"amount": "fields.double.formula", "code": "fields.ref.default_expr", "stage": "rules.0.expression"} {
		fe := fieldErrors(t, must(c.DeleteField(t.Context(), admin, "deal", field)), 422)
		if fe[path] != "unknown_field" {
			t.Errorf("delete of %s, read by %s: %v", field, path, fe)
		}
	}
	if got, _ := c.Get("deal"); got.Version != 1 {
		t.Fatalf("refused deletions changed the entity: version %d", got.Version)
	}
}

// TestPurgeField: a purge removes a deleted field from the definition and
// its data from every record, in the unit that saves the new version, with
// an audit entry and an event that carry no values.
func TestPurgeField(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		mustCreate(t, c, dealEntity())
		a := insert(t, st, "deal", map[string]any{"name": "A", "code": "secret-a"})
		b := insert(t, st, "deal", map[string]any{"name": "B", "code": "secret-b"})
		untouched := insert(t, st, "deal", map[string]any{"name": "C"})

		if _, err := c.PurgeField(t.Context(), admin, "deal", "code"); status(err) != http.StatusConflict {
			t.Fatalf("purge of a live field: %v", err)
		}
		if _, err := c.PurgeField(t.Context(), admin, "deal", "nope"); status(err) != http.StatusNotFound {
			t.Fatalf("purge of an unknown field: %v", err)
		}
		if _, err := c.PurgeField(t.Context(), admin, "nope", "code"); status(err) != http.StatusNotFound {
			t.Fatalf("purge on an unknown entity: %v", err)
		}
		if got := get(t, st, "deal", a.ID); got.Data["code"] != "secret-a" {
			t.Fatalf("a refused purge removed data: %v", got.Data)
		}
		if _, err := c.DeleteField(t.Context(), admin, "deal", "code"); err != nil {
			t.Fatal(err)
		}
		ob := follow(t, st)
		ce, err := c.PurgeField(t.Context(), admin, "deal", "code")
		if err != nil {
			t.Fatal(err)
		}
		if ce.AnyField("code") != nil || ce.Version != 3 {
			t.Fatalf("after purge: version %d, field %+v", ce.Version, ce.AnyField("code"))
		}
		for _, r := range []*store.Record{a, b} {
			if got := get(t, st, "deal", r.ID); got.Data["code"] != nil || got.Data["name"] == nil {
				t.Fatalf("purged record %s: %v", r.ID, got.Data)
			}
		}
		if got := get(t, st, "deal", untouched.ID); got.Data["name"] != "C" {
			t.Fatalf("a record without the field: %v", got.Data)
		}

		evs := ob.next()
		if !reflect.DeepEqual(types(evs), []string{"meta.field.purged", "meta.entity.updated"}) {
			t.Fatalf("purge events: %v", types(evs))
		}
		ev := evs[0]
		if ev.Entity != "deal" || ev.Payload["field"] != "code" || ev.Changes != nil || ev.Record != nil || ev.Actor != admin.UserID ||
			ev.Origin != (store.Origin{User: admin.UserID}) {
			t.Fatalf("purged event: %+v", ev)
		}
		pa := audit(t, st, "deal", "meta.field.purge_data")
		if len(pa) != 1 || !reflect.DeepEqual(pa[0].Changes, map[string]any{"field": "code"}) || pa[0].Actor != admin.UserID || pa[0].IP != admin.IP {
			t.Fatalf("purge-data audit: %+v", pa)
		}
		if ma := audit(t, st, "deal", "meta.field.purge"); len(ma) != 1 {
			t.Fatalf("purge metadata audit: %d entries", len(ma))
		}

		// The name is free again, and the old values do not come back.
		if _, err := c.AddField(t.Context(), admin, "deal", &metadata.Field{Name: "code", Type: "text"}); err != nil {
			t.Fatal(err)
		}
		if got := get(t, st, "deal", a.ID); got.Data["code"] != nil {
			t.Fatalf("purged data came back: %v", got.Data)
		}
	})
}
