package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
)

// Text is a label or help text people read: one string for everyone, or
// one per locale ({"en": "Deal", "zh-CN": "商机"}). In JSON it is whichever
// of the two the admin wrote.
type Text map[string]string

// Plain is a Text in one language for everyone.
func Plain(s string) Text {
	if s == "" {
		return nil
	}
	return Text{"": s}
}

// Locales Jimu ships messages for; a Text may name others too.
var Locales = []string{"en", "zh-CN"}

// In returns the text for locale, falling back to the plain text, then
// English, then any text there is.
func (t Text) In(locale string) string {
	if s, ok := t[locale]; ok && s != "" {
		return s
	}
	for _, k := range []string{"", "en"} {
		if s := t[k]; s != "" {
			return s
		}
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if t[k] != "" {
			return t[k]
		}
	}
	return ""
}

// String is the text in English (or the plain text).
func (t Text) String() string { return t.In("en") }

// IsZero reports an empty text.
func (t Text) IsZero() bool { return t.In("") == "" }

func (t Text) MarshalJSON() ([]byte, error) {
	if len(t) == 0 {
		return []byte(`""`), nil
	}
	if s, ok := t[""]; ok && len(t) == 1 {
		return json.Marshal(s)
	}
	m := make(map[string]string, len(t))
	for k, v := range t {
		if k != "" {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*t = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Plain(s)
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return errors.New("a label is a string or an object of strings by locale, such as {\"en\": \"Deal\", \"zh-CN\": \"商机\"}")
	}
	delete(m, "")
	if len(m) == 0 {
		*t = nil
		return nil
	}
	*t = Text(m)
	return nil
}
