package workflows_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jimu-crm/jimu/workflows"
	"github.com/jimu-crm/jimu/workflows/mailtest"
)

// TestEmail: an e-mail action sends through a real SMTP server (Mailpit),
// its subject and HTML templated from the record with the record's values
// escaped, its Message-ID derived from the run; a retry of the run after a
// later step failed does not send it again; an SMTP server that cannot be
// reached fails the step, to be tried again, and says why.
func TestEmail(t *testing.T) {
	mp := mailtest.Start(t)
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			mp.Reset(t)
			e := start(t, open(t), withMail(mp), withLimits(workflows.Limits{MaxAttempts: 2, Backoff: time.Minute, Workers: 2}))
			e.deals()
			hook := newReceiver(t)
			fail := true
			hook.answer = func(int, *http.Request) int {
				if fail {
					return 500
				}
				return 200
			}
			id := e.rule(map[string]any{"name": "Welcome", "entity": "deal", "enabled": true,
				"trigger": map[string]any{"type": "record.created"},
				"actions": []any{
					map[string]any{"type": "email", "to": "record.email", "subject": "Welcome,\r\nBcc: x@evil.example {{ record.name }}",
						"body": "Hello {{ record.name }}", "html": "<p>Hello <b>{{ record.name }}</b></p>"},
					map[string]any{"type": "webhook", "url": hook.URL}}})
			e.deal(map[string]any{"name": `<script>alert(1)</script>`, "email": "buyer@acme.example"})
			e.drain()
			e.clock.Add(time.Hour)
			e.drain()
			rs := e.runs("workflow=" + id)
			if len(rs) != 1 || rs[0].Status != "dead" || rs[0].Steps[0].Status != "succeeded" {
				t.Fatalf("run: %+v", rs)
			}
			msgs := mp.Messages(t)
			if len(msgs) != 1 {
				t.Fatalf("%d messages after two attempts, want 1", len(msgs))
			}
			m := msgs[0]
			if m.MessageID != rs[0].ID+".0.mail@jimu" || len(m.To) != 1 || m.To[0].Address != "buyer@acme.example" || m.From.Address != "crm@example.com" {
				t.Fatalf("message: %+v", m)
			}
			if strings.ContainsAny(m.Subject, "\r\n") || !strings.HasPrefix(m.Subject, "Welcome, Bcc:") {
				t.Fatalf("subject %q: one line", m.Subject)
			}
			if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") || strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "<b>") {
				t.Fatalf("html not escaped: %q", m.HTML)
			}
			if !strings.Contains(m.Text, "Hello <script>") {
				t.Fatalf("text: %q", m.Text)
			}
			fail = false
			e.Do("POST", "/api/v1/workflows/runs/"+rs[0].ID+"/retry", nil, 202, nil)
			e.drain()
			if rs := e.runs("workflow=" + id); rs[0].Status != "succeeded" {
				t.Fatalf("after the retry: %+v", rs[0])
			}
			if n := len(mp.Messages(t)); n != 1 {
				t.Fatalf("%d messages after the retry, want still 1", n)
			}
		})
	}
}

// TestEmailSMTPDown: an SMTP server that is not there fails the step as
// one to try again, with the reason, and a dry run still shows the
// message.
func TestEmailSMTPDown(t *testing.T) {
	down := &mailtest.Server{Host: "127.0.0.1", Port: 1} // nothing listens on port 1
	e := start(t, stores["sqlite"](t), withMail(down))
	e.deals()
	id := e.rule(map[string]any{"name": "Welcome", "entity": "deal", "enabled": true, "trigger": map[string]any{"type": "record.created"},
		"actions": []any{map[string]any{"type": "email", "to": "record.email", "subject": "Hi", "body": "Hello"}}})
	d := e.deal(map[string]any{"name": "A", "email": "a@example.com"})
	e.drain()
	rs := e.runs("workflow=" + id)
	if len(rs) != 1 || rs[0].Status != "queued" || rs[0].Steps[0].Reason != "transient" || !strings.Contains(rs[0].Steps[0].Error, "smtp 127.0.0.1") {
		t.Fatalf("run: %+v", rs)
	}
	var res struct {
		Actions []struct {
			Output map[string]any
			Error  string
		}
	}
	e.Do("POST", "/api/v1/meta/workflows/"+id+"/test", map[string]any{"record_id": d["id"]}, 200, &res)
	if res.Actions[0].Error != "" || res.Actions[0].Output["subject"] != "Hi" || res.Actions[0].Output["note"] != "not sent (test)" {
		t.Fatalf("dry run: %+v", res)
	}
}
