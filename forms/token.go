package forms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/jimu-crm/jimu/engine/store"
)

// A public page carries a token the server signed when it served the
// page: which form, when, a nonce that makes the token single-use, and the
// challenge it asked. The minimum fill time is measured from its time, so
// a bot cannot post faster by forging one; nothing of it lives on the
// server until it is used.

const (
	kindSecret = "form_secret"
	// tokenTTL is how long a page may stay open before it is sent.
	tokenTTL = 24 * time.Hour
	// powBits is the proof of work asked: a SHA-256 with this many leading
	// zero bits, about 65,000 hashes (a fraction of a second in a browser).
	powBits = 16
	// maxTokenLen bounds what is parsed at all.
	maxTokenLen = 1024
)

// token is what a page's signed token says.
type token struct {
	Form  string `json:"f"`
	At    int64  `json:"t"` // unix milliseconds when the page was served
	Nonce string `json:"n"`
	Kind  string `json:"k,omitempty"` // challenge: "", arithmetic, proof_of_work
	// Answer is a MAC of the arithmetic answer, so the page does not give
	// it away and the server keeps nothing.
	Answer string `json:"a,omitempty"`
	Bits   int    `json:"b,omitempty"`
}

// challenge is what the page asks besides the fields.
type challenge struct {
	Kind     string `json:"kind"`               // arithmetic, proof_of_work
	Question string `json:"question,omitempty"` // "7 + 12"
	Nonce    string `json:"nonce,omitempty"`    // proof of work: hash nonce + ":" + counter
	Bits     int    `json:"bits,omitempty"`
}

// secret returns the key tokens are signed with, shared by every node
// through the store; the first node to need it makes it.
func (pb *Public) secret(ctx context.Context) ([]byte, error) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.key != nil {
		return pb.key, nil
	}
	for range 3 {
		d, err := pb.st.GetDoc(ctx, kindSecret, "token")
		if err == nil {
			var v struct{ Key string }
			if err := json.Unmarshal(d.Data, &v); err != nil {
				return nil, err
			}
			key, err := hex.DecodeString(v.Key)
			if err != nil || len(key) < 32 {
				return nil, errors.New("forms: the token secret is corrupt")
			}
			pb.key = key
			return key, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		data, _ := json.Marshal(map[string]string{"key": hex.EncodeToString(key)})
		err = pb.st.PutDoc(ctx, &store.Doc{Kind: kindSecret, ID: "token", Version: 1, Data: data}, store.Sides{})
		if err != nil && !errors.Is(err, store.ErrExists) {
			return nil, err
		}
		// Made here, or by another node meanwhile: read what is stored.
	}
	return nil, errors.New("forms: the token secret could not be read")
}

func mac(key []byte, parts ...string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(strings.Join(parts, "\x00")))
	return h.Sum(nil)
}

// issue makes the token (and challenge) of a page served now.
func (pb *Public) issue(ctx context.Context, f *Form, pub *Publication) (string, *challenge, error) {
	key, err := pb.secret(ctx)
	if err != nil {
		return "", nil, err
	}
	var n [16]byte
	_, _ = rand.Read(n[:])
	t := token{Form: f.ID, At: pb.now().UnixMilli(), Nonce: hex.EncodeToString(n[:])}
	var ch *challenge
	switch pub.Challenge {
	case "arithmetic":
		a, b := randInt(1, 9), randInt(10, 20)
		t.Kind, t.Answer = "arithmetic", hex.EncodeToString(mac(key, "answer", t.Nonce, strconv.Itoa(a+b))[:12])
		ch = &challenge{Kind: "arithmetic", Question: strconv.Itoa(a) + " + " + strconv.Itoa(b)}
	case "proof_of_work":
		t.Kind, t.Bits = "proof_of_work", powBits
		ch = &challenge{Kind: "proof_of_work", Nonce: t.Nonce, Bits: powBits}
	}
	return signToken(key, t), ch, nil
}

func randInt(lo, hi int) int {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(hi-lo+1)))
	return lo + int(n.Int64())
}

func signToken(key []byte, t token) string {
	payload, _ := json.Marshal(t)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(mac(key, "token", string(payload)))
}

// errToken is a token that is not one this server signed.
var errToken = errors.New("the page's token is missing or not valid")

// parseToken checks a token's signature before reading anything in it.
func parseToken(key []byte, s string) (token, error) {
	var t token
	if s == "" || len(s) > maxTokenLen {
		return t, errToken
	}
	p, m, ok := strings.Cut(s, ".")
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	sum, err2 := enc.DecodeString(m)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(sum, mac(key, "token", string(payload))) {
		return t, errToken
	}
	if err := json.Unmarshal(payload, &t); err != nil || t.Nonce == "" || t.Form == "" {
		return token{}, errToken
	}
	return t, nil
}

// Refusals of a token, as the codes clients see.
const (
	codeToken     = "token"     // missing, forged, of another form, expired
	codeTooFast   = "too_fast"  // sent sooner than the minimum fill time
	codeChallenge = "challenge" // the challenge's answer is wrong
)

// check verifies the token of a submission of f and its challenge answer.
func (pb *Public) check(ctx context.Context, f *Form, pub *Publication, raw, answer, work string) (token, string, error) {
	key, err := pb.secret(ctx)
	if err != nil {
		return token{}, "", err
	}
	t, err := parseToken(key, raw)
	if err != nil || t.Form != f.ID {
		return t, codeToken, nil
	}
	age := pb.now().Sub(time.UnixMilli(t.At))
	switch {
	case age > tokenTTL || age < -time.Minute:
		return t, codeToken, nil
	case age < pub.minFill():
		return t, codeTooFast, nil
	}
	switch t.Kind {
	case "arithmetic":
		want, _ := hex.DecodeString(t.Answer)
		got := mac(key, "answer", t.Nonce, strings.TrimSpace(answer))[:12]
		if len(want) != 12 || !hmac.Equal(want, got) {
			return t, codeChallenge, nil
		}
	case "proof_of_work":
		if !workDone(t.Nonce, strings.TrimSpace(work), t.Bits) {
			return t, codeChallenge, nil
		}
	}
	// A challenge asked after the page was served (the publication
	// changed) is asked of the next page, not of this one.
	return t, "", nil
}

// workDone reports whether SHA-256(nonce + ":" + counter) starts with
// bits zero bits.
func workDone(nonce, counter string, bits int) bool {
	if counter == "" || len(counter) > 20 {
		return false
	}
	sum := sha256.Sum256([]byte(nonce + ":" + counter))
	return leadingZeros(sum[:]) >= bits
}

func leadingZeros(b []byte) int {
	n := 0
	for _, x := range b {
		if x != 0 {
			return n + bits.LeadingZeros8(x)
		}
		n += 8
	}
	return n
}
