package server_test

import (
	"strings"
	"testing"
)

// TestEntitiesForThePerson: /entities lists what the caller may use, with
// labels in both languages, icon, colour, title field and permissions; one
// entity shows only the fields the caller may see, which ones are
// read-only for them, and the related lists that point at it.
func TestEntitiesForThePerson(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			o := setupOrg(t, startWith(t, open(t)))
			admin, rep, nobody := o.admin, o.users["rep1"], o.users["nobody"]
			admin.do("PATCH", "/api/v1/meta/entities/deal/fields/stage", map[string]any{"label": map[string]any{"en": "Stage", "zh-CN": "阶段"},
				"options": []any{map[string]any{"value": "lead", "label": map[string]any{"en": "Lead", "zh-CN": "线索"}, "color": "#3366ff"},
					map[string]any{"value": "won", "label": "Won"}}}, 200, nil)
			var ent map[string]any
			admin.do("GET", "/api/v1/meta/entities/deal", nil, 200, &ent)
			ent["label"] = map[string]any{"en": "Deal", "zh-CN": "商机"}
			ent["icon"], ent["color"], ent["title_field"] = "briefcase", "#aa3300", "name"
			delete(ent, "version")
			admin.do("PUT", "/api/v1/meta/entities/deal", ent, 200, nil)

			var list struct {
				Items []struct {
					Name        string
					Label       any
					Icon, Color string
					TitleField  string `json:"title_field"`
					Permissions struct {
						Create, Read, Update, Delete bool
						AssignOwner                  bool `json:"assign_owner"`
					}
				}
			}
			rep.do("GET", "/api/v1/entities", nil, 200, &list)
			byName := map[string]int{}
			for i, it := range list.Items {
				byName[it.Name] = i
			}
			d, ok := byName["deal"]
			if !ok || len(list.Items) != 2 {
				t.Fatalf("the rep's entities: %+v", list.Items)
			}
			deal := list.Items[d]
			if l, _ := deal.Label.(map[string]any); l["zh-CN"] != "商机" || deal.Icon != "briefcase" || deal.Color != "#aa3300" || deal.TitleField != "name" {
				t.Fatalf("deal as the rep sees it: %+v", deal)
			}
			if p := deal.Permissions; !p.Create || !p.Read || !p.Update || p.Delete || p.AssignOwner {
				t.Fatalf("the rep's permissions on deal: %+v", p)
			}
			// A manager may give a record to someone else (an owner picker).
			mgrs := list
			mgrs.Items = nil // a fresh slice: decoding reuses the backing array
			o.users["mgr"].do("GET", "/api/v1/entities", nil, 200, &mgrs)
			for _, it := range mgrs.Items {
				if it.Name == "deal" && !it.Permissions.AssignOwner {
					t.Fatalf("the manager's permissions on deal: %+v", it.Permissions)
				}
			}
			if q := list.Items[byName["quote"]]; q.TitleField != "title" {
				t.Fatalf("quote's default title field: %q", q.TitleField)
			}
			nobody.do("GET", "/api/v1/entities", nil, 200, &list)
			if len(list.Items) != 0 {
				t.Fatalf("a user without grants sees %+v", list.Items)
			}

			var view struct {
				Fields []struct {
					Name     string
					Label    any
					ReadOnly bool `json:"read_only"`
					Options  []struct {
						Value, Color string
						Label        any
					}
				}
				Related []struct{ Entity, Field string }
			}
			rep.do("GET", "/api/v1/entities/deal", nil, 200, &view)
			fields := map[string]int{}
			for i, f := range view.Fields {
				fields[f.Name] = i
			}
			if _, ok := fields["margin"]; ok {
				t.Fatal("the rep is shown the hidden field margin")
			}
			if !view.Fields[fields["amount"]].ReadOnly || view.Fields[fields["name"]].ReadOnly {
				t.Fatalf("read-only flags: %+v", view.Fields)
			}
			stage := view.Fields[fields["stage"]]
			if l, _ := stage.Options[0].Label.(map[string]any); l["zh-CN"] != "线索" || stage.Options[0].Color != "#3366ff" || stage.Options[1].Label != "Won" {
				t.Fatalf("stage options: %+v", stage.Options)
			}
			if len(view.Related) != 1 || view.Related[0].Entity != "quote" || view.Related[0].Field != "deal" {
				t.Fatalf("related lists: %+v", view.Related)
			}
			nobody.do("GET", "/api/v1/entities/deal", nil, 403, nil)
			rep.do("GET", "/api/v1/entities/nosuch", nil, 404, nil)
		})
	}
}

// TestLabelsAndTitleRefused: labels are a string or an object by locale;
// a title field must be a text field of the entity.
func TestLabelsAndTitleRefused(t *testing.T) {
	e := start(t)
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "a", "label": 5, "fields": []any{}}, "label"},
		{map[string]any{"name": "a", "label": map[string]any{"en": 5}, "fields": []any{}}, "label"},
		{map[string]any{"name": "a", "label": map[string]any{"EN!": "x"}, "fields": []any{}}, "label"},
		{map[string]any{"name": "a", "color": "red", "fields": []any{}}, "color"},
		{map[string]any{"name": "a", "icon": "<svg>", "fields": []any{}}, "icon"},
		{map[string]any{"name": "a", "title_field": "nope", "fields": []any{}}, "title_field"},
		{map[string]any{"name": "a", "title_field": "n", "fields": []any{map[string]any{"name": "n", "type": "integer"}}}, "title_field"},
		{map[string]any{"name": "a", "fields": []any{map[string]any{"name": "s", "type": "select",
			"options": []any{map[string]any{"value": "x", "label": []any{"x"}}}}}}, "fields"},
	} {
		r := e.raw("POST", "/api/v1/meta/entities", c.body)
		if r.Status != 422 && r.Status != 400 {
			t.Errorf("%v: %d %s", c.body, r.Status, r.Body)
			continue
		}
		found := false
		for f := range problemFields(t, r) {
			if len(f) >= len(c.field) && f[:len(c.field)] == c.field {
				found = true
			}
		}
		if !found {
			t.Errorf("%v: the error does not name %s: %s", c.body, c.field, r.Body)
		}
	}
	e.do("GET", "/api/v1/meta/entities/a", nil, 404, nil)
}

// TestProfile: people change their own name and language; anything else is
// refused by name and changes nothing.
func TestProfile(t *testing.T) {
	e := start(t)
	var me struct {
		Name, Locale string
		Admin        bool
	}
	e.do("PATCH", "/api/v1/auth/me", map[string]any{"locale": "zh-CN", "name": "  管理员 "}, 200, &me)
	if me.Locale != "zh-CN" || me.Name != "管理员" || !me.Admin {
		t.Fatalf("after PATCH: %+v", me)
	}
	for body, field := range map[string]string{`{"locale":"fr"}`: "locale", `{"roles":["admin"]}`: "body", `{"name":"a\u0000b"}`: "name"} {
		r := e.raw("PATCH", "/api/v1/auth/me", body)
		if r.Status/100 != 4 {
			t.Fatalf("%s: %d", body, r.Status)
		}
		if _, ok := problemFields(t, r)[field]; !ok {
			t.Errorf("%s: the error does not name %s: %s", body, field, r.Body)
		}
	}
	e.do("GET", "/api/v1/auth/me", nil, 200, &me)
	if me.Locale != "zh-CN" || me.Name != "管理员" {
		t.Fatalf("a refused PATCH changed the profile: %+v", me)
	}
}

// TestSearch: the search box finds records by their title field, ignoring
// case, across the entities the caller can read, under their row rules.
func TestSearch(t *testing.T) {
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			o := setupOrg(t, startWith(t, open(t)))
			admin := o.admin
			for _, d := range []struct{ name, owner string }{{"Acme Corp", "rep1"}, {"ACME Labs", "rep2"}, {"Globex", "rep1"}, {"The acme of it", "rep1"}} {
				admin.do("POST", "/api/v1/records/deal", map[string]any{"name": d.name, "owner": o.ids[d.owner]}, 201, nil)
			}
			o.users["rep1"].do("POST", "/api/v1/records/quote", map[string]any{"title": "Acme quote"}, 201, nil)
			find := func(e *env, q string) []string {
				var out struct {
					Items []struct{ Entity, ID, Title string }
				}
				e.do("GET", "/api/v1/search?q="+q, nil, 200, &out)
				var got []string
				for _, it := range out.Items {
					got = append(got, it.Entity+":"+it.Title)
				}
				return got
			}
			if got := strings.Join(find(o.users["rep1"], "acme"), ", "); got != "deal:Acme Corp, quote:Acme quote, deal:The acme of it" {
				t.Errorf("rep1 finds %s", got)
			}
			if got := strings.Join(find(admin, "ACME"), ", "); got != "deal:ACME Labs, deal:Acme Corp, quote:Acme quote, deal:The acme of it" {
				t.Errorf("the admin finds %s", got)
			}
			if got := find(o.users["nobody"], "acme"); len(got) != 0 {
				t.Errorf("a user without grants finds %v", got)
			}
			admin.do("GET", "/api/v1/search?q=a", nil, 400, nil)
		})
	}
}
