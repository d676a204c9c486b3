package metadata

import (
	"encoding/json"
	"testing"
)

// TestText: a label is a string or an object by locale, in JSON as it
// was written, and reads in a locale with fallbacks.
func TestText(t *testing.T) {
	for _, c := range []struct{ in, out, en, zh string }{
		{`"Deal"`, `"Deal"`, "Deal", "Deal"},
		{`{"en":"Deal","zh-CN":"商机"}`, `{"en":"Deal","zh-CN":"商机"}`, "Deal", "商机"},
		{`{"zh-CN":"商机"}`, `{"zh-CN":"商机"}`, "商机", "商机"},
		{`""`, `""`, "", ""},
		{`null`, `""`, "", ""},
	} {
		var x Text
		if err := json.Unmarshal([]byte(c.in), &x); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		b, _ := json.Marshal(x)
		if string(b) != c.out || x.In("en") != c.en || x.In("zh-CN") != c.zh {
			t.Errorf("%s: marshals %s, en %q, zh-CN %q", c.in, b, x.In("en"), x.In("zh-CN"))
		}
	}
	var x Text
	if err := json.Unmarshal([]byte(`5`), &x); err == nil {
		t.Error("a number was taken for a label")
	}
}
