package metadata

import "strings"

// PartialNormalizer is implemented by field types whose stored form
// differs from what people type in ways a part of a value shows too: an
// e-mail is stored lower-cased, so a filter's `email contains "Acme"` must
// look for "acme".
type PartialNormalizer interface {
	NormalizePart(f *Field, s string) string
}

// FilterValue turns a value a filter compares field f with into the
// field's stored form, so a filter finds what the field promises: the
// e-mail written in any case, the phone number as people type it. whole is
// false for part of a value (contains, startsWith, endsWith). Values that
// are not text are returned as they are: the pushdown has checked their
// type against the field's kind.
func FilterValue(f *Field, v any, whole bool) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	t, ok := LookupType(f.Type)
	if !ok {
		return v, nil
	}
	if !whole {
		if p, ok := t.(PartialNormalizer); ok {
			return p.NormalizePart(f, s), nil
		}
		return s, nil
	}
	return t.Normalize(f, s)
}

func (emailType) NormalizePart(_ *Field, s string) string { return strings.ToLower(s) }

// NormalizePart keeps the digits (and a leading +) of a phone number typed
// with spaces, dashes, dots or brackets, as stored numbers have none.
func (phoneType) NormalizePart(_ *Field, s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= '0' && r <= '9' || r == '+' && i == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}
