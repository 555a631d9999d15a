package mongosession

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// Sealed cookie format, version 1:
//
//	c1.<base64url, no padding, of nonce (12 bytes) | AES-256-GCM ciphertext | tag (16 bytes)>
//
// The prefix contains no base64url character sequence that parseCookie could accept ("<22>.<43>" has its dot
// at offset 22, a sealed value at offset 2), so the two formats can never be confused. The associated data
// binds the format version, the cookie's name, path and domain, and a purpose label (Options.CookiePurpose):
// a sealed value copied under another cookie, or from another application sharing the keys, does not open.
const (
	sealPrefix   = "c1."
	sealInfo     = "mongosession cookie mode v1: AES-256-GCM" // HKDF info: keys used here are used nowhere else
	minKeyBytes  = 32
	gcmNonceSize = 12
	gcmTagSize   = 16
)

// sealer seals with its first AEAD and opens with any of them.
type sealer struct {
	aeads []cipher.AEAD
}

// newSealer derives one AES-256-GCM key from each configured key with HKDF-SHA256. It returns nil for no
// keys. The keys have been checked by Options.validate (at least 32 bytes each).
func newSealer(keys [][]byte) *sealer {
	if len(keys) == 0 {
		return nil
	}
	s := &sealer{}
	for _, k := range keys {
		dk, err := hkdf.Key(sha256.New, k, nil, sealInfo, 32)
		if err != nil {
			panic("mongosession: HKDF: " + err.Error()) // cannot happen for a 32-byte output
		}
		block, err := aes.NewCipher(dk)
		if err != nil {
			panic("mongosession: AES: " + err.Error()) // cannot happen for a 32-byte key
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			panic("mongosession: GCM: " + err.Error())
		}
		s.aeads = append(s.aeads, aead)
	}
	return s
}

// sealAD is the associated data of every seal: the format version and the cookie's binding. Each part is
// length-prefixed, so no two bindings produce the same bytes.
func sealAD(name, path, domain, purpose string) []byte {
	ad := []byte(sealPrefix)
	for _, part := range []string{name, path, domain, purpose} {
		ad = append(ad, byte(len(part)>>8), byte(len(part)))
		ad = append(ad, part...)
	}
	return ad
}

// seal encrypts plain with the current (first) key under a fresh random nonce. Random 96-bit nonces are
// safe for about 2^32 seals per key: rotate keys long before that.
func (s *sealer) seal(ad, plain []byte) string {
	buf := make([]byte, gcmNonceSize, gcmNonceSize+len(plain)+gcmTagSize)
	_, _ = rand.Read(buf) // never fails (Go 1.24+)
	buf = s.aeads[0].Seal(buf, buf[:gcmNonceSize], plain, ad)
	return sealPrefix + b64.EncodeToString(buf)
}

// open decrypts a sealed cookie value. It reports which key opened it (0 is the current one). Anything
// malformed, longer than maxLen, forged, or sealed under other associated data is simply not ok.
func (s *sealer) open(ad []byte, v string, maxLen int) (plain []byte, key int, ok bool) {
	if s == nil || len(v) > maxLen || !strings.HasPrefix(v, sealPrefix) {
		return nil, 0, false
	}
	raw, err := b64.Strict().DecodeString(v[len(sealPrefix):])
	if err != nil || len(raw) < gcmNonceSize+gcmTagSize {
		return nil, 0, false
	}
	nonce, ct := raw[:gcmNonceSize], raw[gcmNonceSize:]
	for i, aead := range s.aeads {
		if plain, err := aead.Open(nil, nonce, ct, ad); err == nil {
			return plain, i, true
		}
	}
	return nil, 0, false
}
