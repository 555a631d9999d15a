package mongosession_test

// A thief never wins: stolen, planted and tossed cookies, with default options.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/memstore"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestThiefVersusVictim: a thief uses a copied cookie while the victim is idle past TokenTTL × TokensKept, so
// the thief's requests rotate the victim's token away. When the victim comes back, the thief must not keep
// the session: with default options the session is revoked, and the thief is logged out too.
func TestThiefVersusVictim(t *testing.T) {
	var ev events
	const ttl = time.Second
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: ttl, OnSecurityEvent: ev.add}, handler: promiseRoutes(newGate())})
	e.get("/login?u=ada")
	e.get("/put?k=secret&v=victim-data")
	thief := e.newClient()
	thief.Jar.SetCookies(mustURL(e.srv.URL), e.client.Jar.Cookies(mustURL(e.srv.URL)))
	for range 4 { // the victim is idle; the thief browses, rotating
		e.clock.Advance(ttl)
		if _, body, _ := e.do(thief, "/get?k=secret"); body != "ok victim-data" {
			t.Fatalf("thief before the victim returns: %q", body)
		}
	}
	e.clock.Advance(time.Minute)
	if got := e.get("/whoami"); got != "ok <nil>" { // the victim returns with a retired token
		t.Fatalf("victim with a retired token: %q", got)
	}
	if _, body, _ := e.do(thief, "/whoami"); body != "ok <nil>" {
		t.Fatalf("after the victim came back the thief is still logged in: %q", body)
	}
	if k := fmt.Sprint(ev.kinds()); k != "[token_reuse session_revoked]" {
		t.Fatalf("events %s", k)
	}
	if ev.got[0].User != "ada" {
		t.Fatalf("the event names user %q, want ada (an operator revokes by user and session)", ev.got[0].User)
	}
	if n := e.docCount(bson.D{{Key: "user", Value: "ada"}}); n != 0 {
		t.Fatalf("%d sessions of the user survive the theft", n)
	}
}

// TestSetUserInCookieModeMovesToTheDatabase: a login must be revocable, so linking a user moves a cookie-mode
// session to MongoDB in the same commit; RevokeUser then ends it and User reports no user.
func TestSetUserInCookieModeMovesToTheDatabase(t *testing.T) {
	e := newEnv(t, envConfig{opts: cookieOpts(), handler: func(e *env) http.Handler {
		inner := cookieRoutes(e)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := mongosession.FromContext(r.Context())
			switch r.URL.Path {
			case "/setuser":
				s.SetUser("ada")
				fmt.Fprint(w, "ok")
			case "/whoami":
				u, err := s.User()
				fmt.Fprint(w, "ok ", u, " ", s.Mode(), err)
			default:
				inner.ServeHTTP(w, r)
			}
		})
	}})
	e.get("/incr")
	if !isSealed(e.cookie()) {
		t.Fatal("setup: not in cookie mode")
	}
	e.get("/setuser")
	if !isDatabase(e.cookie()) {
		t.Fatalf("SetUser left the session in the cookie: %q", e.cookie())
	}
	if got := e.get("/whoami"); got != "ok ada database <nil>" {
		t.Fatalf("after SetUser: %q", got)
	}
	sessions, err := e.mgr.Sessions(context.Background(), "ada")
	if err != nil || len(sessions) != 1 {
		t.Fatalf("Sessions: %v, %v", sessions, err)
	}
	if n, err := e.mgr.RevokeUser(context.Background(), "ada"); n != 1 || err != nil {
		t.Fatalf("RevokeUser: %d, %v", n, err)
	}
	if got := e.get("/whoami"); got != "ok  none <nil>" {
		t.Fatalf("after RevokeUser: %q", got)
	}
}

// TestCookieTossing: a sibling subdomain plants a forged cookie of the same name that the browser sends
// first. The real session is still found, and nothing clears it.
func TestCookieTossing(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.get("/incr")
	real := e.cookie()
	forgedID := strings.Repeat("A", 22) + "." + strings.Repeat("B", 43)
	for name, header := range map[string]string{
		"forged first":        "session=" + forgedID + "; session=" + real,
		"garbage first":       "session=garbage; session=" + real,
		"real first":          "session=" + real + "; session=" + forgedID,
		"two headers":         "session=" + forgedID,
		"forged sealed first": "session=c1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; session=" + real,
	} {
		hdr := []string{"Cookie", header}
		if name == "two headers" {
			hdr = append(hdr, "Cookie", "session="+real)
		}
		code, body, sc := e.do(&http.Client{}, "/get?k=visits", hdr...)
		if code != 200 || body != "ok 1" || sc != "" {
			t.Errorf("%s: %d %q Set-Cookie %q; want the real session and no cookie", name, code, body, sc)
		}
	}
	// One cookie costs one read; a forged one in front costs one more, and only then.
	if n := e.count(e.client, "/get?k=visits"); n != 1 {
		t.Fatalf("one cookie: %d commands", n)
	}
}

// TestHostPrefixByDefault: where the __Host- prefix is possible (Secure, no Domain, Path /) it is the default.
func TestHostPrefixByDefault(t *testing.T) {
	for _, tc := range []struct {
		opts mongosession.Options
		want string
	}{
		{mongosession.Options{}, "__Host-session"},
		{mongosession.Options{InsecureCookie: true}, "session"},
		{mongosession.Options{CookieDomain: "example.com"}, "session"},
		{mongosession.Options{CookiePath: "/app"}, "session"},
		{mongosession.Options{CookieName: "sid"}, "sid"},
	} {
		m, err := mongosession.New(memstore.New(), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Options().CookieName; got != tc.want {
			t.Errorf("%+v: cookie name %q, want %q", tc.opts, got, tc.want)
		}
	}
}

// TestSealedCookieIsBoundToItsApplication: two applications sharing keys and a cookie name accept each other's
// sealed sessions only if they share the purpose, path and domain too.
func TestSealedCookieIsBoundToItsApplication(t *testing.T) {
	base := cookieOpts()
	mk := func(mod func(*mongosession.Options)) *mongosession.Manager {
		o := base
		mod(&o)
		m, err := mongosession.New(memstore.New(), o)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	shop := mk(func(o *mongosession.Options) { o.CookiePurpose = "shop" })
	sealed := cookieOf(t, httptestRecord(shop, func(s *mongosession.Session) { _ = s.Put("role", "admin") }, ""))
	if !isSealed(sealed) {
		t.Fatal("setup: not sealed")
	}
	for name, m := range map[string]*mongosession.Manager{
		"another purpose": mk(func(o *mongosession.Options) { o.CookiePurpose = "forum" }),
		"default purpose": mk(func(o *mongosession.Options) {}),
		"another path":    mk(func(o *mongosession.Options) { o.CookiePurpose, o.CookiePath = "shop", "/app" }),
		"another domain":  mk(func(o *mongosession.Options) { o.CookiePurpose, o.CookieDomain = "shop", "example.com" }),
	} {
		httptestRecord(m, func(s *mongosession.Session) {
			if v, _ := s.Get("role"); v != nil || s.Mode() != mongosession.ModeNone {
				t.Errorf("%s accepted the shop's cookie: %v", name, v)
			}
		}, m.Options().CookieName+"="+sealed)
	}
	httptestRecord(shop, func(s *mongosession.Session) {
		if v, _ := s.Get("role"); v != "admin" {
			t.Errorf("the shop does not open its own cookie: %v", v)
		}
	}, "session="+sealed)
}

// TestEventsNameTheClient: the token_reuse line carries the hashed session, the client address that
// Options.ClientAddr gives (a trusted proxy's header here) and the User-Agent, bounded.
func TestEventsNameTheClient(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	const ttl = time.Second
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: ttl,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil)),
		ClientAddr: func(r *http.Request) string {
			if mongosession.RemoteHost(r) == "127.0.0.1" { // the trusted proxy
				if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
					return strings.TrimSpace(xff[strings.LastIndex(xff, ",")+1:])
				}
			}
			return mongosession.RemoteHost(r)
		}}})
	e.get("/incr")
	stolen := e.cookie()
	id, _, _ := strings.Cut(stolen, ".")
	rotatePast(e, ttl, 3)
	ua := "Thief/1.0 " + strings.Repeat("x", 400)
	e.do(&http.Client{}, "/get?k=visits", "Cookie", "session="+stolen, "User-Agent", ua, "X-Forwarded-For", "198.51.100.7")
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	line := ""
	for l := range strings.Lines(out) {
		if strings.Contains(l, "token_reuse") {
			line = l
		}
	}
	if !strings.Contains(line, "session="+mongosession.SessionHash(id)) || !strings.Contains(line, "remote=198.51.100.7") ||
		!strings.Contains(line, "Thief/1.0") || strings.Contains(line, strings.Repeat("x", 300)) || strings.Contains(line, id) {
		t.Fatalf("token_reuse line %q: want the hashed session, the forwarded address and a bounded User-Agent", line)
	}
}
