package auth

// Login throttling. Failed sign-ins (a wrong password, a wrong second-factor
// code) are counted in the store, so that every node and a restart see the
// same counts, under three keys:
//
//   - the account and the address together: an address that keeps guessing
//     one account waits, after pairFree failures, 1 s, 2 s, 4 s … up to
//     maxThrottleDelay after each further failure;
//   - the address: an address guessing many accounts waits the same way
//     after addrFree failures;
//   - the account: after acctFree failures from anywhere, every address that
//     has failed against the account waits the account's delay (growing the
//     same way) after its failures, so a guesser spread over many addresses
//     gets one guess per address and then the account's pace.
//
// Nothing refuses an account as a whole: the first attempt from an address
// that has not failed against the account is always checked, so the owner,
// signing in from their own address with the right password (and second
// factor), gets in during an attack. A refusal carries how long to wait
// (Retry-After). Counters are keyed by the e-mail as typed (normalised), so
// an unknown account is throttled exactly like a real one.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

// KindThrottle is the document kind of a login-throttle counter.
const KindThrottle = "login_throttle"

// Throttle policy.
const (
	pairFree         = 5  // failures of one address against one account before it waits
	addrFree         = 30 // failures of one address against any accounts before it waits
	acctFree         = 20 // failures against one account from anywhere before each failing address waits
	throttleBase     = time.Second
	maxThrottleDelay = 15 * time.Minute
	// A counter is forgotten this long after its last failure. Longer than
	// maxThrottleDelay, so a patient guesser keeps paying the longest delay.
	pairTTL = time.Hour
	addrTTL = time.Hour
	acctTTL = 24 * time.Hour

	maxThrottleKeyLen = 320
	// counterRetries bounds the optimistic-concurrency retries of one
	// counter update; parallel attempts of one address contend for its
	// counters.
	counterRetries = 16
)

// Throttle scopes, as ThrottledError.Scope and in audit entries.
const (
	ScopeAccountAddress = "account_address"
	ScopeAddress        = "address"
)

// ThrottledError refuses an attempt made too soon after failed ones. It is
// ErrThrottled for errors.Is.
type ThrottledError struct {
	RetryAfter time.Duration // how long until the next attempt is checked
	Scope      string        // ScopeAccountAddress or ScopeAddress
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%s (retry in %s)", ErrThrottled.Error(), e.RetryAfter)
}

// Is makes errors.Is(err, ErrThrottled) hold.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// counter is a throttle counter document's data.
type counter struct {
	Failures int       `json:"failures"`
	Last     time.Time `json:"last"`    // the latest failure (or attempt begun)
	Expires  time.Time `json:"expires"` // Last + the counter's TTL
}

// delayAfter is the wait after the latest of n failures when free are free.
func delayAfter(n, free int) time.Duration {
	if n < free {
		return 0
	}
	if n-free >= 20 {
		return maxThrottleDelay
	}
	return min(throttleBase<<(n-free), maxThrottleDelay)
}

// throttleKeys are the counter ids of an attempt; addr is "" when the
// client address is unknown (then only the pair and the account count).
type throttleKeys struct{ pair, addr, acct string }

func counterID(scope, key string) string {
	sum := sha256.Sum256([]byte(key))
	return scope + "_" + hex.EncodeToString(sum[:])
}

func newThrottleKeys(account, ip string) throttleKeys {
	a := ipKey(ip)
	k := throttleKeys{pair: counterID("p", account+"\x00"+a), acct: counterID("u", account)}
	if a != "" {
		k.addr = counterID("a", a)
	}
	return k
}

// attempt is a sign-in step begun under the throttle. It counts as a
// failure from the start (so that parallel guesses cannot slip past the
// limits); end it with succeed, fail or abort.
type attempt struct {
	s    *Service
	keys throttleKeys
	log  []any // what logs name: the e-mail and the address
}

// beginAttempt checks the throttle for a sign-in step against account from
// ip and, unless it refuses with a *ThrottledError, records the attempt.
func (s *Service) beginAttempt(ctx context.Context, account, ip string) (*attempt, error) {
	k := newThrottleKeys(account, ip)
	now := s.clock()
	acct, _, err := s.readCounter(ctx, k.acct, now)
	if err != nil {
		return nil, err
	}
	refuse := func(until time.Time, scope string) error {
		s.log.Info("auth: sign-in throttled", "email", account, "ip", ip, "scope", scope)
		return &ThrottledError{RetryAfter: until.Sub(now), Scope: scope}
	}
	err = s.bumpCounter(ctx, k.pair, now, func(c *counter) error {
		var until time.Time
		if c.Failures >= pairFree {
			until = c.Last.Add(delayAfter(c.Failures, pairFree))
		}
		if c.Failures > 0 && acct.Failures >= acctFree {
			if t := c.Last.Add(delayAfter(acct.Failures, acctFree)); t.After(until) {
				until = t
			}
		}
		if until.After(now) {
			return refuse(until, ScopeAccountAddress)
		}
		c.Failures, c.Last, c.Expires = c.Failures+1, now, now.Add(pairTTL)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if k.addr != "" {
		err = s.bumpCounter(ctx, k.addr, now, func(c *counter) error {
			if until := c.Last.Add(delayAfter(c.Failures, addrFree)); c.Failures >= addrFree && until.After(now) {
				return refuse(until, ScopeAddress)
			}
			c.Failures, c.Last, c.Expires = c.Failures+1, now, now.Add(addrTTL)
			return nil
		})
		if err != nil {
			s.takeBack(ctx, k.pair, false)
			return nil, err
		}
	}
	return &attempt{s: s, keys: k, log: []any{"email", account, "ip", ip}}, nil
}

// succeed ends a complete sign-in (or a proven password): the address's
// failures against the account are cleared, the attempt is taken back from
// the address. The account's count stays: a success of the owner must not
// reset an attacker's pace.
func (a *attempt) succeed(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	a.s.takeBack(ctx, a.keys.pair, true)
	if a.keys.addr != "" {
		a.s.takeBack(ctx, a.keys.addr, false)
	}
}

// abort takes the attempt back without judging it: the store failed, the
// request was cancelled, or the password was right and a second factor is
// still due (then the earlier failures stay counted, so that a password
// holder cannot clear them between guesses of the code).
func (a *attempt) abort(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	a.s.takeBack(ctx, a.keys.pair, false)
	if a.keys.addr != "" {
		a.s.takeBack(ctx, a.keys.addr, false)
	}
}

// fail ends a failed attempt: it stays counted for the pair and the
// address, and counts for the account.
func (a *attempt) fail(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	now := a.s.clock()
	err := a.s.bumpCounter(ctx, a.keys.acct, now, func(c *counter) error {
		c.Failures, c.Last, c.Expires = c.Failures+1, now, now.Add(acctTTL)
		return nil
	})
	if err != nil {
		a.s.log.Warn("auth: counting a failed sign-in for the account", append(a.log, "err", err)...)
	}
}

// takeBack removes one begun attempt from a counter (all of them if
// clear). Best effort: a failure leaves the attempt counted against the
// address, which errs on the side of the account.
func (s *Service) takeBack(ctx context.Context, id string, clear bool) {
	err := s.bumpCounter(ctx, id, s.clock(), func(c *counter) error {
		if c.Failures == 0 {
			return errNoWrite
		}
		c.Failures--
		if clear {
			c.Failures = 0
		}
		return nil
	})
	if err != nil {
		s.log.Warn("auth: taking back a sign-in attempt", "counter", id, "err", err)
	}
}

// errCounterBusy: a counter changed under every retry.
var errCounterBusy = errors.New("auth: throttle counter busy")

// readCounter reads a counter; a missing or expired one is zero. version
// is the stored document's (0: none).
func (s *Service) readCounter(ctx context.Context, id string, now time.Time) (counter, int64, error) {
	d, err := s.st.GetDoc(ctx, KindThrottle, id)
	if errors.Is(err, store.ErrNotFound) {
		return counter{}, 0, nil
	}
	if err != nil {
		return counter{}, 0, err
	}
	var c counter
	if json.Unmarshal(d.Data, &c) != nil || !now.Before(c.Expires) {
		c = counter{}
	}
	return c, d.Version, nil
}

// bumpCounter applies fn to a counter and writes it back if it did not
// change meanwhile, retrying otherwise. fn returning errNoWrite writes
// nothing; another error is returned as is.
func (s *Service) bumpCounter(ctx context.Context, id string, now time.Time, fn func(*counter) error) error {
	for range counterRetries {
		c, version, err := s.readCounter(ctx, id, now)
		if err != nil {
			return err
		}
		if err := fn(&c); err != nil {
			if errors.Is(err, errNoWrite) {
				return nil
			}
			return err
		}
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		err = s.st.PutDoc(ctx, &store.Doc{Kind: KindThrottle, ID: id, Version: version + 1, Data: data}, store.Sides{})
		if errorsIsAny(err, store.ErrConflict, store.ErrExists, store.ErrNotFound) {
			continue // changed, created or pruned meanwhile: read again
		}
		return err
	}
	// Only an address's own parallel attempts contend this hard for its
	// counters: refusing it briefly is the throttle's job anyway.
	return &ThrottledError{RetryAfter: throttleBase, Scope: ScopeAddress}
}

// PruneThrottle deletes expired throttle counters and returns how many. A
// counter bumped between the listing and the delete loses that bump, which
// is one attempt of a counter that had expired.
func (s *Service) PruneThrottle(ctx context.Context) (int, error) {
	docs, err := s.st.ListDocs(ctx, KindThrottle)
	if err != nil {
		return 0, err
	}
	now := s.clock()
	n := 0
	for _, d := range docs {
		var c counter
		if json.Unmarshal(d.Data, &c) == nil && now.Before(c.Expires) {
			continue
		}
		if err := s.st.DeleteDoc(ctx, KindThrottle, d.ID, store.Sides{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

// accountKey is the throttle key of a login e-mail (already normalised).
func accountKey(email string) string {
	if len(email) > maxThrottleKeyLen {
		email = email[:maxThrottleKeyLen]
	}
	return email
}

// ipKey is the throttle key of a client address: the address itself for
// IPv4, its /64 for IPv6 (one host usually holds a whole /64), or the raw
// string, bounded, when it does not parse.
func ipKey(ip string) string {
	ip = strings.TrimSpace(ip)
	if ip == "" {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(ip)
		if err2 != nil {
			if len(ip) > 64 {
				ip = ip[:64]
			}
			return ip
		}
		a = ap.Addr()
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.String()
		}
	}
	return a.String()
}
