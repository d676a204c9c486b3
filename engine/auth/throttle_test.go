package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestThrottleIP(t *testing.T) {
	th := newThrottle()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxIPFailures {
		if !th.begin(fmt.Sprintf("u%d@example.com", i), "192.0.2.1", now) {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if th.begin("fresh@example.com", "192.0.2.1", now) {
		t.Fatal("address not throttled")
	}
	if !th.begin("fresh@example.com", "192.0.2.2", now) {
		t.Fatal("other address throttled")
	}
	// Successes do not count against the address.
	th2 := newThrottle()
	for range 3 * maxIPFailures {
		if !th2.begin("a@example.com", "192.0.2.1", now) {
			t.Fatal("successful logins throttled")
		}
		th2.succeed("a@example.com", "192.0.2.1", now)
	}
	// The window slides.
	if !th.begin("fresh2@example.com", "192.0.2.1", now.Add(throttleWindow+time.Nanosecond)) {
		t.Fatal("address still throttled after the window")
	}
}

func TestThrottleIPv6Prefix(t *testing.T) {
	th := newThrottle()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxIPFailures {
		th.begin(fmt.Sprintf("u%d@example.com", i), ipKey(fmt.Sprintf("2001:db8:1:2::%x", i+1)), now)
	}
	if th.begin("x@example.com", ipKey("2001:db8:1:2:ffff::1"), now) {
		t.Fatal("same /64 not throttled")
	}
	if !th.begin("x@example.com", ipKey("2001:db8:1:3::1"), now) {
		t.Fatal("other /64 throttled")
	}
	for in, want := range map[string]string{
		"192.0.2.1":         "192.0.2.1",
		"::ffff:192.0.2.1":  "192.0.2.1",
		"192.0.2.1:4444":    "192.0.2.1",
		"[2001:db8::1]:443": "2001:db8::/64",
		"fe80::1%eth0":      "fe80::/64",
		"":                  "",
		" unknown ":         "unknown",
		"2001:db8:a:b:c::d": "2001:db8:a:b::/64",
	} {
		if got := ipKey(in); got != want {
			t.Errorf("ipKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestThrottleBounded(t *testing.T) {
	th := newThrottle()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 * maxThrottleKeys {
		th.begin(fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(th.account.hits); n > maxThrottleKeys {
		t.Fatalf("%d account keys", n)
	}
	if n := len(th.ip.hits); n > maxThrottleKeys {
		t.Fatalf("%d address keys", n)
	}
	// Each key keeps at most its limit of entries.
	for range 100 {
		th.begin("hammer@example.com", "", now)
		th.account.add("hammer@example.com", now.UnixNano(), 0)
	}
	if n := len(th.account.hits["hammer@example.com"]); n > maxAccountFailures {
		t.Fatalf("%d entries for one key", n)
	}
}
