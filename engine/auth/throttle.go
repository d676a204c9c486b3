package auth

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Login throttling limits: failures per account (e-mail) and per client
// address within a sliding window.
const (
	throttleWindow     = 15 * time.Minute
	maxAccountFailures = 5
	maxIPFailures      = 30
	// maxThrottleKeys bounds each limiter's memory. Past it, expired keys are
	// swept; if that is not enough, arbitrary keys are dropped.
	maxThrottleKeys   = 20000
	maxThrottleKeyLen = 320
)

// throttle counts failed logins in memory. An attempt is recorded when it
// begins (so parallel guesses cannot slip past the limit) and taken back if
// it succeeds.
type throttle struct {
	mu      sync.Mutex
	window  time.Duration
	account limiter
	ip      limiter
}

// limiter is a sliding log of failure times (unix nanoseconds) per key,
// holding at most max entries per key.
type limiter struct {
	max  int
	hits map[string][]int64
}

func newThrottle() *throttle {
	return &throttle{
		window:  throttleWindow,
		account: limiter{max: maxAccountFailures, hits: map[string][]int64{}},
		ip:      limiter{max: maxIPFailures, hits: map[string][]int64{}},
	}
}

// begin records an attempt for the account and address, unless either is
// over its limit, in which case it records nothing and returns false. An
// empty key is not limited.
func (t *throttle) begin(account, ip string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	cut := now.Add(-t.window).UnixNano()
	if !t.account.allows(account, cut) || !t.ip.allows(ip, cut) {
		return false
	}
	n := now.UnixNano()
	t.account.add(account, n, cut)
	t.ip.add(ip, n, cut)
	return true
}

// succeed takes back the attempt begun at now and clears the account's
// failures.
func (t *throttle) succeed(account, ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.account.hits, account)
	t.ip.remove(ip, now.UnixNano())
}

// abort takes back the attempt begun at now without judging it (the store
// failed, the request was cancelled).
func (t *throttle) abort(account, ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.account.remove(account, now.UnixNano())
	t.ip.remove(ip, now.UnixNano())
}

func (l *limiter) allows(key string, cut int64) bool {
	if key == "" {
		return true
	}
	n := 0
	for _, h := range l.hits[key] {
		if h > cut {
			n++
		}
	}
	return n < l.max
}

func (l *limiter) add(key string, at, cut int64) {
	if key == "" {
		return
	}
	hs := l.hits[key]
	if hs == nil && len(l.hits) >= maxThrottleKeys {
		l.sweep(cut)
	}
	// Keep only live entries, at most max of them.
	live := hs[:0]
	for _, h := range hs {
		if h > cut {
			live = append(live, h)
		}
	}
	live = append(live, at)
	if len(live) > l.max {
		live = live[len(live)-l.max:]
	}
	l.hits[key] = live
}

func (l *limiter) remove(key string, at int64) {
	hs := l.hits[key]
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i] == at {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(l.hits, key)
	} else {
		l.hits[key] = hs
	}
}

// sweep drops keys with no live entry and, if the map is still at its bound,
// drops arbitrary keys down to 90% of it.
func (l *limiter) sweep(cut int64) {
	for k, hs := range l.hits {
		if len(hs) == 0 || hs[len(hs)-1] <= cut {
			delete(l.hits, k)
		}
	}
	for k := range l.hits {
		if len(l.hits) < maxThrottleKeys*9/10 {
			break
		}
		delete(l.hits, k)
	}
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
