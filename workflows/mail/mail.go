// Package mail sends a workflow's e-mails through the SMTP server the
// admin configured, with github.com/wneessen/go-mail (MIT).
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Config is the SMTP server (jimu serve --smtp-*).
type Config struct {
	Host     string
	Port     int    // 0: 587, or 465 with TLS "tls"
	Username string // empty: no authentication
	Password string
	From     string // the sender of every message, "Jimu <crm@example.com>"
	// TLS is "starttls" (required), "tls" (implicit, port 465),
	// "opportunistic" (STARTTLS when offered) or "none".
	TLS     string
	Timeout time.Duration // per connection; 0: 30 s
	// HELO is the name Jimu greets the server with (default: localhost).
	HELO string
}

// Check validates the configuration.
func (c Config) Check() error {
	if c.Host == "" {
		return errors.New("smtp: no host")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("smtp: the sender %q is not an e-mail address: %w", c.From, err)
	}
	switch c.TLS {
	case "", "starttls", "tls", "opportunistic", "none":
	default:
		return fmt.Errorf("smtp: TLS mode %q is not starttls, tls, opportunistic or none", c.TLS)
	}
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("smtp: port %d", c.Port)
	}
	return nil
}

// Message is one e-mail.
type Message struct {
	To      []string
	Cc      []string
	Subject string
	Text    string
	HTML    string // optional alternative
	// MessageID (without angle brackets) is derived from the run and step,
	// so a message sent again after a crash carries the same id and a
	// receiver deduplicates it.
	MessageID string
	Headers   map[string]string
}

// Mailer sends messages.
type Mailer struct {
	cfg Config
}

// New returns a mailer for cfg.
func New(cfg Config) (*Mailer, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	return &Mailer{cfg: cfg}, nil
}

// Error is a failure to send; Temporary ones (the server's 4xx, a network
// failure) are worth another attempt, others (5xx: no such mailbox, a
// refused sender) are not.
type Error struct {
	Temporary bool
	Err       error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Build makes the message as it would be sent (for a dry run and for
// Send).
func (m *Mailer) Build(msg *Message) (*gomail.Msg, error) {
	g := gomail.NewMsg()
	if err := g.From(m.cfg.From); err != nil {
		return nil, &Error{Err: fmt.Errorf("smtp: sender: %w", err)}
	}
	if len(msg.To) == 0 {
		return nil, &Error{Err: errors.New("the message has no recipient")}
	}
	if err := g.To(msg.To...); err != nil {
		return nil, &Error{Err: fmt.Errorf("recipient: %w", err)}
	}
	if len(msg.Cc) > 0 {
		if err := g.Cc(msg.Cc...); err != nil {
			return nil, &Error{Err: fmt.Errorf("cc: %w", err)}
		}
	}
	// A subject is one header line: line breaks in a value would start
	// another header.
	g.Subject(strings.Join(strings.Fields(msg.Subject), " "))
	if msg.MessageID != "" {
		g.SetMessageIDWithValue(msg.MessageID)
	} else {
		g.SetMessageID()
	}
	g.SetDate()
	g.SetBulk()
	for k, v := range msg.Headers {
		g.SetGenHeader(gomail.Header(k), v)
	}
	g.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		g.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	return g, nil
}

// Send sends one message.
func (m *Mailer) Send(ctx context.Context, msg *Message) error {
	g, err := m.Build(msg)
	if err != nil {
		return err
	}
	c, err := m.client()
	if err != nil {
		return &Error{Err: err}
	}
	if err := c.DialAndSendWithContext(ctx, g); err != nil {
		var se *gomail.SendError
		temporary := true // a connection that failed: try again later
		if errors.As(err, &se) && se.ErrorCode() >= 500 {
			temporary = false
		}
		return &Error{Temporary: temporary, Err: fmt.Errorf("smtp %s: %w", m.cfg.Host, err)}
	}
	return nil
}

func (m *Mailer) client() (*gomail.Client, error) {
	timeout := m.cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []gomail.Option{gomail.WithTimeout(timeout)}
	if m.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(m.cfg.HELO))
	}
	port := m.cfg.Port
	switch m.cfg.TLS {
	case "tls":
		opts = append(opts, gomail.WithSSL())
		if port == 0 {
			port = 465
		}
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case "opportunistic":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if port == 0 {
		port = 587
	}
	opts = append(opts, gomail.WithPort(port))
	if m.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password))
	}
	return gomail.NewClient(m.cfg.Host, opts...)
}
