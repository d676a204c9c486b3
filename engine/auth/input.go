package auth

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// normalizeEmail trims and lower-cases an e-mail address and checks it is a
// bare address.
func normalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", &InputError{Field: "email", Code: "required", Message: "is required"}
	}
	if len(e) > maxEmailLen {
		return "", &InputError{Field: "email", Code: "too_long", Message: "is too long"}
	}
	bad := strings.IndexFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
	at := strings.LastIndexByte(e, '@')
	if bad || !utf8.ValidString(e) || at < 1 || at == len(e)-1 {
		return "", &InputError{Field: "email", Code: "format", Message: "is not a valid email address"}
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", &InputError{Field: "email", Code: "format", Message: "is not a valid email address"}
	}
	return e, nil
}

func checkPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return &InputError{Field: "password", Code: "too_short", Params: map[string]any{"min": MinPasswordLen},
			Message: fmt.Sprintf("must be at least %d characters", MinPasswordLen)}
	}
	if n > MaxPasswordLen {
		return &InputError{Field: "password", Code: "too_long", Params: map[string]any{"max": MaxPasswordLen},
			Message: fmt.Sprintf("must be at most %d characters", MaxPasswordLen)}
	}
	return nil
}

func normalizeName(raw, email string) (string, error) {
	n := strings.TrimSpace(raw)
	if n == "" {
		n, _, _ = strings.Cut(email, "@")
	}
	if !utf8.ValidString(n) || strings.IndexFunc(n, unicode.IsControl) >= 0 {
		return "", &InputError{Field: "name", Code: "invalid_chars", Message: "contains invalid characters"}
	}
	if utf8.RuneCountInString(n) > maxNameLen {
		return "", &InputError{Field: "name", Code: "too_long", Params: map[string]any{"max": maxNameLen},
			Message: fmt.Sprintf("must be at most %d characters", maxNameLen)}
	}
	return n, nil
}

func normalizeRoles(raw []string) ([]string, error) {
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if len(r) > maxRoleLen || strings.IndexFunc(r, func(c rune) bool {
			return !(c < utf8.RuneSelf && (c == '_' || c == '-' || c == '.' || c == ':' ||
				'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'))
		}) >= 0 {
			return nil, &InputError{Field: "roles", Code: "format", Message: fmt.Sprintf("invalid role name %q", r)}
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		out = append(out, DefaultRole)
	}
	return out, nil
}
