package main

import (
	"fmt"
	"testing"
)

// TestFieldDryRun: on a phone, a type change shows what it would do to the
// records before the admin applies it — the records that would not convert
// (linked, with their values), then how many will convert — and changes
// nothing until confirmed; deleting and purging a field say how many
// records hold a value. In English, then in Chinese.
func TestFieldDryRun(t *testing.T) {
	needBrowser(t)
	j := startJimu(t)
	admin := j.token(t, adminEmail, adminPassword)
	dealEntity(t, j, admin)
	ids := map[string]string{}
	for _, r := range []map[string]any{
		{"name": "Acme", "code": "1", "notes": "n", "stage": "lead"},
		{"name": "Globex", "code": "2", "notes": "n", "stage": "won"},
		{"name": "Initech", "code": "x-9", "stage": "lead"},
		{"name": "Umbrella"},
	} {
		ids[r["name"].(string)] = j.call(t, admin, "POST", "/api/v1/records/deal", r, 201)["id"].(string)
	}
	fieldType := func(name string) string {
		t.Helper()
		return fmt.Sprint(j.call(t, admin, "GET", "/api/v1/meta/entities/deal/fields/"+name, nil, 200)["type"])
	}
	b := newBrowser(t, 390, 844)
	b.signIn(j.base, adminEmail, adminPassword)

	b.run(nav(j.base+"/designer/deal"), click(`[data-test=edit-field-code]`), visible(`[data-test=field-editor]`),
		choose(`[data-test=field-type]`, "integer"), click(`[data-test=field-save]`),
		waitText(`[data-test=conversion-report]`, "Records whose value cannot become Whole number: 1."),
		waitText(`[data-test=conversion-report] li`, "Initech: x-9"),
		waitJS(fmt.Sprintf(`document.querySelector('[data-test=conversion-report] li a').getAttribute('href') === '/e/deal/%s'`, ids["Initech"])))
	if n := eval[int](b, `document.querySelectorAll('[data-test=type-confirm]').length`); n != 0 {
		t.Error("a refused type change still offers to convert")
	}
	b.step("type-change-refused")
	if ty := fieldType("code"); ty != "text" {
		t.Fatalf("the dry run changed the field's type to %s", ty)
	}

	// Once the value is fixed, the same change says what it will convert,
	// and only the confirmation applies it.
	j.call(t, admin, "PATCH", "/api/v1/records/deal/"+ids["Initech"], map[string]any{"code": "3"}, 200)
	b.run(click(`[data-test=field-save]`), waitText(`[data-test=type-confirm]`, "Records to convert from Text to Whole number: 3."),
		waitText(`[data-test=field-save]`, "Convert the records"), gone(`[data-test=conversion-report]`))
	b.step("type-change-plan")
	if ty := fieldType("code"); ty != "text" {
		t.Fatalf("the plan changed the field's type to %s before the confirmation", ty)
	}
	// A change made after the plan asks again.
	b.run(choose(`[data-test=field-type]`, "number"), gone(`[data-test=type-confirm]`), waitText(`[data-test=field-save]`, "Save"),
		// Back to the planned type: the old plan is gone, not revived.
		choose(`[data-test=field-type]`, "integer"), waitText(`[data-test=field-save]`, "Save"), gone(`[data-test=type-confirm]`),
		click(`[data-test=field-save]`), visible(`[data-test=type-confirm]`),
		// The button becomes the confirmation once the plan is shown: a
		// click on the old one would ask for the plan again.
		waitText(`[data-test=field-save]`, "Convert the records"),
		click(`[data-test=field-save]`), gone(`[data-test=field-editor]`), waitText(`[data-test=fields-table] tr[data-field=code]`, "Whole number"))
	if ty := fieldType("code"); ty != "integer" {
		t.Fatalf("the confirmed change left the type %s", ty)
	}
	if v := j.call(t, admin, "GET", "/api/v1/records/deal/"+ids["Initech"], nil, 200)["code"]; v != float64(3) {
		t.Errorf("Initech's code after the conversion: %#v", v)
	}

	// Deleting, then purging, a field: the records holding a value.
	b.run(click(`[data-test=delete-field-notes]`), waitText(`[data-test=purge-count]`, "Records holding a value in this field: 2."))
	b.step("delete-field-count")
	b.run(click(`[data-test=confirm-remove]`), gone(`[data-test=remove-field]`), click(`[data-test=purge-field-notes]`),
		waitText(`[data-test=purge-count]`, "Records holding a value in this field: 2."))
	b.step("purge-field-count")
	b.run(click(`[data-test=remove-field] .dialog-foot button`), gone(`[data-test=remove-field]`))

	// 中文: a refused change and a count.
	b.run(choose(`[data-test=language]`, "zh-CN"), click(`[data-test=edit-field-stage]`), visible(`[data-test=field-editor]`),
		choose(`[data-test=field-type]`, "integer"), click(`[data-test=field-save]`),
		waitText(`[data-test=conversion-report]`, "值无法转换为整数的记录：3 条。"), waitText(`[data-test=conversion-report]`, "Globex: won"))
	b.step("type-change-refused-chinese")
	b.run(click(`[data-test=field-editor] .dialog-foot button`), gone(`[data-test=field-editor]`),
		click(`[data-test=delete-field-stage]`), waitText(`[data-test=purge-count]`, "在此字段中有值的记录：3 条。"))
	b.step("delete-field-count-chinese")
	if ty := fieldType("stage"); ty != "select" {
		t.Errorf("stage is %s after a refused change", ty)
	}
}
