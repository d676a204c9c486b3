// Package webhook delivers a workflow's outbound webhooks: a JSON body
// signed with HMAC-SHA256 over its timestamp and body, an
// Idempotency-Key, a timeout, retries with exponential backoff and
// jitter, redirects followed only within the same host, and a dialer that
// refuses loopback, private, link-local and cloud-metadata addresses
// unless the admin allowlisted them — checked on the address actually
// dialled, after DNS, so a name that resolves (or re-resolves) inward is
// caught too.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// RefusedError is a target the guard will not connect to. It is never
// retried: the same address would be refused again.
type RefusedError struct {
	Addr   netip.Addr
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("webhook target %s is refused: %s (allowlist it with --webhook-allow to call it)", e.Addr, e.Reason)
}

// blocked are the networks a webhook may not reach unless allowlisted.
var blocked = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier) address, where cloud metadata services such as 100.100.100.200 live"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address (cloud metadata at 169.254.169.254)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a protocol-assignment address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address (it reaches IPv4 addresses behind it)"},
	{netip.MustParsePrefix("fc00::/7"), "a private (unique local) address, where fd00:ec2::254 metadata lives"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// Guard decides which addresses a webhook may reach.
type Guard struct {
	// Allow lists networks reachable although blocked (a webhook receiver
	// on the office network, a test server on loopback).
	Allow []netip.Prefix
}

// ParseAllow reads an allowlist: comma-separated networks or addresses
// ("10.1.0.0/16,127.0.0.1").
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("webhook allowlist: %q is neither a network nor an address", f)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("webhook allowlist: %q: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Check returns a RefusedError for an address a webhook may not reach.
func (g *Guard) Check(a netip.Addr) error {
	a = a.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	for _, p := range g.Allow {
		if p.Contains(a) {
			return nil
		}
	}
	for _, b := range blocked {
		if b.prefix.Contains(a) {
			return &RefusedError{Addr: a, Reason: b.reason}
		}
	}
	return nil
}

// control runs on every connection just before it is made, with the
// address resolved: the one place a check cannot be raced by DNS.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dial %s: %w", address, err)
	}
	return g.Check(ap.Addr())
}

// CheckHost is the check made when a rule is saved: an address, or a name
// that resolves now, to a refused address is an error then (a name that
// does not resolve here is left to the dial).
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return g.Check(a)
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return g.Check(netip.MustParseAddr("127.0.0.1"))
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := g.Check(a); err != nil {
			return err
		}
	}
	return nil
}

// IsRefused reports whether err is (or wraps) a refused target.
func IsRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}
