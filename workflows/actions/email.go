package actions

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/mail"
	"strings"

	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/workflows/action"
	wmail "github.com/jimu-crm/jimu/workflows/mail"
)

// Email sends an e-mail through the SMTP server the admin configured:
// {"to": "record.email", "subject": "Welcome, {{ record.name }}", "body":
// "…", "html": "<p>Dear {{ record.name }}</p>"}. Values in the subject
// are kept to one line, values in the HTML are HTML-escaped; the
// Message-ID is the run's and the step's, the same on every attempt, so a
// message sent again after a crash is recognisable as the same one, and a
// step that succeeded is never sent again.
type Email struct {
	To      string `json:"to"` // an expression giving an address or a list
	Cc      string `json:"cc"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
	HTML    string `json:"html"`
	to, cc  *expression.Program
	subject *action.Template
	body    *action.Template
	html    *action.Template
}

func (*Email) ID() string { return "actions.email" }

func (a *Email) Prepare(c *action.Compiler) {
	if c.Svc != nil && c.Svc.Mail == nil {
		c.Fail("", "no_smtp", "no SMTP server is configured: start jimu serve with --smtp-host and --smtp-from")
	}
	if a.To == "" {
		c.Fail("to", "required", "say to whom: an expression giving an e-mail address, such as record.email")
	} else {
		a.to = c.Expr("to", a.To)
	}
	if a.Cc != "" {
		a.cc = c.Expr("cc", a.Cc)
	}
	if strings.TrimSpace(a.Subject) == "" {
		c.Fail("subject", "required", "an e-mail needs a subject")
	} else {
		a.subject = c.Template("subject", a.Subject)
	}
	if strings.TrimSpace(a.Body) == "" && strings.TrimSpace(a.HTML) == "" {
		c.Fail("body", "required", "an e-mail needs a body (text, html or both)")
	}
	if a.Body != "" {
		a.body = c.Template("body", a.Body)
	}
	if a.HTML != "" {
		a.html = c.Template("html", a.HTML)
	}
}

// addresses reads the e-mail addresses an expression gives.
func addresses(x *action.Exec, p *expression.Program, field string) ([]string, error) {
	if p == nil {
		return nil, nil
	}
	v, err := x.Eval(p)
	if err != nil {
		return nil, action.Permanentf("%s: %w", field, err)
	}
	list, err := ids(v)
	if err != nil {
		return nil, action.Permanentf("%s: %w", field, err)
	}
	for _, s := range list {
		if _, err := mail.ParseAddress(s); err != nil {
			return nil, action.Permanentf("%s: %q is not an e-mail address", field, s)
		}
	}
	return list, nil
}

func (a *Email) message(x *action.Exec) (*wmail.Message, error) {
	to, err := addresses(x, a.to, "to")
	if err != nil {
		return nil, err
	}
	if len(to) == 0 {
		return nil, action.Permanentf("to: no address to send to")
	}
	cc, err := addresses(x, a.cc, "cc")
	if err != nil {
		return nil, err
	}
	m := &wmail.Message{To: to, Cc: cc, MessageID: x.Key("mail") + "@jimu"}
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if m.Subject, err = a.subject.Render(x, oneLine); err != nil {
		return nil, action.Permanent(err)
	}
	if m.Text, err = a.body.Render(x, nil); err != nil {
		return nil, action.Permanent(err)
	}
	if m.HTML, err = a.html.Render(x, html.EscapeString); err != nil {
		return nil, action.Permanent(err)
	}
	return m, nil
}

func (a *Email) Do(ctx context.Context, x *action.Exec) (any, error) {
	if x.Ledger.Done("mail") {
		return map[string]any{"skipped": "sent by an earlier attempt"}, nil
	}
	m, err := a.message(x)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"to": m.To, "subject": m.Subject, "message_id": "<" + m.MessageID + ">"}
	if len(m.Cc) > 0 {
		out["cc"] = m.Cc
	}
	if x.DryRun {
		out["text"], out["html"] = m.Text, m.HTML
		out["note"] = "not sent (test)"
		return out, nil
	}
	if x.Svc.Mail == nil {
		return out, action.Permanentf("no SMTP server is configured")
	}
	if err := x.Svc.Mail.Send(ctx, m); err != nil {
		var me *wmail.Error
		if errors.As(err, &me) && !me.Temporary {
			return out, action.Permanent(err)
		}
		return out, fmt.Errorf("%w (will try again)", err)
	}
	return out, x.Ledger.Mark(ctx, "mail")
}
