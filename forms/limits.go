package forms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/store"
)

// Counters, claims and used tokens of public submissions are store
// documents, so every node sees the same (as the sign-in throttle's
// counters are, docs/decisions.md 14). Each carries its expiry; Prune
// deletes the expired ones.
const (
	kindRate       = "form_rate"       // submissions per address or form in one window
	kindSubmission = "form_submission" // a submission's values, answered once a minute
	kindUsed       = "form_token"      // tokens already used
	// dupeWindow is how long the same values are answered once.
	dupeWindow = time.Minute
	// casRetries bounds the optimistic retries of one counter update.
	casRetries = 16
)

type expiring struct {
	Count   int       `json:"count,omitempty"`
	State   string    `json:"state,omitempty"`  // submission: pending or done
	Record  string    `json:"record,omitempty"` // submission: the record created
	Expires time.Time `json:"expires"`
}

func hashID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

// limit counts a submission against the address's and the form's
// budgets for the current window and refuses it (429, Retry-After) past
// either. Refused attempts count too: a flood stays refused until the
// window ends.
func (pb *Public) limit(ctx context.Context, f *Form, pub *Publication, ip string) error {
	l := pub.limits()
	now := pb.now()
	win := now.Unix() / int64(l.Window)
	end := time.Unix((win+1)*int64(l.Window), 0)
	retry := int(end.Sub(now).Seconds() + 0.999)
	w := strconv.FormatInt(win, 10)
	n, err := pb.bump(ctx, "ip_"+hashID(f.ID, addrKey(ip))+"_"+w, end)
	if err != nil {
		return err
	}
	if n > l.PerIP {
		return problem.TooMany(retry, "too many submissions from your address: try again in %d seconds", retry)
	}
	n, err = pb.bump(ctx, "form_"+f.ID+"_"+w, end)
	if err != nil {
		return err
	}
	if n > l.PerForm {
		return problem.TooMany(retry, "this form is receiving too many submissions: try again in %d seconds", retry)
	}
	return nil
}

// bump adds one to a counter and returns the new count.
func (pb *Public) bump(ctx context.Context, id string, expires time.Time) (int, error) {
	for range casRetries {
		var c expiring
		version := int64(0)
		d, err := pb.st.GetDoc(ctx, kindRate, id)
		switch {
		case err == nil:
			if err := json.Unmarshal(d.Data, &c); err != nil {
				c = expiring{}
			}
			version = d.Version
		case !errors.Is(err, store.ErrNotFound):
			return 0, err
		}
		c.Count++
		c.Expires = expires
		data, _ := json.Marshal(c)
		err = pb.st.PutDoc(ctx, &store.Doc{Kind: kindRate, ID: id, Version: version + 1, Data: data}, store.Sides{})
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		return c.Count, err
	}
	// Only a flood contends this hard for one counter.
	return 0, problem.TooMany(1, "too many submissions at once: try again in a moment")
}

// claim is a submission's hold on its values for dupeWindow.
type claim struct {
	id      string
	version int64
}

// claimValues takes the values of a submission of f for a minute. A
// submission of the same values already answered in that minute returns
// its record id (answered again, nothing created); one still in progress
// is pending.
func (pb *Public) claimValues(ctx context.Context, f *Form, values map[string]any) (cl *claim, record string, pending bool, err error) {
	canon, _ := json.Marshal(values) // map keys sorted: the same values, the same text
	id := hashID(f.ID, string(canon))
	now := pb.now()
	d, err := pb.st.GetDoc(ctx, kindSubmission, id)
	version := int64(0)
	switch {
	case err == nil:
		var c expiring
		if json.Unmarshal(d.Data, &c) == nil && now.Before(c.Expires) {
			if c.State == "done" {
				return nil, c.Record, false, nil
			}
			return nil, "", true, nil
		}
		version = d.Version
	case !errors.Is(err, store.ErrNotFound):
		return nil, "", false, err
	}
	data, _ := json.Marshal(expiring{State: "pending", Expires: now.Add(dupeWindow)})
	err = pb.st.PutDoc(ctx, &store.Doc{Kind: kindSubmission, ID: id, Version: version + 1, Data: data}, store.Sides{})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrNotFound) {
		return nil, "", true, nil // another request took them just now
	}
	if err != nil {
		return nil, "", false, err
	}
	return &claim{id: id, version: version + 1}, "", false, nil
}

// settle records the record a claim's submission created, or (record
// empty) lets the values go, so a corrected submission is not held.
func (pb *Public) settle(ctx context.Context, cl *claim, record string) {
	ctx = context.WithoutCancel(ctx)
	var err error
	if record == "" {
		err = pb.st.DeleteDoc(ctx, kindSubmission, cl.id, store.Sides{})
	} else {
		data, _ := json.Marshal(expiring{State: "done", Record: record, Expires: pb.now().Add(dupeWindow)})
		err = pb.st.PutDoc(ctx, &store.Doc{Kind: kindSubmission, ID: cl.id, Version: cl.version + 1, Data: data}, store.Sides{})
	}
	if err != nil {
		pb.log.Warn("forms: settling a submission claim", "err", err)
	}
}

// useToken marks a token used; false when it was used already.
func (pb *Public) useToken(ctx context.Context, t token) (bool, error) {
	data, _ := json.Marshal(expiring{Expires: time.UnixMilli(t.At).Add(tokenTTL)})
	err := pb.st.PutDoc(ctx, &store.Doc{Kind: kindUsed, ID: t.Nonce, Version: 1, Data: data}, store.Sides{})
	if errors.Is(err, store.ErrExists) {
		return false, nil
	}
	return err == nil, err
}

// releaseToken lets a token be used again after its submission was
// refused, so the person can correct it and send the same page.
func (pb *Public) releaseToken(ctx context.Context, t token) {
	if err := pb.st.DeleteDoc(context.WithoutCancel(ctx), kindUsed, t.Nonce, store.Sides{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		pb.log.Warn("forms: releasing a token", "err", err)
	}
}

// Prune deletes expired counters, claims and used tokens, and reports
// how many.
func (pb *Public) Prune(ctx context.Context) (int, error) {
	now := pb.now()
	n := 0
	for _, kind := range []string{kindRate, kindSubmission, kindUsed} {
		docs, err := pb.st.ListDocs(ctx, kind)
		if err != nil {
			return n, err
		}
		for _, d := range docs {
			var c expiring
			if json.Unmarshal(d.Data, &c) == nil && now.Before(c.Expires) {
				continue
			}
			if err := pb.st.DeleteDoc(ctx, kind, d.ID, store.Sides{}); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// pruneEvery is how often a node prunes, on a submission's way.
const pruneEvery = time.Hour

// maybePrune prunes beside a submission when this node has not for an
// hour.
func (pb *Public) maybePrune(ctx context.Context) {
	now := pb.now().Unix()
	last := pb.pruned.Load()
	if now-last < int64(pb.PruneEvery.Seconds()) || !pb.pruned.CompareAndSwap(last, now) {
		return
	}
	go func() {
		if n, err := pb.Prune(context.WithoutCancel(ctx)); err != nil {
			pb.log.Warn("forms: pruning public submission records", "err", err)
		} else if n > 0 {
			pb.log.Debug("forms: pruned public submission records", "deleted", n)
		}
	}()
}

// addrKey is the address a limit counts: IPv4 as it is, IPv6 by its /64
// (one host usually holds a whole /64).
func addrKey(ip string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		if len(ip) > 64 {
			ip = ip[:64]
		}
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}
