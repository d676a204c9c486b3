package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/jimu-crm/jimu/engine/store"
)

// argonParams are the cost parameters of an argon2id hash.
type argonParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// currentParams are the OWASP-recommended argon2id parameters new hashes are
// made with. Stored hashes carry their own parameters, so these can be raised
// later: a hash made with other parameters is re-made at the next successful
// login.
var currentParams = argonParams{Memory: 19456, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32

	// Bounds on what a stored hash may ask for, so a corrupt or tampered
	// document cannot make a login allocate gigabytes or spin for minutes.
	maxMemory   = 1 << 20 // 1 GiB, in KiB
	maxTime     = 64
	maxThreads  = 64
	minSaltLen  = 8
	maxSaltLen  = 64
	minKeyLen   = 16
	maxKeyLen   = 64
	maxPHCLen   = 512
	phcAlgoName = "argon2id"
)

// b64 is the encoding PHC strings use: standard alphabet, no padding, and
// (Strict) no non-zero trailing bits, so an encoding has a single spelling.
var b64 = base64.RawStdEncoding.Strict()

// phcHash is a parsed `$argon2id$v=19$m=…,t=…,p=…$salt$key` string.
type phcHash struct {
	Params argonParams
	Salt   []byte
	Key    []byte
}

var errBadHash = errors.New("auth: malformed password hash")

// hashPassword hashes pw with a fresh random salt and the current parameters.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	p := currentParams
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return encodePHC(phcHash{Params: p, Salt: salt, Key: key}), nil
}

// verifyPassword checks pw against an encoded hash in constant time.
// rehash reports that the hash was made with other parameters than the
// current ones and should be replaced.
func verifyPassword(encoded, pw string) (ok, rehash bool, err error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	key := argon2.IDKey([]byte(pw), h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, uint32(len(h.Key)))
	ok = subtle.ConstantTimeCompare(key, h.Key) == 1
	rehash = h.Params != currentParams || len(h.Salt) != saltLen || len(h.Key) != keyLen
	return ok, rehash, nil
}

// needsRehash reports whether an encoded hash was made with other
// parameters than the current ones (or cannot be read).
func needsRehash(encoded string) bool {
	h, err := parsePHC(encoded)
	return err != nil || h.Params != currentParams || len(h.Salt) != saltLen || len(h.Key) != keyLen
}

func encodePHC(h phcHash) string {
	return fmt.Sprintf("$%s$v=%d$m=%d,t=%d,p=%d$%s$%s", phcAlgoName, argon2.Version,
		h.Params.Memory, h.Params.Time, h.Params.Threads,
		b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

// parsePHC parses an argon2id hash in PHC string format. It accepts exactly
// what encodePHC writes (parameters in the order m, t, p; decimal numbers
// without leading zeros; unpadded standard base64), within sane bounds.
func parsePHC(s string) (phcHash, error) {
	var h phcHash
	if len(s) > maxPHCLen {
		return h, errBadHash
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != phcAlgoName {
		return h, errBadHash
	}
	v, ok := cutDecimal(parts[2], "v=")
	if !ok || v != argon2.Version {
		return h, errBadHash
	}
	ps := strings.Split(parts[3], ",")
	if len(ps) != 3 {
		return h, errBadHash
	}
	m, ok1 := cutDecimal(ps[0], "m=")
	t, ok2 := cutDecimal(ps[1], "t=")
	p, ok3 := cutDecimal(ps[2], "p=")
	if !ok1 || !ok2 || !ok3 {
		return h, errBadHash
	}
	if p < 1 || p > maxThreads || t < 1 || t > maxTime || m < 8*p || m > maxMemory {
		return h, errBadHash
	}
	salt, err := decodeB64(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return h, errBadHash
	}
	key, err := decodeB64(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return h, errBadHash
	}
	h.Params = argonParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	h.Salt, h.Key = salt, key
	return h, nil
}

// decodeB64 decodes unpadded standard base64, refusing the line breaks the
// decoder would otherwise skip.
func decodeB64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errBadHash
	}
	return b64.DecodeString(s)
}

// cutDecimal parses "<prefix><n>" where n is a canonical decimal (no sign, no
// leading zero) that fits in 32 bits.
func cutDecimal(s, prefix string) (uint64, bool) {
	d, ok := strings.CutPrefix(s, prefix)
	if !ok || d == "" || len(d) > 10 || (len(d) > 1 && d[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(d, 10, 32)
	return n, err == nil
}

// --- hashing and checking, bounded ---

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.hashSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) release() { <-s.hashSem }

func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return hashPassword(pw)
}

func (s *Service) verify(ctx context.Context, encoded, pw string) (ok, rehash bool, err error) {
	if err := s.acquire(ctx); err != nil {
		return false, false, err
	}
	defer s.release()
	s.verified.Add(1)
	return verifyPassword(encoded, pw)
}

// dummy is a hash of a random password, verified against when the e-mail is
// unknown so that a login takes as long either way.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		pw, _, err := newSecret()
		if err == nil {
			s.dummyHash, err = hashPassword(pw)
		}
		if err != nil {
			// Unreachable in practice (crypto/rand does not fail); a fixed
			// valid hash keeps the timing.
			s.dummyHash = encodePHC(phcHash{Params: currentParams, Salt: make([]byte, saltLen), Key: make([]byte, keyLen)})
		}
	})
	return s.dummyHash
}

// rehash replaces a user's password hash made with outdated parameters and
// returns the user's new version (0 if it did not). Best effort: a
// concurrent change of the user wins.
func (s *Service) rehash(ctx context.Context, id, password string) int64 {
	h, err := s.hash(ctx, password)
	if err != nil {
		return 0
	}
	d, _, ud, err := s.loadUser(ctx, id)
	if err != nil || !needsRehash(ud.PasswordHash) {
		return 0
	}
	ud.PasswordHash = h
	data, err := json.Marshal(ud)
	if err != nil {
		return 0
	}
	nd := &store.Doc{Kind: KindUser, ID: d.ID, Key: d.Key, Version: d.Version + 1, Data: data}
	if err := s.st.PutDoc(ctx, nd, store.Sides{}); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			s.log.Warn("auth: password rehash", "user", id, "err", err)
		}
		return 0
	}
	return nd.Version
}
