package mongosession_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// persistent reports whether the response set a persistent session cookie; it fails the test if it set none.
func persistent(t *testing.T, rec *httptest.ResponseRecorder) bool {
	t.Helper()
	sc := rec.Header().Get("Set-Cookie")
	if sc == "" {
		t.Fatalf("no Set-Cookie (status %d, body %q)", rec.Code, rec.Body)
	}
	maxAge, expires := strings.Contains(sc, "Max-Age="), strings.Contains(sc, "Expires=")
	if maxAge != expires {
		t.Fatalf("Set-Cookie %q has one of Max-Age and Expires", sc)
	}
	return maxAge
}

func TestRememberMe(t *testing.T) {
	bothModes(t, func(t *testing.T, e *env) {
		b := &browser{m: e.mgr}
		if !persistent(t, b.do(func(s *mongosession.Session) { _ = s.Put("a", 1) })) {
			t.Fatal("default: the cookie is not persistent")
		}
		if e.docCount(bson.D{{Key: "remember", Value: bson.D{{Key: "$exists", Value: true}}}}) != 0 {
			t.Fatal("a session that made no choice stores one")
		}
		rec := b.do(func(s *mongosession.Session) {
			if err := s.RememberMe(false); err != nil {
				t.Fatal(err)
			}
		})
		if persistent(t, rec) {
			t.Fatal("RememberMe(false): the cookie is still persistent")
		}
		// The choice survives the token's rotation (database) or the reseal (cookie mode)...
		e.clock.Advance(13 * time.Minute) // past TokenTTL, and past a tenth of IdleTimeout
		if persistent(t, b.do(func(s *mongosession.Session) { _, _ = s.Get("a") })) {
			t.Fatal("after rotation: the cookie is persistent again")
		}
		// ... and Renew (a cookie-mode session moves to the database there).
		if persistent(t, b.do(func(s *mongosession.Session) { _ = s.Renew() })) {
			t.Fatal("after Renew: the cookie is persistent again")
		}
		if n := e.docCount(bson.D{{Key: "remember", Value: false}}); n != 1 {
			t.Fatalf("%d documents store the choice, want 1", n)
		}
		e.clock.Advance(13 * time.Minute)
		if persistent(t, b.do(func(s *mongosession.Session) { _, _ = s.Get("a") })) {
			t.Fatal("after Renew and rotation: the cookie is persistent again")
		}
		// Changing one's mind sends a cookie at once.
		if !persistent(t, b.do(func(s *mongosession.Session) { _ = s.RememberMe(true) })) {
			t.Fatal("RememberMe(true): the cookie is not persistent")
		}
		// The server-side deadline did not change: the session still ends after IdleTimeout.
		e.clock.Advance(mongosession.DefaultIdleTimeout + time.Second)
		b.do(func(s *mongosession.Session) {
			if v, _ := s.Get("a"); v != nil {
				t.Fatal("a remembered session outlived IdleTimeout")
			}
		})
	})
}

func TestBrowserSessionCookie(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts mongosession.Options
	}{{"database", mongosession.Options{}}, {"cookie", cookieOpts()}} {
		t.Run(mode.name, func(t *testing.T) {
			opts := mode.opts
			opts.BrowserSessionCookie = true
			e := newEnv(t, envConfig{opts: opts})
			b := &browser{m: e.mgr}
			if persistent(t, b.do(func(s *mongosession.Session) { _ = s.Put("a", 1) })) {
				t.Fatal("BrowserSessionCookie: the cookie is persistent")
			}
			// Login with "remember me" ticked: the new session's cookie persists, and keeps persisting.
			rec := b.do(func(s *mongosession.Session) {
				s.SetUser("ada")
				if err := s.Renew(); err != nil {
					t.Fatal(err)
				}
				if err := s.RememberMe(true); err != nil {
					t.Fatal(err)
				}
			})
			if !persistent(t, rec) {
				t.Fatal("RememberMe(true) at login: the cookie is not persistent")
			}
			e.clock.Advance(time.Minute)
			if !persistent(t, b.do(func(s *mongosession.Session) { _, _ = s.Get("a") })) {
				t.Fatal("after rotation: the remembered cookie is no longer persistent")
			}
		})
	}
}

// A new session can make its choice in the request that creates it.
func TestRememberMeOnNewSession(t *testing.T) {
	bothModes(t, func(t *testing.T, e *env) {
		b := &browser{m: e.mgr}
		rec := b.do(func(s *mongosession.Session) {
			if err := s.RememberMe(false); err != nil {
				t.Fatal(err)
			}
			_ = s.Put("a", 1)
		})
		if persistent(t, rec) {
			t.Fatal("RememberMe(false) on a new session: the cookie is persistent")
		}
		// The choice alone creates no session.
		rec = (&browser{m: e.mgr}).do(func(s *mongosession.Session) { _ = s.RememberMe(false) })
		if sc := rec.Header().Get("Set-Cookie"); sc != "" {
			t.Fatalf("RememberMe alone created a session: %q", sc)
		}
	})
}
