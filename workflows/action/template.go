package action

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/engine/problem"
)

// MaxTemplateLen caps a template (an e-mail's body, a notification's
// text).
const MaxTemplateLen = 20000

// Template is text with expressions in double braces, "Deal {{ record.name
// }} is won": the text is the admin's, each expression's value is the
// record's, and is escaped for where the text goes when it is rendered.
type Template struct {
	parts []part
}

type part struct {
	text string
	prog *expression.Program // nil: text
}

// ParseTemplate splits a template into text and expressions, without
// compiling them: "{{" opens an expression and the first "}}" outside a
// string literal closes it. A "{{" without its "}}" is an error, with the
// offset where it opens.
func ParseTemplate(src string) ([]string, []bool, error) {
	var chunks []string
	var isExpr []bool
	for {
		i := strings.Index(src, "{{")
		if i < 0 {
			if src != "" {
				chunks, isExpr = append(chunks, src), append(isExpr, false)
			}
			return chunks, isExpr, nil
		}
		if i > 0 {
			chunks, isExpr = append(chunks, src[:i]), append(isExpr, false)
		}
		rest := src[i+2:]
		end := closing(rest)
		if end < 0 {
			return nil, nil, fmt.Errorf("a {{ is not closed by }}")
		}
		chunks, isExpr = append(chunks, rest[:end]), append(isExpr, true)
		src = rest[end+2:]
	}
}

// closing finds the "}}" that ends an expression, skipping string literals
// ("…", '…', `…`) so that "}}" inside one does not end it.
func closing(s string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			return i
		}
	}
	return -1
}

// Template compiles a template of the action, recording a problem with
// field when it does not parse or one of its expressions does not compile.
func (c *Compiler) Template(field, src string) *Template {
	t, fe := CompileTemplate(c.Entity, src, c.Payload)
	if fe != nil {
		fe.Field = c.Path + "." + field
		c.Errs = append(c.Errs, *fe)
		return nil
	}
	return t
}

// CompileTemplate parses src and compiles its expressions for entity e.
func CompileTemplate(e *catalog.Entity, src string, payload bool) (*Template, *problem.FieldError) {
	if len(src) > MaxTemplateLen {
		return nil, &problem.FieldError{Code: "too_long", Message: fmt.Sprintf("the template is longer than %d characters", MaxTemplateLen)}
	}
	chunks, isExpr, err := ParseTemplate(src)
	if err != nil {
		return nil, &problem.FieldError{Code: "invalid_template", Message: err.Error()}
	}
	t := &Template{}
	for i, ch := range chunks {
		if !isExpr[i] {
			t.parts = append(t.parts, part{text: ch})
			continue
		}
		p, fe := Compile(e, ch, payload)
		if fe != nil {
			fe.Message = fmt.Sprintf("in {{%s}}: %s", ch, fe.Message)
			fe.Position = nil // the position is within the expression, not the template
			return nil, fe
		}
		t.parts = append(t.parts, part{prog: p})
	}
	return t, nil
}

// Render evaluates the template over x's values; escape (nil: none) is
// applied to each value, never to the admin's text.
func (t *Template) Render(x *Exec, escape func(string) string) (string, error) {
	if t == nil {
		return "", nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := x.Eval(p.prog)
		if err != nil {
			return "", err
		}
		s := Text(v)
		if escape != nil {
			s = escape(s)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// ErrEmptyTemplate is a rendered text a step needs but came out empty.
var ErrEmptyTemplate = errors.New("the template gives an empty text")
