package catalog_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/metadata"
)

// TestCreate: a new entity is version 1, compiled, stored with its audit
// entry and event, and its storage exists; a second one of the same name
// is refused and changes nothing.
func TestCreate(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		ob := follow(t, st)
		in := dealEntity()
		in.Fields[3].Deleted = true // a new entity has no deleted fields
		ce := mustCreate(t, c, in)
		if ce.Version != 1 || ce.CreatedAt.IsZero() || !ce.CreatedAt.Equal(ce.UpdatedAt) {
			t.Fatalf("created: version %d, created %v, updated %v", ce.Version, ce.CreatedAt, ce.UpdatedAt)
		}
		if f := ce.AnyField("code"); f.Deleted {
			t.Fatal("Create kept a deleted flag of its input")
		}
		if ce.Validator == nil || ce.Schema == nil {
			t.Fatal("created entity is not compiled")
		}
		if errs := ce.Validator.Validate(map[string]any{"name": "A", "stage": "nope"}); len(errs) == 0 {
			t.Fatal("the compiled validator accepts an unknown option")
		}
		got, err := c.Get("deal")
		if err != nil || got != ce {
			t.Fatalf("Get after Create: %v %v", got, err)
		}
		// Its storage exists: a record can be written and found.
		r := insert(t, st, "deal", map[string]any{"name": "A"})
		get(t, st, "deal", r.ID)

		evs := ob.next()
		if !reflect.DeepEqual(types(evs), []string{"meta.entity.updated"}) {
			t.Fatalf("events of a create: %v", types(evs))
		}
		if ev := evs[0]; ev.Entity != "deal" || ev.Actor != admin.UserID || ev.Origin != (store.Origin{User: admin.UserID}) {
			t.Fatalf("create event: %+v", ev)
		}
		as := audit(t, st, "deal", "meta.entity.create")
		if len(as) != 1 || as[0].Actor != admin.UserID || as[0].IP != admin.IP || as[0].Changes["after"] == nil || as[0].Changes["before"] != nil {
			t.Fatalf("create audit: %+v", as)
		}

		_, err = c.Create(t.Context(), admin, dealEntity())
		if status(err) != http.StatusConflict {
			t.Fatalf("second create of deal: %v", err)
		}
		if got, _ := c.Get("deal"); got.Version != 1 {
			t.Fatalf("a refused create changed the entity: version %d", got.Version)
		}
		if evs := ob.next(); len(evs) != 0 {
			t.Fatalf("a refused create wrote events: %v", types(evs))
		}
		if _, err := c.Get("nope"); status(err) != http.StatusNotFound {
			t.Fatalf("Get of an unknown entity: %v", err)
		}
	})
}

// TestList: entities come back by name.
func TestList(t *testing.T) {
	st, _ := stores["sqlite"](t)
	c := newCatalog(t, st)
	for _, n := range []string{"zeta", "alpha", "mid"} {
		mustCreate(t, c, &metadata.Entity{Name: n, Fields: []*metadata.Field{{Name: "title", Type: "text"}}})
	}
	var names []string
	for _, e := range c.List() {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"alpha", "mid", "zeta"}) {
		t.Fatalf("List: %v", names)
	}
}

// TestLoadAfterRestart: a catalog over a reopened store sees the same
// entities at the same versions, with the same definitions and history,
// compiled and with their storage.
func TestLoadAfterRestart(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, reopen func() store.Store) {
		c := newCatalog(t, st)
		mustCreate(t, c, &metadata.Entity{Name: "company", Fields: []*metadata.Field{{Name: "title", Type: "text"}}})
		deal := dealEntity()
		deal.Fields = append(deal.Fields, &metadata.Field{Name: "company", Type: "lookup", Target: "company"},
			&metadata.Field{Name: "total", Type: "formula", Formula: "amount * 2"})
		deal.Rules = []*metadata.Rule{{Name: "positive", Expression: "amount == nil or amount >= 0", Message: "no", Field: "amount"}}
		mustCreate(t, c, deal)
		if _, err := c.AddField(t.Context(), admin, "deal", &metadata.Field{Name: "region", Type: "text", Indexed: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteField(t.Context(), admin, "deal", "code"); err != nil {
			t.Fatal(err)
		}
		rec := insert(t, st, "deal", map[string]any{"name": "A", "region": "east"})
		before, _ := json.Marshal(c.List())
		hist, err := c.History(t.Context(), "deal")
		if err != nil {
			t.Fatal(err)
		}
		st.Close()

		st2 := reopen()
		c2 := newCatalog(t, st2)
		after, _ := json.Marshal(c2.List())
		if string(before) != string(after) {
			t.Fatalf("entities after a restart:\n%s\nwant\n%s", after, before)
		}
		d, err := c2.Get("deal")
		if err != nil || d.Version != 3 {
			t.Fatalf("deal after a restart: %v %v", d, err)
		}
		if len(d.Formulas) != 1 || len(d.Rules) != 1 || d.Validator == nil {
			t.Fatalf("deal is not compiled after a restart: %d formulas, %d rules", len(d.Formulas), len(d.Rules))
		}
		if f := d.AnyField("code"); f == nil || !f.Deleted || d.Field("code") != nil {
			t.Fatalf("a deleted field after a restart: %+v", f)
		}
		hist2, err := c2.History(t.Context(), "deal")
		if err != nil {
			t.Fatal(err)
		}
		if h1, h2 := versions(hist), versions(hist2); !slices.Equal(h1, h2) || !slices.Equal(h1, []int64{1, 2, 3}) {
			t.Fatalf("history after a restart: %v, before %v", h2, h1)
		}
		if got := get(t, st2, "deal", rec.ID); got.Data["region"] != "east" {
			t.Fatalf("record after a restart: %v", got.Data)
		}
		// The restarted catalog goes on from the stored version.
		e, err := c2.Change(t.Context(), admin, "deal", 3, "meta.entity.update", func(e *metadata.Entity) error {
			e.Label = metadata.Text{"en": "Deals"}
			return nil
		})
		if err != nil || e.Version != 4 {
			t.Fatalf("change after a restart: %v %v", e, err)
		}
	})
}

func versions(es []*metadata.Entity) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.Version)
	}
	return out
}

// TestLoadKeepsOldNames: a formula naming a field that does not exist is
// refused when metadata changes, but a definition stored before that check
// still loads; it cannot be changed until the formula is fixed.
func TestLoadKeepsOldNames(t *testing.T) {
	st, _ := stores["sqlite"](t)
	e := &metadata.Entity{Name: "legacy", Version: 1, Fields: []*metadata.Field{
		{Name: "title", Type: "text"},
		{Name: "shout", Type: "formula", Formula: "titel + '!'"},
	}}
	data, _ := json.Marshal(e)
	if err := st.PutDoc(t.Context(), &store.Doc{Kind: "entity", ID: "legacy", Version: 1, Data: data}, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	c := newCatalog(t, st)
	if _, err := c.Get("legacy"); err != nil {
		t.Fatalf("a legacy definition does not load: %v", err)
	}
	_, err := c.AddField(t.Context(), admin, "legacy", &metadata.Field{Name: "note", Type: "text"})
	if fe := fieldErrors(t, err, 422); fe["fields.shout.formula"] != "unknown_field" {
		t.Fatalf("change of a legacy definition: %v", fe)
	}
}

// TestLoadRefusesBrokenDefinition: a stored definition that does not
// compile stops Load with the entity's name, and the catalog keeps what
// it had.
func TestLoadRefusesBrokenDefinition(t *testing.T) {
	st, _ := stores["sqlite"](t)
	c := newCatalog(t, st)
	mustCreate(t, c, dealEntity())
	e := &metadata.Entity{Name: "broken", Version: 1, Fields: []*metadata.Field{{Name: "f", Type: "formula", Formula: "1 +"}}}
	data, _ := json.Marshal(e)
	if err := st.PutDoc(t.Context(), &store.Doc{Kind: "entity", ID: "broken", Version: 1, Data: data}, store.Sides{}); err != nil {
		t.Fatal(err)
	}
	err := c.Load(t.Context())
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Load of a broken definition: %v", err)
	}
	if _, err := c.Get("deal"); err != nil {
		t.Fatalf("a failed Load dropped what the catalog had: %v", err)
	}
}

// TestUpdate: PUT replaces the definition, deletes (never drops) fields it
// leaves out, keeps the creation time, checks the expected version and
// refuses a rename.
func TestUpdate(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		orig := dealEntity()
		orig.Fields[3].Unique = true
		created := mustCreate(t, c, orig)
		rec := insert(t, st, "deal", map[string]any{"name": "A", "code": "X1", "amount": 5.0})

		next := dealEntity()
		next.Label = metadata.Text{"en": "Deals"}
		next.Fields = next.Fields[:2] // stage and code left out
		if _, err := c.Update(t.Context(), admin, "deal", next, 7); status(err) != http.StatusConflict {
			t.Fatalf("PUT with a stale version: %v", err)
		}
		renamed := dealEntity()
		renamed.Name = "deals"
		if fe := fieldErrors(t, must(c.Update(t.Context(), admin, "deal", renamed, 0)), 422); fe["name"] != "immutable" {
			t.Fatalf("rename: %v", fe)
		}
		if got, _ := c.Get("deal"); got.Version != 1 {
			t.Fatalf("refused PUTs changed the entity: version %d", got.Version)
		}

		ce, err := c.Update(t.Context(), admin, "deal", next, 1)
		if err != nil {
			t.Fatal(err)
		}
		if ce.Version != 2 || !ce.CreatedAt.Equal(created.CreatedAt) || ce.UpdatedAt.Before(created.UpdatedAt) {
			t.Fatalf("updated: version %d, created %v (was %v)", ce.Version, ce.CreatedAt, created.CreatedAt)
		}
		if ce.Label["en"] != "Deals" {
			t.Fatalf("label: %v", ce.Label)
		}
		for _, name := range []string{"stage", "code"} {
			f := ce.AnyField(name)
			if f == nil || !f.Deleted || f.DeletedAt == nil || f.Unique || ce.Field(name) != nil {
				t.Fatalf("field %s left out of a PUT: %+v", name, f)
			}
		}
		if got := get(t, st, "deal", rec.ID); got.Data["code"] != "X1" {
			t.Fatalf("a field left out of a PUT lost its data: %v", got.Data)
		}
		// The unique index went with the field: its old values may repeat.
		insert(t, st, "deal", map[string]any{"name": "B", "code": "X1"})

		// 0 is any version.
		if ce, err := c.Update(t.Context(), admin, "deal", next, 0); err != nil || ce.Version != 3 {
			t.Fatalf("PUT without a version: %v %v", ce, err)
		}
		as := audit(t, st, "deal", "meta.entity.update")
		if len(as) != 2 || as[0].Changes["before"] == nil || as[0].Changes["after"] == nil {
			t.Fatalf("update audit: %+v", as)
		}
		var before metadata.Entity
		b, _ := json.Marshal(as[0].Changes["before"])
		if err := json.Unmarshal(b, &before); err != nil || before.Version != 1 || before.Field("stage") == nil {
			t.Fatalf("the audit's before is not version 1: %s", b)
		}
	})
}

// must drops the value of a call that is expected to fail.
func must[T any](_ T, err error) error { return err }

// TestChangeExpectedVersion: of several changes that all expect version 1
// at once, exactly one is made; the others are conflicts and change
// nothing.
func TestChangeExpectedVersion(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		mustCreate(t, c, dealEntity())
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.Change(t.Context(), admin, "deal", 1, "meta.entity.update", func(e *metadata.Entity) error {
					e.Description = metadata.Text{"en": strings.Repeat("x", i+1)}
					return nil
				})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch status(err) {
			case 0:
				if err != nil {
					t.Fatal(err)
				}
				won++
			case http.StatusConflict:
			default:
				t.Fatalf("concurrent change: %v", err)
			}
		}
		got, _ := c.Get("deal")
		if won != 1 || got.Version != 2 {
			t.Fatalf("%d changes expecting version 1 were made; now at version %d", won, got.Version)
		}
		if as := audit(t, st, "deal", "meta.entity.update"); len(as) != 1 {
			t.Fatalf("audit entries of the changes: %d", len(as))
		}
		// An error from the change function is returned, nothing saved.
		_, err := c.Change(t.Context(), admin, "deal", 0, "meta.entity.update", func(e *metadata.Entity) error {
			e.Label = metadata.Text{"en": "half"}
			return errBoom
		})
		if err != errBoom {
			t.Fatalf("the change function's error: %v", err)
		}
		if got, _ := c.Get("deal"); got.Version != 2 || got.Label["en"] != "Deal" {
			t.Fatalf("a failed change function changed the entity: %+v", got.Entity)
		}
		if _, err := c.Change(t.Context(), admin, "nope", 0, "x", func(*metadata.Entity) error { return nil }); status(err) != http.StatusNotFound {
			t.Fatalf("change of an unknown entity: %v", err)
		}
	})
}

type boom struct{}

func (boom) Error() string { return "boom" }

var errBoom error = boom{}

// TestTwoNodes: two catalogs over one store are two nodes. A node whose
// cached version is stale is refused with a conflict by the store, and
// sees the other's change after Load.
func TestTwoNodes(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		a := newCatalog(t, st)
		mustCreate(t, a, dealEntity())
		b := newCatalog(t, st)
		insert(t, st, "deal", map[string]any{"name": "A", "code": "X"})
		if _, err := a.UpdateField(t.Context(), admin, "deal", "code", &metadata.Field{Name: "code", Type: "text", Unique: true}); err != nil {
			t.Fatal(err)
		}
		_, err := b.Change(t.Context(), admin, "deal", 1, "meta.entity.update", func(e *metadata.Entity) error {
			e.Label = metadata.Text{"en": "stale"}
			return nil
		})
		if status(err) != http.StatusConflict {
			t.Fatalf("a change from a stale node: %v", err)
		}
		if _, err := b.Create(t.Context(), admin, &metadata.Entity{Name: "deal", Fields: []*metadata.Field{{Name: "x", Type: "text"}}}); status(err) != http.StatusConflict {
			t.Fatalf("a create over another node's entity: %v", err)
		}
		// The refused changes left the storage as the stored definition
		// wants it: code is still unique.
		now := time.Now().UTC()
		err = st.Insert(t.Context(), "deal", &store.Record{ID: store.NewID(), Version: 1, CreatedAt: now, UpdatedAt: now,
			Data: map[string]any{"name": "B", "code": "X"}}, store.Sides{})
		var ue *store.UniqueError
		if !errors.As(err, &ue) {
			t.Fatalf("a duplicate of a unique field after a stale node's refused change: %v", err)
		}
		if err := b.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		got, _ := b.Get("deal")
		if got.Version != 2 || !got.Field("code").Unique || got.Label["en"] != "Deal" {
			t.Fatalf("after Load: version %d, %+v", got.Version, got.Entity)
		}
	})
}

// TestStaleNodeWritesNothing: a node whose cached definition is stale
// writes nothing of its change, not even where the store has no
// transactions to roll it back: a purge of a field another node restored
// keeps the data, a conversion another node's version would not make
// converts nothing.
func TestStaleNodeWritesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		a := newCatalog(t, st)
		mustCreate(t, a, dealEntity())
		r := insert(t, st, "deal", map[string]any{"name": "A", "code": "1"})
		deleted, err := a.DeleteField(t.Context(), admin, "deal", "code")
		if err != nil {
			t.Fatal(err)
		}
		b := newCatalog(t, st) // sees code deleted
		restored := *deleted.AnyField("code")
		restored.Deleted, restored.DeletedAt = false, nil
		if _, err := a.UpdateField(t.Context(), admin, "deal", "code", &restored); err != nil {
			t.Fatal(err)
		}
		ob := follow(t, st)
		if _, err := b.PurgeField(t.Context(), admin, "deal", "code"); status(err) != http.StatusConflict {
			t.Fatalf("a purge from a stale node: %v", err)
		}
		if got := get(t, st, "deal", r.ID); got.Data["code"] != "1" || got.Version != 1 {
			t.Fatalf("a stale node's refused purge removed data: %+v", got)
		}

		if err := b.Load(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := a.AddField(t.Context(), admin, "deal", &metadata.Field{Name: "region", Type: "text"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.UpdateField(t.Context(), admin, "deal", "code", &metadata.Field{Name: "code", Type: "integer"}); status(err) != http.StatusConflict {
			t.Fatalf("a conversion from a stale node: %v", err)
		}
		if got := get(t, st, "deal", r.ID); got.Data["code"] != "1" || got.Version != 1 {
			t.Fatalf("a stale node's refused conversion changed the record: %+v", got)
		}
		if evs := ob.next(); !slices.Equal(types(evs), []string{"meta.entity.updated"}) {
			t.Fatalf("events: %v, want only a's change", types(evs))
		}
	})
}

// TestDeleteEntity: an entity goes only when nothing refers to it and it
// has no records; its deletion is audited, has an event, and lasts.
func TestDeleteEntity(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, reopen func() store.Store) {
		c := newCatalog(t, st)
		mustCreate(t, c, &metadata.Entity{Name: "company", Fields: []*metadata.Field{{Name: "title", Type: "text"}}})
		deal := dealEntity()
		deal.Fields = append(deal.Fields, &metadata.Field{Name: "company", Type: "lookup", Target: "company"})
		mustCreate(t, c, deal)

		if err := c.Delete(t.Context(), admin, "company"); status(err) != http.StatusConflict || !strings.Contains(err.Error(), "deal.company") {
			t.Fatalf("delete of a referenced entity: %v", err)
		}
		r := insert(t, st, "deal", map[string]any{"name": "A"})
		if err := c.Delete(t.Context(), admin, "deal"); status(err) != http.StatusConflict || !strings.Contains(err.Error(), "records") {
			t.Fatalf("delete of an entity with records: %v", err)
		}
		if err := st.Delete(t.Context(), "deal", r.ID, 0, store.Sides{}); err != nil {
			t.Fatal(err)
		}
		ob := follow(t, st)
		if err := c.Delete(t.Context(), admin, "deal"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get("deal"); status(err) != http.StatusNotFound {
			t.Fatalf("Get after delete: %v", err)
		}
		if evs := ob.next(); !reflect.DeepEqual(types(evs), []string{"meta.entity.deleted"}) || evs[0].Entity != "deal" {
			t.Fatalf("delete events: %v", types(evs))
		}
		if as := audit(t, st, "deal", "meta.entity.delete"); len(as) != 1 || as[0].Changes["before"] == nil {
			t.Fatalf("delete audit: %+v", as)
		}
		// Nothing refers to company now.
		if err := c.Delete(t.Context(), admin, "company"); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(t.Context(), admin, "company"); status(err) != http.StatusNotFound {
			t.Fatalf("second delete: %v", err)
		}
		st.Close()
		if n := len(newCatalog(t, reopen()).List()); n != 0 {
			t.Fatalf("%d entities after deleting all and a restart", n)
		}
	})
}

// TestSelfLookup: an entity may point at itself, and its own lookup does
// not keep it from being deleted.
func TestSelfLookup(t *testing.T) {
	st, _ := stores["sqlite"](t)
	c := newCatalog(t, st)
	mustCreate(t, c, &metadata.Entity{Name: "person", Fields: []*metadata.Field{{Name: "mentor", Type: "lookup", Target: "person"}}})
	if err := c.Delete(t.Context(), admin, "person"); err != nil {
		t.Fatal(err)
	}
}

// TestHistory: every version is kept, oldest first, each as it was.
func TestHistory(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		mustCreate(t, c, dealEntity())
		mustCreate(t, c, &metadata.Entity{Name: "other", Fields: []*metadata.Field{{Name: "title", Type: "text"}}})
		for _, label := range []string{"two", "three"} {
			if _, err := c.Change(t.Context(), admin, "deal", 0, "meta.entity.update", func(e *metadata.Entity) error {
				e.Label = metadata.Text{"en": label}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		h, err := c.History(t.Context(), "deal")
		if err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, e := range h {
			if e.Name != "deal" {
				t.Fatalf("another entity in deal's history: %s", e.Name)
			}
			labels = append(labels, e.Label["en"])
		}
		if !slices.Equal(versions(h), []int64{1, 2, 3}) || !slices.Equal(labels, []string{"Deal", "two", "three"}) {
			t.Fatalf("history: versions %v, labels %v", versions(h), labels)
		}
		if _, err := c.History(t.Context(), "nope"); status(err) != http.StatusNotFound {
			t.Fatalf("history of an unknown entity: %v", err)
		}
	})
}

// TestHistoryAfterRecreate: an entity deleted and created again has the
// history of the new one only.
func TestHistoryAfterRecreate(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store, _ func() store.Store) {
		c := newCatalog(t, st)
		mustCreate(t, c, dealEntity())
		if _, err := c.AddField(t.Context(), admin, "deal", &metadata.Field{Name: "old_one", Type: "text"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(t.Context(), admin, "deal"); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, c, &metadata.Entity{Name: "deal", Label: metadata.Text{"en": "New"}, Fields: []*metadata.Field{{Name: "title", Type: "text"}}})
		h, err := c.History(t.Context(), "deal")
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 || h[0].Version != 1 || h[0].Label["en"] != "New" || h[0].Field("title") == nil {
			b, _ := json.Marshal(h)
			t.Fatalf("history of a re-created entity: %s", b)
		}
	})
}

// TestOrigin: a metadata event says who made the change: the user, the
// API token, and the workflow run and its depth.
func TestOrigin(t *testing.T) {
	st, _ := stores["sqlite"](t)
	c := newCatalog(t, st)
	ob := follow(t, st)
	api := &identity.Principal{UserID: "u-int", TokenKind: "api", TokenID: "tok-1"}
	ctx := identity.WithRun(t.Context(), identity.Run{ID: "run-9", Depth: 2})
	if _, err := c.Create(ctx, api, dealEntity()); err != nil {
		t.Fatal(err)
	}
	evs := ob.next()
	want := store.Origin{User: "u-int", Token: "tok-1", Run: "run-9", Depth: 2}
	if len(evs) != 1 || evs[0].Origin != want || evs[0].Actor != "u-int" {
		t.Fatalf("origin: %+v", evs)
	}
	// A session's token id is not an API token's.
	sess := &identity.Principal{UserID: "u-s", TokenKind: "session", TokenID: "sess-1"}
	if _, err := c.AddField(t.Context(), sess, "deal", &metadata.Field{Name: "x", Type: "text"}); err != nil {
		t.Fatal(err)
	}
	if evs := ob.next(); len(evs) != 1 || evs[0].Origin != (store.Origin{User: "u-s"}) {
		t.Fatalf("session origin: %+v", evs[0].Origin)
	}
	// With no principal (the system itself) the change has no actor.
	if _, err := c.AddField(t.Context(), nil, "deal", &metadata.Field{Name: "y", Type: "text"}); err != nil {
		t.Fatal(err)
	}
	if evs := ob.next(); len(evs) != 1 || evs[0].Actor != "" || evs[0].Origin != (store.Origin{}) {
		t.Fatalf("system origin: %+v", evs[0])
	}
}
