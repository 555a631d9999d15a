package mongosession

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

const (
	idBytes    = 16 // 128-bit session id
	tokenBytes = 32 // 256-bit token

	idLen    = 22 // base64url (no padding) of 16 bytes
	tokenLen = 43 // base64url (no padding) of 32 bytes
)

var b64 = base64.RawURLEncoding

// randomString returns n random bytes from crypto/rand, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error (Go 1.24+: it crashes the program instead).
	_, _ = rand.Read(b)
	return b64.EncodeToString(b)
}

func newID() string    { return randomString(idBytes) }
func newToken() string { return randomString(tokenBytes) }

// hashToken is what the database stores instead of the token: a dump of the collection must not let anyone in.
func hashToken(token string) []byte {
	h := sha256.Sum256(stackBytes(token, new([tokenLen]byte)))
	return h[:]
}

// stackBytes copies s into buf (which the caller keeps on its stack) when it fits, so that hashing or
// decoding a cookie part costs no allocation on every request; []byte(s) would allocate for more than 32 bytes.
func stackBytes(s string, buf *[tokenLen]byte) []byte {
	if len(s) > len(buf) {
		return []byte(s)
	}
	return buf[:copy(buf[:], s)]
}

// parseCookie splits "<id>.<token>" and checks both parts strictly. Anything else is no session.
func parseCookie(v string) (id, token string, ok bool) {
	if len(v) != idLen+1+tokenLen {
		return "", "", false
	}
	id, token, found := strings.Cut(v, ".")
	if !found || len(id) != idLen || len(token) != tokenLen {
		return "", "", false
	}
	if !canonicalB64(id, idBytes) || !canonicalB64(token, tokenBytes) {
		return "", "", false
	}
	return id, token, true
}

// canonicalB64 accepts only the one encoding we produce, so a forged variant of a real id cannot alias it.
func canonicalB64(s string, n int) bool {
	var src [tokenLen]byte
	var dst [tokenBytes]byte
	if n > len(dst) || len(s) != b64.EncodedLen(n) {
		return false
	}
	m, err := b64.Strict().Decode(dst[:], stackBytes(s, &src))
	return err == nil && m == n
}

func cookieValue(id, token string) string { return id + "." + token }
