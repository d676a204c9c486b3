package expression_test

import (
	"errors"
	"testing"

	"github.com/jimu-crm/jimu/engine/expression"
)

func TestCheckNames(t *testing.T) {
	known := func(n string) bool { return n == "amount" || n == "stage" || n == "user" }
	for _, c := range []struct {
		src, bad  string
		line, col int
	}{
		{"amount * 2", "", 0, 0},
		{`stage == "won" and user.region == "east"`, "", 0, 0},
		{"days_ago(3) < today()", "", 0, 0},
		{"let x = amount; x + 1", "", 0, 0},
		{"len(stage) > 2", "", 0, 0},
		{"amount * ratee", "ratee", 1, 9},
		{"amount +\n  margin", "margin", 2, 2},
		{"amount >", "", 1, 7},
	} {
		err := expression.CheckNames(c.src, known)
		if c.bad == "" && c.line == 0 {
			if err != nil {
				t.Errorf("%q: %v", c.src, err)
			}
			continue
		}
		var e *expression.Error
		if !errors.As(err, &e) || e.Pos == nil {
			t.Errorf("%q: %v, want an error with a position", c.src, err)
			continue
		}
		if e.Field != c.bad || e.Pos.Line != c.line || e.Pos.Column != c.col {
			t.Errorf("%q: field %q at %d:%d, want %q at %d:%d (%v)", c.src, e.Field, e.Pos.Line, e.Pos.Column, c.bad, c.line, c.col, e)
		}
	}
}
