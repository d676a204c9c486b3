package forms

import (
	"strings"
	"testing"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/metadata"
)

// FuzzToken: parsing never panics, accepts only what the key signed, and
// reads back what it signed.
func FuzzToken(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	good := signToken(key, token{Form: "f", At: 1, Nonce: "n", Kind: "arithmetic", Answer: "ab"})
	for _, s := range []string{"", ".", "a.b", good, good + "x", strings.Repeat("A", 2000) + "." + "B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parseToken(key, s)
		if err != nil {
			return
		}
		// The MAC covers the payload: what one key signed, another refuses.
		if _, err := parseToken([]byte("another key, just as long......."), s); err == nil {
			t.Fatalf("%q verifies under two keys", s)
		}
		if tok.Form == "" || tok.Nonce == "" {
			t.Fatalf("accepted a token without form or nonce: %q", s)
		}
	})
}

// FuzzDecodeForm: form data of any shape decodes without panicking,
// control fields are only the known ones, and no value is empty text.
func FuzzDecodeForm(f *testing.F) {
	e := &catalog.Entity{Entity: &metadata.Entity{Name: "lead", Fields: []*metadata.Field{
		{Name: "name", Type: "text"}, {Name: "budget", Type: "currency"}, {Name: "ok", Type: "boolean"},
		{Name: "when", Type: "datetime"}, {Name: "tags", Type: "tags"}, {Name: "multi", Type: "multi_select"},
	}}}
	for _, s := range []string{"", "name=a&budget=1.5&ok=on", "_t=x&_website=&name=%zz", "multi=a&multi=b&tags=x,,y",
		"when=2026-01-02T10:00", "name=a&name=b", "_evil=1", "budget=1e400&ok=maybe", ";;&&==", "name=%3Cscript%3E"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodeForm(body, e)
		if p == nil {
			if err == nil {
				t.Fatal("nothing decoded and no error")
			}
			return
		}
		for k := range p.control {
			if !contains(controlFields, k) {
				t.Fatalf("control field %q kept", k)
			}
		}
		for k, v := range p.values {
			if strings.HasPrefix(k, "_") {
				t.Fatalf("a control name among the values: %q", k)
			}
			if s, ok := v.(string); ok && strings.TrimSpace(s) == "" && e.Field(k) != nil {
				t.Fatalf("an empty input kept for %s", k)
			}
		}
		_ = markup(p.values)
	})
}
