package mongosession_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// events collects security events.
type events struct {
	mu  sync.Mutex
	got []mongosession.SecurityEvent
}

func (ev *events) add(e mongosession.SecurityEvent) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.got = append(ev.got, e)
}

func (ev *events) kinds() []mongosession.EventKind {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var k []mongosession.EventKind
	for _, e := range ev.got {
		k = append(k, e.Kind)
	}
	return k
}

// rotatePast makes the env's client rotate its token n times, then lets time pass beyond the allowance for
// requests in flight, so that a retired token presented now is a replay.
func rotatePast(e *env, ttl time.Duration, n int) {
	e.t.Helper()
	defer e.clock.Advance(10 * time.Second)
	for range n {
		e.clock.Advance(ttl)
		before := e.cookie()
		e.get("/incr")
		if e.cookie() == before {
			e.t.Fatal("no rotation")
		}
	}
}

// TestTokenTheft: an attacker copies the victim's cookie; once the victim's browser has rotated past it,
// the copy gives no access and is reported.
func TestTokenTheft(t *testing.T) {
	for _, revoke := range []bool{true, false} {
		t.Run(fmt.Sprint("revoke=", revoke), func(t *testing.T) {
			const ttl = 150 * time.Millisecond
			var ev events
			e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: ttl, KeepSessionOnReuse: !revoke,
				OnSecurityEvent: ev.add}})
			e.get("/incr")
			e.get("/put?k=secret&v=victim-data")
			stolen := e.cookie()
			id, token, _ := strings.Cut(stolen, ".")
			rotatePast(e, ttl, 3) // TokensKept is 3: the stolen token is now retired
			attacker := &http.Client{}
			e.cmds.Store(0)
			_, body, _ := e.do(attacker, "/get?k=secret", "Cookie", "session="+stolen)
			if body != "ok <nil>" {
				t.Fatalf("the replayed cookie gave %q", body)
			}
			// Detection rides on the one read; revoking adds the delete.
			if n, want := e.cmds.Load(), map[bool]int64{false: 1, true: 2}[revoke]; n != want {
				t.Fatalf("the replayed request made %d commands, want %d", n, want)
			}
			want := []mongosession.EventKind{mongosession.EventTokenReuse}
			if revoke {
				want = append(want, mongosession.EventSessionRevoked)
			}
			if got := ev.kinds(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("events %v, want %v", got, want)
			}
			got := ev.got[0]
			if got.Session != mongosession.SessionHash(id) || strings.Contains(fmt.Sprintf("%+v", ev.got), token) ||
				strings.Contains(fmt.Sprintf("%+v", ev.got), id) || got.RemoteAddr != "127.0.0.1" {
				t.Fatalf("event %+v: want the hashed id, the remote address, and no token or id", got)
			}
			victim := e.get("/get?k=secret")
			if revoke && victim != "ok <nil>" {
				t.Fatalf("revoke on reuse (the default): the session survived: %q", victim)
			}
			if !revoke && victim != "ok victim-data" {
				t.Fatalf("KeepSessionOnReuse: the victim keeps the session, got %q", victim)
			}
			if n := e.docCount(bson.D{{Key: "_id", Value: id}}); (n == 0) != revoke {
				t.Fatalf("%d documents for the session after the replay", n)
			}
		})
	}
}

// TestWriteOnlyReplayIsReported: a write-only request (no read) with a retired token is also detected, and
// its write never reaches the session it replayed: it starts a session of its own, as any cookie that opens
// no session does (with KeepSessionOnReuse a 409 would refuse the real user's writes, login included, for as
// long as the retired token is remembered).
func TestWriteOnlyReplayIsReported(t *testing.T) {
	const ttl = 150 * time.Millisecond
	var ev events
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: ttl, OnSecurityEvent: ev.add, KeepSessionOnReuse: true}})
	e.get("/incr")
	stolen := e.cookie()
	rotatePast(e, ttl, 3)
	code, _, sc := e.do(&http.Client{}, "/put?k=planted&v=x", "Cookie", "session="+stolen)
	if id, _, _ := strings.Cut(stolen, "."); code != http.StatusOK || sc == "" || strings.Contains(sc, id) {
		t.Fatalf("a write with a retired token: %d, Set-Cookie %q; want 200 and a session of its own", code, sc)
	}
	if got := ev.kinds(); len(got) != 1 || got[0] != mongosession.EventTokenReuse {
		t.Fatalf("events %v", got)
	}
	if got := e.get("/get?k=planted"); got != "ok <nil>" {
		t.Fatalf("a write with a retired token reached the victim's session: %q", got)
	}
}

// TestFixation: the server never adopts an id it did not issue, and Renew retires every earlier token
// at once.
func TestFixation(t *testing.T) {
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: time.Hour}})
	e.get("/incr")
	real := e.cookie()
	id, _, _ := strings.Cut(real, ".")
	planted := []string{
		id + "." + strings.Repeat("A", 43),                                // the victim's id, a made-up token
		"AAAAAAAAAAAAAAAAAAAAAA." + strings.Repeat("B", 43),               // a made-up id
		"attacker-chosen-id-xx." + strings.Repeat("C", 43),                // not even base64
		strings.Repeat("D", 22) + "." + strings.Repeat("E", 43) + "extra", // too long
	}
	for _, p := range planted {
		_, _, sc := e.do(&http.Client{}, "/put?k=x&v=y", "Cookie", "session="+p)
		gotID, _, _ := strings.Cut(strings.TrimPrefix(strings.Split(sc, ";")[0], "session="), ".")
		if gotID == "" || gotID == id || strings.HasPrefix(p, gotID) {
			t.Errorf("planted %q: the server issued id %q", p, gotID)
		}
	}
	if got := e.get("/get?k=x"); got != "ok <nil>" {
		t.Fatalf("a planted cookie wrote into the real session: %q", got)
	}
	// Login: Renew within TokenTTL; the pre-login cookie must stop working at once.
	e.get("/renew")
	if e.cookie() == real {
		t.Fatal("Renew kept the cookie")
	}
	if _, body, _ := e.do(&http.Client{}, "/get?k=visits", "Cookie", "session="+real); body != "ok <nil>" {
		t.Fatalf("the pre-login cookie still works after Renew: %q", body)
	}
	if got := e.get("/get?k=visits"); got != "ok 1" {
		t.Fatalf("the renewed session lost its data: %q", got)
	}
}

// TestLogoutWins: a slower parallel request of the same session that commits after Destroy cannot bring
// the session back.
func TestLogoutWins(t *testing.T) {
	for _, readFirst := range []bool{true, false} {
		t.Run(fmt.Sprint("readFirst=", readFirst), func(t *testing.T) {
			started, release := make(chan struct{}), make(chan struct{})
			e := newEnv(t, envConfig{handler: func(e *env) http.Handler {
				inner := routes(e)
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != "/slow" {
						inner.ServeHTTP(w, r)
						return
					}
					s := mongosession.FromContext(r.Context())
					if readFirst {
						if _, err := s.GetString("user"); err != nil {
							t.Error(err)
						}
					}
					close(started)
					<-release
					_ = s.Put("cart", "added after logout")
					fmt.Fprint(w, "slow done")
				})
			}})
			e.get("/put?k=user&v=ada")
			id, _, _ := strings.Cut(e.cookie(), ".")
			done := make(chan string)
			go func() {
				_, body, _ := e.do(e.client, "/slow")
				done <- body
			}()
			<-started
			e.get("/destroy")
			close(release)
			// After a read the slow request's change cannot be stored: its response says so (409) rather than
			// dropping it silently. Without a read it starts a new anonymous session under a new id.
			want := map[bool]string{true: "Conflict\n", false: "slow done"}[readFirst]
			if body := <-done; body != want {
				t.Fatalf("slow request: %q, want %q", body, want)
			}
			if n := e.docCount(bson.D{{Key: "_id", Value: id}}); n != 0 {
				t.Fatal("the slow request recreated the destroyed session")
			}
			if got := e.get("/get?k=user"); got != "ok <nil>" {
				t.Fatalf("after logout the browser still sees user %q", got)
			}
			// The slow request's changes never reach a session holding the logged-in state; after a read they
			// are dropped, without one they start a new anonymous session under a new id.
			if n := e.docCount(bson.D{{Key: "data.user", Value: "ada"}}); n != 0 {
				t.Fatal("a session with the logged-in state exists after logout")
			}
			if n, want := e.docCount(bson.D{{Key: "created", Value: bson.D{{Key: "$exists", Value: true}}}}), map[bool]int64{true: 0, false: 1}[readFirst]; n != want {
				t.Fatalf("%d sessions after logout, want %d", n, want)
			}
		})
	}
}

func TestPerUserSessions(t *testing.T) {
	e := newEnv(t, envConfig{opts: mongosession.Options{RecordClientInfo: true}, handler: func(e *env) http.Handler {
		inner := routes(e)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				s := mongosession.FromContext(r.Context())
				s.SetUser(r.FormValue("u"))
				_ = s.Renew()
				fmt.Fprint(w, "ok")
				return
			}
			inner.ServeHTTP(w, r)
		})
	}})
	ctx := context.Background()
	devices := make([]*http.Client, 3)
	ids := make([]string, 3)
	for i := range devices {
		devices[i] = e.newClient()
		req, _ := http.NewRequest("GET", e.srv.URL+"/login?u=ada", nil)
		req.Header.Set("User-Agent", fmt.Sprint("device-", i))
		resp, err := devices[i].Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range devices[i].Jar.Cookies(mustURL(e.srv.URL)) {
			ids[i], _, _ = strings.Cut(c.Value, ".")
		}
	}
	e.do(e.newClient(), "/login?u=bob")
	list, err := e.mgr.Sessions(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("Sessions(ada) = %d sessions, want 3", len(list))
	}
	agents := map[string]bool{}
	for _, si := range list {
		agents[si.UserAgent] = true
		if si.User != "ada" || si.RemoteAddr != "127.0.0.1" || si.Created.IsZero() || si.LastSeen.IsZero() {
			t.Errorf("session info %+v", si)
		}
	}
	if !agents["device-0"] || !agents["device-2"] {
		t.Errorf("user agents %v", agents)
	}
	// "Log out my other devices" from device 0.
	n, err := e.mgr.RevokeUser(ctx, "ada", ids[0])
	if err != nil || n != 2 {
		t.Fatalf("RevokeUser = %d, %v; want 2", n, err)
	}
	if _, body, _ := e.do(devices[1], "/get?k=visits"); body != "ok <nil>" {
		t.Fatal("device 1 survived RevokeUser")
	}
	if err := e.mgr.Revoke(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if list, _ := e.mgr.Sessions(ctx, "ada"); len(list) != 0 {
		t.Fatalf("%d sessions left for ada", len(list))
	}
	if list, _ := e.mgr.Sessions(ctx, "bob"); len(list) != 1 {
		t.Fatal("bob's session was touched")
	}
	// The user field is indexed.
	cur, err := e.coll.Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var idx []bson.M
	if err := cur.All(ctx, &idx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(idx), "user") {
		t.Fatalf("no index on user: %v", idx)
	}
}

func TestHostPrefixCookie(t *testing.T) {
	m, err := mongosession.New(memStore(), mongosession.Options{CookieHostPrefix: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptestRecord(m, func(s *mongosession.Session) { _ = s.Put("a", 1) }, "")
	sc := rec.Header().Get("Set-Cookie")
	if !strings.HasPrefix(sc, "__Host-session=") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "Path=/") ||
		strings.Contains(sc, "Domain") {
		t.Fatalf("Set-Cookie %q", sc)
	}
	for name, o := range map[string]mongosession.Options{
		"insecure":   {CookieHostPrefix: true, InsecureCookie: true},
		"domain":     {CookieHostPrefix: true, CookieDomain: "example.com"},
		"path":       {CookieHostPrefix: true, CookiePath: "/app"},
		"named":      {CookieName: "__Host-x", CookiePath: "/app"},
		"__Secure-":  {CookieName: "__Secure-x", InsecureCookie: true},
		"None+plain": {CookieSameSite: http.SameSiteNoneMode, InsecureCookie: true},
		// Browsers apply the prefixes case-insensitively, and so does New.
		"__HOST- insecure": {CookieName: "__HOST-x", InsecureCookie: true},
		"__host- domain":   {CookieName: "__host-x", CookieDomain: "example.com"},
		"__HoSt- path":     {CookieName: "__HoSt-x", CookiePath: "/app"},
		"__SECURE- plain":  {CookieName: "__SECURE-x", InsecureCookie: true},
		"__secure- plain":  {CookieName: "__secure-x", InsecureCookie: true},
	} {
		if _, err := mongosession.New(memStore(), o); err == nil {
			t.Errorf("%s: New accepted an impossible cookie", name)
		}
	}
}

// TestNoTokenInLogs runs a whole session life with a logger at debug level and looks for every token in
// the output.
func TestNoTokenInLogs(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const ttl = 100 * time.Millisecond
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: ttl, Logger: logger}, handler: func(e *env) http.Handler {
		inner := routes(e)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/late" {
				fmt.Fprint(w, "x")
				if err := mongosession.FromContext(r.Context()).Put("late", 1); !errors.Is(err, mongosession.ErrHeadersSent) {
					t.Errorf("Put after the headers on a request without a session: %v", err)
				}
				return
			}
			inner.ServeHTTP(w, r)
		})
	}})
	var tokens []string
	note := func() {
		if _, tok, ok := strings.Cut(e.cookie(), "."); ok {
			tokens = append(tokens, tok)
		}
	}
	e.get("/incr")
	note()
	stolen := e.cookie()
	for range 3 {
		e.clock.Advance(ttl)
		e.get("/incr")
		note()
	}
	e.clock.Advance(10 * time.Second)
	e.do(&http.Client{}, "/get?k=visits", "Cookie", "session="+stolen) // reuse: logged, session revoked
	e.get("/renew")
	note()
	e.do(&http.Client{}, "/late")
	e.get("/destroy")
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "token_reuse") {
		t.Fatalf("the test did not log what it meant to:\n%s", out)
	}
	for _, tok := range tokens {
		if strings.Contains(out, tok) || strings.Contains(out, tok[:20]) {
			t.Fatalf("a token appears in the log:\n%s", out)
		}
	}
	if regexp.MustCompile(`[A-Za-z0-9_-]{43}`).MatchString(out) {
		t.Fatalf("something token-shaped appears in the log:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestDestroyNeedsTheToken: a logout request carrying a victim's session id with a made-up token must not
// end the victim's session.
func TestDestroyNeedsTheToken(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.get("/incr")
	id, _, _ := strings.Cut(e.cookie(), ".")
	code, _, _ := e.do(&http.Client{}, "/destroy", "Cookie", "session="+id+"."+strings.Repeat("A", 43))
	if code != 200 {
		t.Fatal(code)
	}
	if n := e.docCount(bson.D{{Key: "_id", Value: id}}); n != 1 {
		t.Fatal("a forged logout deleted the victim's session")
	}
	if got := e.get("/incr"); got != "ok 2" {
		t.Fatalf("victim after a forged logout: %q", got)
	}
}
