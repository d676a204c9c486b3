package actions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jimu-crm/jimu/engine/expression"
	"github.com/jimu-crm/jimu/workflows/action"
	"github.com/jimu-crm/jimu/workflows/webhook"
)

// Webhook posts JSON to a URL: {"url": "https://hooks.example.com/won",
// "secret": "…"} sends the run's record (and for an update its old
// values); "body" is an expression giving another JSON value. Signed with
// X-Jimu-Signature when a secret is set, with the run's and step's
// Idempotency-Key on every attempt.
type Webhook struct {
	URL    string `json:"url"`
	Secret string `json:"secret,omitempty"`
	Body   string `json:"body,omitempty"`
	body   *expression.Program
}

func (*Webhook) ID() string { return "actions.webhook" }

func (a *Webhook) Prepare(c *action.Compiler) {
	if a.URL == "" {
		c.Fail("url", "required", "a webhook needs a url")
	} else if c.Svc != nil && c.Svc.Webhooks != nil {
		if err := c.Svc.Webhooks.CheckURL(context.Background(), a.URL); err != nil {
			code := "invalid_url"
			if webhook.IsRefused(err) {
				code = "refused_target"
			}
			c.Fail("url", code, "%v", err)
		}
	}
	if len(a.Secret) > 512 {
		c.Fail("secret", "too_long", "a secret is at most 512 characters")
	}
	if a.Body != "" {
		a.body = c.Expr("body", a.Body)
	}
}

// payload is the JSON the webhook sends.
func (a *Webhook) payload(x *action.Exec) ([]byte, error) {
	var v any
	if a.body != nil {
		var err error
		if v, err = x.Eval(a.body); err != nil {
			return nil, action.Permanentf("body: %w", err)
		}
	} else {
		m := map[string]any{"workflow": x.Rule, "run": x.RunID}
		if x.Entity != nil {
			m["entity"] = x.Entity.Name
		}
		if x.Record != nil {
			m["record"] = x.Record
		}
		if x.Old != nil {
			m["old"] = x.Old
		}
		v = m
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, action.Permanentf("body cannot be sent as JSON: %w", err)
	}
	return b, nil
}

func (a *Webhook) Do(ctx context.Context, x *action.Exec) (any, error) {
	if x.Ledger.Done("post") {
		return map[string]any{"skipped": "delivered by an earlier attempt"}, nil
	}
	body, err := a.payload(x)
	if err != nil {
		return nil, err
	}
	req := &webhook.Request{URL: a.URL, Secret: a.Secret, Body: body, Key: x.Key("post")}
	out := map[string]any{"url": a.URL, "idempotency_key": req.Key, "body": json.RawMessage(body)}
	if x.DryRun {
		h := x.Svc.Webhooks.Headers(req, x.Now.Unix())
		delete(h, "X-Jimu-Signature")
		if a.Secret != "" {
			h["X-Jimu-Signature"] = "(computed when sent)"
		}
		out["headers"], out["note"] = h, "not sent (test)"
		return out, nil
	}
	res, err := x.Svc.Webhooks.Deliver(ctx, req)
	if res != nil {
		out["response"] = res
	}
	if err != nil {
		var we *webhook.Error
		if errors.As(err, &we) && we.Permanent {
			return out, action.Permanent(err)
		}
		return out, fmt.Errorf("%w (will try again)", err)
	}
	return out, x.Ledger.Mark(ctx, "post")
}
