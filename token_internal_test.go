package mongosession

import (
	"strings"
	"testing"
)

// TestTokensAreRandomAndLong: ids carry 128 bits and tokens 256 bits from crypto/rand, base64url, and the
// cookie parser accepts exactly that shape.
func TestTokensAreRandomAndLong(t *testing.T) {
	seen := map[string]bool{}
	for range 5000 {
		id, tok := newID(), newToken()
		for _, v := range []struct {
			s string
			n int
		}{{id, idBytes}, {tok, tokenBytes}} {
			b, err := b64.Strict().DecodeString(v.s)
			if err != nil || len(b) != v.n || seen[v.s] || len(b)*8 < map[int]int{idBytes: 128, tokenBytes: 256}[v.n] {
				t.Fatalf("%q: %d bytes, err %v, repeated %v", v.s, len(b), err, seen[v.s])
			}
			seen[v.s] = true
		}
		if got, gotTok, ok := parseCookie(cookieValue(id, tok)); !ok || got != id || gotTok != tok {
			t.Fatal("a cookie we issued does not parse back")
		}
	}
	if len(hashToken("x")) != 32 || strings.Contains(string(hashToken("abc")), "abc") {
		t.Fatal("the stored form is not a SHA-256 hash")
	}
}
