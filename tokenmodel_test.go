package mongosession_test

// The token model's regression traces (issue "One model of a session's tokens", items 1-7), each through the
// real middleware and the real database. model_test.go checks the same decision exhaustively.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// plantedValue is a well-formed cookie value that the server never issued.
func plantedValue() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(b[:16]) + "." + enc.EncodeToString(b[16:])
}

// holding returns a browser (a client with a cookie jar) that holds value as its session cookie.
func (e *env) holding(value string) *http.Client {
	c := e.newClient()
	c.Jar.SetCookies(mustURL(e.srv.URL), []*http.Cookie{{Name: e.mgr.Options().CookieName, Value: value, Path: "/"}})
	return c
}

// cookieOf returns the session cookie c holds.
func (e *env) cookieOf(c *http.Client) string {
	name := e.mgr.Options().CookieName
	return sessionCookie(c.Jar.Cookies(mustURL(e.srv.URL)), func(n string) bool { return n == name })
}

// must sends path with c and fails unless the answer is 200 with body want ("" for any body).
func (e *env) must(c *http.Client, path, want string) string {
	e.t.Helper()
	code, body, _ := e.do(c, path)
	if code != http.StatusOK || (want != "" && body != want) {
		e.t.Fatalf("GET %s: %d %q, want 200 %q", path, code, body, want)
	}
	return body
}

// TestPlantedCookieNeverReceivesALogin (item 1, session fixation): an attacker plants a never-issued value X
// in the victim's browser (possible wherever the cookie has no __Host- prefix) and writes once with X himself,
// keeping the session he gets. The victim's login, made with X, must create a session of its own that the
// attacker's cookie does not reach, however long after the attacker's write.
func TestPlantedCookieNeverReceivesALogin(t *testing.T) {
	for _, after := range []time.Duration{500 * time.Millisecond, 6 * time.Second, time.Minute} {
		t.Run(after.String(), func(t *testing.T) {
			e := newEnv(t, envConfig{handler: promiseRoutes(newGate())})
			x := plantedValue()
			attacker := e.holding(x)
			e.must(attacker, "/put?k=cart&v=attacker", "ok ")
			if e.cookieOf(attacker) == x {
				t.Fatal("setup: the attacker's write got no session")
			}
			e.clock.Advance(after)
			victim := e.holding(x)
			code, body, sc := e.do(victim, "/login?u=victim")
			if code != 200 || body != "ok" || sc == "" {
				t.Fatalf("the victim's login: %d %q, Set-Cookie %q; want 200 with a cookie", code, body, sc)
			}
			e.must(victim, "/whoami", "ok victim<nil>")
			e.must(attacker, "/whoami", "ok <nil>")
			if e.cookieOf(attacker) == e.cookieOf(victim) {
				t.Fatal("the attacker holds the victim's cookie")
			}
		})
	}
}

// TestRevokedCopyNeverWritesIntoANewLogin (item 2): the victim logs in; RevokeUser ends the session; the
// victim's browser, still holding the revoked value X, logs in again. A thief with a copy of X who then logs
// in as himself and writes must land in a session of his own.
func TestRevokedCopyNeverWritesIntoANewLogin(t *testing.T) {
	e := newEnv(t, envConfig{handler: promiseRoutes(newGate())})
	victim := e.newClient()
	e.must(victim, "/login?u=victim", "ok")
	x := e.cookieOf(victim)
	if n, err := e.mgr.RevokeUser(context.Background(), "victim"); err != nil || n != 1 {
		t.Fatalf("RevokeUser: %d, %v", n, err)
	}
	e.clock.Advance(time.Second)
	e.must(victim, "/login?u=victim", "ok")
	if e.cookieOf(victim) == x {
		t.Fatal("the second login set no cookie")
	}
	thief := e.holding(x)
	e.must(thief, "/login?u=thief", "ok")
	e.must(thief, "/put?k=thiefkey&v=1", "ok ")
	e.must(victim, "/whoami", "ok victim<nil>")
	e.must(victim, "/get?k=thiefkey", "ok <nil>")
	e.must(thief, "/whoami", "ok thief<nil>")
}

// TestLoginAfterALostResponse (item 3): a browser whose cookie X names a dead session writes, but the
// response with its new cookie is lost; then it logs in with X. The login must set a cookie and log it in,
// a second later or an hour later.
func TestLoginAfterALostResponse(t *testing.T) {
	for _, after := range []time.Duration{time.Second, time.Hour} {
		t.Run(after.String(), func(t *testing.T) {
			e := newEnv(t, envConfig{handler: promiseRoutes(newGate())})
			browser := e.newClient()
			e.must(browser, "/incr", "ok 1")
			x := e.cookieOf(browser)
			id, _, _ := strings.Cut(x, ".")
			if _, err := e.coll.DeleteOne(context.Background(), bson.D{{Key: "_id", Value: id}}); err != nil {
				t.Fatal(err)
			}
			if code, _, sc := e.do(&http.Client{}, "/put?k=a&v=1", "Cookie", "session="+x); code != 200 || sc == "" {
				t.Fatalf("the write whose response is lost: %d %q", code, sc)
			}
			e.clock.Advance(after)
			code, body, sc := e.do(browser, "/login?u=ada")
			if code != 200 || body != "ok" || sc == "" {
				t.Fatalf("login with the dead cookie: %d %q, Set-Cookie %q; want 200 with a cookie", code, body, sc)
			}
			e.must(browser, "/whoami", "ok ada<nil>")
		})
	}
}

// TestDetachedLoadsNeverRevoke (item 4): a stream handler kept the cookie value it was opened with; the user
// browses on and the token rotates past it. Loading that value later (LoadCookie), or loading a request that
// did not pass through the middleware (Load), is no replay: no event, no revocation, and the user's session
// goes on. The detached load simply finds no session.
func TestDetachedLoadsNeverRevoke(t *testing.T) {
	const ttl = time.Second
	var ev events
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: ttl, OnSecurityEvent: ev.add}})
	e.get("/incr")
	kept := e.cookie()
	rotatePast(e, ttl, 4)
	ctx := context.Background()
	s, err := e.mgr.LoadCookie(ctx, kept)
	if err != nil || s.Mode() != mongosession.ModeNone {
		t.Fatalf("LoadCookie of a value rotated past: %v, %v; want no session", err, s.Mode())
	}
	r, _ := http.NewRequest("GET", "/stream", nil)
	r.Header.Set("Cookie", "session="+kept)
	if s, err = e.mgr.Load(ctx, r); err != nil || s.Mode() != mongosession.ModeNone {
		t.Fatalf("Load of a request outside the middleware: %v, %v; want no session", err, s.Mode())
	}
	if k := ev.kinds(); len(k) != 0 {
		t.Fatalf("events %v from detached loads", k)
	}
	if got := e.get("/get?k=visits"); got != "ok 5" {
		t.Fatalf("the user's session after the detached loads: %q", got)
	}
}

// TestActiveThiefIsDetected (item 5): a thief copies the cookie once and then keeps the cookies he is sent,
// browsing alongside the victim: they alternate, a request a second, for ten minutes. Only the holder of the
// newest token rotates, so the other one's token is retired within TokensKept rotations and its next use is a
// replay: the session is revoked within seconds, and from then on neither is logged in.
func TestActiveThiefIsDetected(t *testing.T) {
	for _, thiefFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("thiefFirst=", thiefFirst), func(t *testing.T) {
			var ev events
			e := newEnv(t, envConfig{opts: mongosession.Options{OnSecurityEvent: ev.add}, handler: promiseRoutes(newGate())})
			victim := e.newClient()
			e.must(victim, "/login?u=victim", "ok")
			thief := e.holding(e.cookieOf(victim))
			parties := []*http.Client{victim, thief}
			if thiefFirst {
				parties[0], parties[1] = thief, victim
			}
			loggedIn, detectedAt := [2]int{}, -1
			for i := range 600 {
				e.clock.Advance(time.Second)
				code, body, _ := e.do(parties[i%2], "/whoami")
				if code != 200 {
					t.Fatalf("request %d: %d %q", i, code, body)
				}
				if body == "ok victim<nil>" {
					loggedIn[i%2]++
					if detectedAt >= 0 {
						t.Fatalf("request %d logged in after the theft was detected at %d", i, detectedAt)
					}
				}
				if detectedAt < 0 && len(ev.kinds()) > 0 {
					detectedAt = i
				}
			}
			t.Logf("detected after %d s; logged-in requests before: %v", detectedAt+1, loggedIn)
			if got := fmt.Sprint(ev.kinds()); got != "[token_reuse session_revoked]" {
				t.Fatalf("events %s, want one reuse and the revocation", got)
			}
			// TokensKept (3) rotations of TokenTTL (5 s), then the in-flight allowance (5 s): about 20 s.
			if detectedAt < 0 || detectedAt > 30 {
				t.Fatalf("detected after %d requests, want within 30", detectedAt+1)
			}
		})
	}
}

// TestLateRotationAfterALogin (item 6, the residual risk docs/design.md states): a reading request rotates,
// and its response reaches the browser only after the response of a parallel login made with the same cookie.
// Its cookie, a token of the renewed-away session, replaces the login's: the browser is logged out. No design
// that keeps I2 can send that cookie the login's session (its value existed before the login). What the
// library keeps: the late cookie never reaches the login's session, nothing is reported as a theft, and
// logging in again works.
func TestLateRotationAfterALogin(t *testing.T) {
	var ev events
	e := newEnv(t, envConfig{opts: mongosession.Options{OnSecurityEvent: ev.add}, handler: promiseRoutes(newGate())})
	e.get("/incr")
	e.clock.Advance(6 * time.Second) // the token is due for rotation
	pre := e.cookie()
	code, _, lateCookie := e.do(&http.Client{}, "/get?k=visits", "Cookie", "session="+pre) // its response is held
	if code != 200 || lateCookie == "" {
		t.Fatalf("the reader: %d, Set-Cookie %q; want a rotation", code, lateCookie)
	}
	e.must(e.client, "/login?u=ada", "ok")
	login := e.cookie()
	e.clock.Advance(time.Second)
	late, _, _ := strings.Cut(strings.TrimPrefix(lateCookie, "session="), ";")
	b := e.holding(late) // the held response arrives last
	e.must(b, "/whoami", "ok <nil>")
	e.clock.Advance(10 * time.Second)
	e.must(b, "/whoami", "ok <nil>")
	e.must(b, "/put?k=k&v=v", "ok ")
	if e.cookieOf(b) == login {
		t.Fatal("the late cookie was sent the login's session")
	}
	e.must(b, "/login?u=ada", "ok")
	e.must(b, "/whoami", "ok ada<nil>")
	e.must(e.client, "/whoami", "ok ada<nil>")
	if k := ev.kinds(); len(k) != 0 {
		t.Fatalf("events %v", k)
	}
}

// TestJunkCookiesDoNotHideTheRealOne (item 7): cookies of the session's name that are not well-formed do not
// count toward the candidates read, so the real cookie behind three of them is read and a write stores in it
// (no new cookie). Behind more well-formed values than are read, no new session cookie is set over it.
func TestJunkCookiesDoNotHideTheRealOne(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.get("/incr")
	real := e.cookie()
	junk := "session=junk; session=also-junk; session=" + strings.Repeat("x", 66) + "; session=" + real
	if code, body, sc := e.do(&http.Client{}, "/incr", "Cookie", junk); code != 200 || body != "ok 2" || sc != "" {
		t.Fatalf("behind three junk cookies: %d %q, Set-Cookie %q; want ok 2 and no new cookie", code, body, sc)
	}
	planted := fmt.Sprintf("session=%s; session=%s; session=%s; session=%s", plantedValue(), plantedValue(), plantedValue(), real)
	code, body, sc := e.do(&http.Client{}, "/put?k=a&v=b", "Cookie", planted)
	if code == 200 || sc != "" {
		t.Fatalf("behind three well-formed planted values: %d %q, Set-Cookie %q; want a refusal and no cookie", code, body, sc)
	}
	if got := e.get("/get?k=visits"); got != "ok 2" {
		t.Fatalf("the real session afterwards: %q", got)
	}
}
