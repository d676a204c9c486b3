package action

import (
	"strings"
	"testing"
	"time"
)

func TestParseTemplate(t *testing.T) {
	for _, c := range []struct {
		src   string
		parts []string
		exprs []bool
	}{
		{"plain", []string{"plain"}, []bool{false}},
		{"Hi {{ record.name }}!", []string{"Hi ", " record.name ", "!"}, []bool{false, true, false}},
		{`{{ "}}" + x }}`, []string{` "}}" + x `}, []bool{true}},
		{`a{{'\''}}b`, []string{"a", `'\''`, "b"}, []bool{false, true, false}},
	} {
		parts, exprs, err := ParseTemplate(c.src)
		if err != nil || strings.Join(parts, "|") != strings.Join(c.parts, "|") || len(exprs) != len(c.exprs) {
			t.Errorf("%q: %q %v %v", c.src, parts, exprs, err)
		}
	}
	for _, bad := range []string{"{{", "Hi {{ name", `{{ "}} }}`} {
		if _, _, err := ParseTemplate(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzParseTemplate: any text splits without panicking, and the pieces
// put back together (with their braces) give the text again.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"", "a", "{{x}}", "a {{ b }} c {{ d }}", `{{ "}}" }}`, "{{'a\\'}}'}}", "{{`}}`}}", "}}{{", "{{{{}}}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		parts, exprs, err := ParseTemplate(src)
		if err != nil {
			return
		}
		var b strings.Builder
		for i, p := range parts {
			if exprs[i] {
				b.WriteString("{{" + p + "}}")
			} else {
				b.WriteString(p)
			}
		}
		if b.String() != src {
			t.Fatalf("%q → %q → %q", src, parts, b.String())
		}
	})
}

func TestParseOffset(t *testing.T) {
	for src, want := range map[string]Offset{
		"-3d": {Days: -3}, "30d": {Days: 30}, "-72h": {Clock: -72 * time.Hour}, "1d12h": {Days: 1, Clock: 12 * time.Hour},
		"90m": {Clock: 90 * time.Minute}, "+2h30m": {Clock: 150 * time.Minute}, "45s": {Clock: 45 * time.Second},
	} {
		got, err := ParseOffset(src)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", src, got, err, want)
		}
	}
	for _, bad := range []string{"", "-", "3", "d", "3x", "1h2d", "1d1d", "99999d", "three days", "1.5h", "-3d-2h"} {
		if _, err := ParseOffset(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	sh, _ := time.LoadLocation("America/New_York")
	// A day across the spring change is 23 hours: 3 days before a date
	// keeps its clock time.
	base := time.Date(2026, 3, 10, 9, 0, 0, 0, sh)
	if got := (Offset{Days: -3}).From(base, sh); !got.Equal(time.Date(2026, 3, 7, 9, 0, 0, 0, sh)) {
		t.Fatalf("-3d across DST: %v", got)
	}
}

// FuzzParseOffset: any text parses or is refused without panicking, and
// what parses writes back to text that parses to the same offset.
func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"-3d", "30d", "-72h", "1d12h", "90m", "0s", "+1s", "999999h", "3660d", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		o, err := ParseOffset(src)
		if err != nil {
			return
		}
		back, err := ParseOffset(o.String())
		if err != nil || back.Days*24*int(time.Hour/time.Second)+int(back.Clock/time.Second) != o.Days*24*int(time.Hour/time.Second)+int(o.Clock/time.Second) {
			t.Fatalf("%q → %+v → %q → %+v %v", src, o, o.String(), back, err)
		}
	})
}
