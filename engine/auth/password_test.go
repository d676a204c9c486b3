package auth

import (
	"strings"
	"testing"
)

func TestPHC(t *testing.T) {
	h, err := hashPassword("a password")
	if err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(h) {
		t.Fatalf("hash %q", h)
	}
	p, err := parsePHC(h)
	if err != nil || p.Params != currentParams || len(p.Salt) != saltLen || len(p.Key) != keyLen {
		t.Fatalf("parsePHC = %+v, %v", p, err)
	}
	if needsRehash(h) {
		t.Fatal("fresh hash needs rehash")
	}
	ok, rehash, err := verifyPassword(h, "a password")
	if !ok || rehash || err != nil {
		t.Fatalf("verify right = %v %v %v", ok, rehash, err)
	}
	if ok, _, _ := verifyPassword(h, "a passwore"); ok {
		t.Fatal("wrong password verified")
	}

	salt, key := "c29tZXNhbHRzb21lc2FsdA", "tcJ2Mnz0b+TxVsM7rmUm3g6Cjqc1A9b8M6qJ5SmQjpU"
	bad := []string{
		"",
		"$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=+19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=4,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1,k=3$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + key, // 4-byte salt
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:len(key)-1] + "V", // non-canonical tail bits
		"x$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		strings.Repeat("$", 600),
	}
	for _, b := range bad {
		if _, err := parsePHC(b); err == nil {
			t.Errorf("parsePHC(%q) accepted", b)
		}
		if ok, _, err := verifyPassword(b, "x"); ok || err == nil {
			t.Errorf("verifyPassword(%q) = %v, %v", b, ok, err)
		}
	}
	good := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key
	if _, err := parsePHC(good); err != nil {
		t.Fatalf("parsePHC(%q): %v", good, err)
	}
}

// FuzzParsePHC checks that the parser never panics, keeps its bounds, and
// accepts exactly one spelling of each hash (what encodePHC writes).
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$tcJ2Mnz0b+TxVsM7rmUm3g6Cjqc1A9b8M6qJ5SmQjpU")
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$c29tZWtleXNvbWVrZXlzb21la2V5")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=19456,t=2,p=1$$")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			return
		}
		p := h.Params
		if p.Threads < 1 || p.Threads > maxThreads || p.Time < 1 || p.Time > maxTime ||
			p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory ||
			len(h.Salt) < minSaltLen || len(h.Salt) > maxSaltLen || len(h.Key) < minKeyLen || len(h.Key) > maxKeyLen {
			t.Fatalf("parsePHC(%q) = %+v: out of bounds", s, h)
		}
		if enc := encodePHC(h); enc != s {
			t.Fatalf("parsePHC(%q) re-encodes as %q", s, enc)
		}
	})
}
