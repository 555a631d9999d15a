package mongosession_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestCounterAcrossRequests(t *testing.T) {
	e := newEnv(t, envConfig{})
	for i := 1; i <= 3; i++ {
		if got, want := e.get("/incr"), fmt.Sprintf("ok %d", i); got != want {
			t.Fatalf("request %d: %q, want %q", i, got, want)
		}
	}
	if n := e.docCount(bson.D{}); n != 1 {
		t.Fatalf("%d documents, want 1", n)
	}
}

func TestCookieAttributesAndCacheHeaders(t *testing.T) {
	e := newEnv(t, envConfig{opts: mongosession.Options{CookieDomain: "127.0.0.1"}})
	code, _, sc := e.do(e.client, "/incr")
	if code != 200 {
		t.Fatal(code)
	}
	for _, want := range []string{"session=", "Path=/", "HttpOnly", "SameSite=Lax", "Domain=127.0.0.1", "Max-Age="} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/put?k=a&v=b", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Vary") != "Cookie" || resp.Header.Get("Cache-Control") != `no-cache="Set-Cookie"` {
		t.Fatalf("Vary %q, Cache-Control %q", resp.Header.Get("Vary"), resp.Header.Get("Cache-Control"))
	}
	value := resp.Cookies()[0].Value
	id, token, ok := strings.Cut(value, ".")
	if !ok || len(id) != 22 || len(token) != 43 {
		t.Fatalf("cookie value %q is not <22-char id>.<43-char token>", value)
	}
	// Only the hash is stored: the token itself appears nowhere in the document.
	raw, err := e.coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), token) || strings.Contains(raw.String(), token) {
		t.Fatal("the token is stored in the database")
	}
}

func TestSecureCookieByDefault(t *testing.T) {
	m, err := mongosession.New(memStore(), mongosession.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptestRecord(m, func(s *mongosession.Session) { _ = s.Put("a", 1) }, "")
	if sc := rec.Header().Get("Set-Cookie"); !strings.Contains(sc, "Secure") {
		t.Fatalf("Set-Cookie %q is not Secure", sc)
	}
}

func TestRotation(t *testing.T) {
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: 600 * time.Millisecond}})
	e.get("/incr")
	first := e.cookie()
	if _, _, sc := e.do(e.client, "/incr"); sc != "" {
		t.Fatalf("a fresh token was rotated: %q", sc)
	}
	cookies := []string{first}
	for i := 0; i < 3; i++ {
		e.clock.Advance(650 * time.Millisecond)
		_, body, sc := e.do(e.client, "/incr")
		if sc == "" || e.cookie() == cookies[len(cookies)-1] {
			t.Fatalf("rotation %d: no new cookie after TokenTTL (%q)", i+1, body)
		}
		cookies = append(cookies, e.cookie())
		// Right after a rotation the newest token is fresh, so reading with an old cookie does not rotate.
		if i == 1 {
			other := &http.Client{}
			_, got, _ := e.do(other, "/get?k=visits", "Cookie", "session="+first)
			if got != "ok 4" {
				t.Fatalf("first token, still among the 3 newest, gives %q; want ok 4", got)
			}
		}
	}
	// tokens kept: cookies[1..3]; the first one is retired now. A request sent before that (within the
	// allowance for requests in flight) still reads the session.
	if _, got, _ := e.do(&http.Client{}, "/get?k=visits", "Cookie", "session="+first); got != "ok 5" {
		t.Fatalf("a token retired just now gives %q, want ok 5 (the request may have been sent before)", got)
	}
	if _, got, _ := e.do(&http.Client{}, "/get?k=visits", "Cookie", "session="+cookies[1]); got != "ok 5" {
		t.Fatalf("token 2 of 4 (among 3 newest) gives %q, want ok 5", got)
	}
	e.clock.Advance(10 * time.Second)
	if _, got, _ := e.do(&http.Client{}, "/get?k=visits", "Cookie", "session="+first); got != "ok <nil>" {
		t.Fatalf("a token retired 10 s ago gives %q, want no session (a replay)", got)
	}
}

func TestParallelIncrLosesNothing(t *testing.T) {
	t.Parallel() // 160 requests: let the others run meanwhile
	// Tokens rotate while the 16 run; a request's token is retired only after 3 rotations (1.5 s).
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: 500 * time.Millisecond}})
	e.get("/incr")
	const workers, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				resp, err := e.client.Get(e.srv.URL + "/incr")
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok ") {
					errs <- fmt.Errorf("%d %q", resp.StatusCode, body)
				}
				e.clock.Advance(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := e.get("/get?k=visits"), fmt.Sprintf("ok %d", 1+workers*each); got != want {
		t.Fatalf("after %d parallel increments: %q, want %q", workers*each, got, want)
	}
	if n := e.docCount(bson.D{}); n != 1 {
		t.Fatalf("%d sessions exist: a request lost the session and started another", n)
	}
}

func TestParallelWritesOfDifferentKeysBothSurvive(t *testing.T) {
	for _, route := range []string{"/put", "/readput"} {
		t.Run(route[1:], func(t *testing.T) {
			e := newEnv(t, envConfig{})
			e.get("/incr")
			var wg sync.WaitGroup
			for _, k := range []string{"a", "b", "c", "d"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e.get(route + "?k=" + k + "&v=" + k + k)
				}()
			}
			wg.Wait()
			for _, k := range []string{"a", "b", "c", "d"} {
				if got := e.get("/get?k=" + k); got != "ok "+k+k {
					t.Errorf("key %s: %q", k, got)
				}
			}
		})
	}
}

func TestCommandsPerRequest(t *testing.T) {
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: 100 * 365 * 24 * time.Hour}})
	c := e.client
	cases := []struct {
		path string
		max  int64
	}{
		{"/put?k=a&v=1", 1}, // new: one insert
		{"/untouched", 0},
		{"/get?k=a", 1},     // read-only
		{"/put?k=b&v=2", 1}, // write-only: the update's filter checks the token
		{"/incr", 2},        // read + write
	}
	for _, tc := range cases {
		if n := e.count(c, tc.path); n != tc.max {
			t.Errorf("%s: %d commands, want %d", tc.path, n, tc.max)
		}
	}
}

func TestCommandsPerRotatingRequest(t *testing.T) {
	e := newEnv(t, envConfig{opts: mongosession.Options{TokenTTL: time.Second}})
	e.get("/incr")
	if n := e.count(e.client, "/get?k=visits"); n != 1 {
		t.Fatalf("read-only, fresh token: %d commands, want 1", n)
	}
	e.clock.Advance(1050 * time.Millisecond)
	before := e.cookie()
	if n := e.count(e.client, "/get?k=visits"); n != 2 {
		t.Fatalf("read-only, rotating: %d commands, want 2 (one more than without rotation)", n)
	}
	if e.cookie() == before {
		t.Fatal("no rotation happened")
	}
	e.clock.Advance(1050 * time.Millisecond)
	before = e.cookie()
	if n := e.count(e.client, "/incr"); n != 2 {
		t.Fatalf("read+write, rotating: %d commands, want 2 (the same as without rotation)", n)
	}
	if e.cookie() == before {
		t.Fatal("no rotation happened")
	}
	if got := e.get("/get?k=visits"); got != "ok 2" {
		t.Fatalf("%q after rotating increment", got)
	}
}

func TestDatabaseDown(t *testing.T) {
	t.Parallel() // it waits on timeouts: let the others run meanwhile
	p, uri := newProxiedURI(t)
	var mu sync.Mutex
	var handlerErrs []error
	e := newEnv(t, envConfig{uri: uri, timeout: time.Second,
		opts: mongosession.Options{Timeout: time.Second},
		handler: func(e *env) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := mongosession.FromContext(r.Context())
				var err error
				if r.URL.Path == "/incr" {
					_, err = s.Incr("visits", 1)
				} else {
					err = s.Put("k", "v")
				}
				mu.Lock()
				handlerErrs = append(handlerErrs, err)
				mu.Unlock()
				fmt.Fprint(w, "handler output")
			})
		}})
	e.get("/incr")
	p.stop()
	for _, c := range []*http.Client{e.client, e.newClient()} { // a known session, and a new one
		code, body, sc := e.do(c, "/incr")
		if code != http.StatusServiceUnavailable || sc != "" || strings.Contains(body, "handler output") {
			t.Errorf("database down: status %d, Set-Cookie %q, body %q; want 503, none, no handler output", code, sc, body)
		}
	}
	code, _, sc := e.do(e.newClient(), "/put")
	if code != http.StatusServiceUnavailable || sc != "" {
		t.Errorf("new session while the database is down: %d, Set-Cookie %q", code, sc)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handlerErrs) != 4 || handlerErrs[0] != nil || handlerErrs[1] == nil {
		t.Fatalf("handler errors %v: a failed read must return an error to the handler", handlerErrs)
	}
}

func TestHostileCookies(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.get("/incr")
	real := e.cookie()
	id, _, _ := strings.Cut(real, ".")
	token43 := strings.Repeat("A", 43)
	for name, v := range map[string]string{
		"garbage":        "not a cookie",
		"empty":          "",
		"oversized":      strings.Repeat("x", 3900),
		"forged":         "AAAAAAAAAAAAAAAAAAAAAA." + token43,
		"real id":        id + "." + token43,
		"no dot":         strings.Replace(real, ".", "", 1),
		"non-canonical":  id[:21] + "B." + token43, // last char with unused bits set
		"two dots":       real + ".x",
		"non-base64":     strings.Repeat("*", 22) + "." + strings.Repeat("*", 43),
		"id is a filter": `{"$ne":1}.` + token43,
	} {
		code, body, _ := e.do(&http.Client{}, "/incr", "Cookie", "session="+v)
		if code != 200 || body != "ok 1" {
			t.Errorf("%s cookie: %d %q, want a fresh session (ok 1)", name, code, body)
		}
	}
	if got := e.get("/get?k=visits"); got != "ok 1" {
		t.Fatalf("the real session changed: %q", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	// Time moves only when the test advances the clock.
	e := newEnv(t, envConfig{opts: mongosession.Options{IdleTimeout: 2 * time.Second}})
	e.get("/incr")
	e.clock.Advance(1200 * time.Millisecond)
	if got := e.get("/incr"); got != "ok 2" {
		t.Fatalf("within the idle timeout: %q", got)
	}
	e.clock.Advance(1200 * time.Millisecond) // 2.4 s after the first request, 1.2 s after the last
	if got := e.get("/incr"); got != "ok 3" {
		t.Fatalf("use must extend the idle deadline: %q", got)
	}
	e.clock.Advance(2200 * time.Millisecond)
	if got := e.get("/incr"); got != "ok 1" {
		t.Fatalf("after the idle timeout: %q, want a fresh session", got)
	}
}

func TestAbsoluteLifetime(t *testing.T) {
	e := newEnv(t, envConfig{opts: mongosession.Options{Lifetime: 2 * time.Second}})
	e.get("/incr")
	for i := 2; i <= 3; i++ {
		e.clock.Advance(600 * time.Millisecond)
		if got := e.get("/incr"); got != fmt.Sprint("ok ", i) {
			t.Fatalf("within the lifetime: %q", got)
		}
	}
	e.clock.Advance(1000 * time.Millisecond)
	if got := e.get("/incr"); got != "ok 1" {
		t.Fatalf("after the absolute lifetime, despite use: %q", got)
	}
}

func TestDestroy(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.get("/incr")
	id, _, _ := strings.Cut(e.cookie(), ".")
	_, _, sc := e.do(e.client, "/destroy")
	if !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("Destroy did not clear the cookie: %q", sc)
	}
	if e.cookie() != "" {
		t.Fatal("the jar still holds the cookie")
	}
	if n := e.docCount(bson.D{{Key: "_id", Value: id}}); n != 0 {
		t.Fatal("the document is still there")
	}
}

func TestRenew(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.get("/incr")
	e.get("/put?k=user&v=ada")
	old := e.cookie()
	_, _, sc := e.do(e.client, "/renew")
	if sc == "" || e.cookie() == old {
		t.Fatal("Renew sent no new cookie")
	}
	oldID, _, _ := strings.Cut(old, ".")
	newID, _, _ := strings.Cut(e.cookie(), ".")
	if oldID == newID {
		t.Fatal("Renew kept the session id")
	}
	if got := e.get("/get?k=user"); got != "ok ada" {
		t.Fatalf("data after Renew: %q", got)
	}
	if got := e.get("/incr"); got != "ok 2" {
		t.Fatalf("counter after Renew: %q", got)
	}
	if _, got, _ := e.do(&http.Client{}, "/get?k=user", "Cookie", "session="+old); got != "ok <nil>" {
		t.Fatalf("the pre-Renew cookie still works: %q", got)
	}
}

func TestStreamingFlush(t *testing.T) {
	e := newEnv(t, envConfig{handler: func(e *env) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := mongosession.FromContext(r.Context())
			if r.URL.Path != "/stream" {
				v, err := s.GetString("streamed")
				fmt.Fprint(w, v, err)
				return
			}
			_ = s.Put("streamed", "yes")
			rc := http.NewResponseController(w)
			fmt.Fprint(w, "chunk1;")
			if err := rc.Flush(); err != nil {
				t.Error("Flush through ResponseController:", err)
			}
			fmt.Fprint(w, "chunk2")
			w.(http.Flusher).Flush()
		})
	}})
	resp, err := e.client.Get(e.srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "chunk1;chunk2" || resp.Header.Get("Set-Cookie") == "" {
		t.Fatalf("body %q, Set-Cookie %q", body, resp.Header.Get("Set-Cookie"))
	}
	if got := e.get("/read"); got != "yes<nil>" {
		t.Fatalf("streamed session value: %q", got)
	}
}

func TestChangeAfterHeadersIsStored(t *testing.T) {
	e := newEnv(t, envConfig{handler: func(e *env) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := mongosession.FromContext(r.Context())
			switch r.URL.Path {
			case "/late":
				_, _ = s.GetInt64("n") // read first, so the late changes are authenticated writes
				w.WriteHeader(200)
				fmt.Fprint(w, "sent")
				_ = s.Put("late", "stored")
				_, _ = s.Incr("n", 1)
			case "/read":
				v, err := s.GetString("late")
				n, _ := s.GetInt64("n")
				fmt.Fprint(w, v, err, n)
			default:
				_ = s.Put("n", int64(10))
			}
		})
	}})
	e.get("/start")
	if got := e.get("/late"); got != "sent" {
		t.Fatal(got)
	}
	if got := e.get("/read"); got != "stored<nil> 11" {
		t.Fatalf("change after the headers: %q", got)
	}
}

func TestKeysThatWouldCorruptPaths(t *testing.T) {
	e := newEnv(t, envConfig{})
	for _, k := range []string{"a.b", "$set", "", "x\x00y"} {
		body := e.get("/put?k=" + url.QueryEscape(k) + "&v=1")
		if !strings.Contains(body, "invalid key") {
			t.Errorf("Put(%q): %q, want an invalid key error", k, body)
		}
	}
	for _, k := range []string{"ünïcode", "with space", "a$b", "-"} {
		e.get("/put?k=" + url.QueryEscape(k) + "&v=" + url.QueryEscape(k))
		if got := e.get("/get?k=" + url.QueryEscape(k)); got != "ok "+k {
			t.Errorf("key %q round-trips as %q", k, got)
		}
	}
}

func TestUnstorableValueFailsAtPut(t *testing.T) {
	m, err := mongosession.New(memStore(), mongosession.Options{})
	if err != nil {
		t.Fatal(err)
	}
	httptestRecord(m, func(s *mongosession.Session) {
		if err := s.Put("ch", make(chan int)); !errors.Is(err, mongosession.ErrInvalidValue) {
			t.Errorf("a channel: %v", err)
		}
		if err := s.Put("big", make([]byte, 9<<20)); !errors.Is(err, mongosession.ErrInvalidValue) {
			t.Errorf("a 9 MiB value: %v", err)
		}
		if err := s.Put("ok", map[string]int{"a": 1}); err != nil {
			t.Error(err)
		}
	}, "")
}

func TestTypedGetters(t *testing.T) {
	e := newEnv(t, envConfig{handler: func(e *env) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := mongosession.FromContext(r.Context())
			if r.URL.Path == "/set" {
				for k, v := range map[string]any{"s": "str", "i": 42, "f": 1.5, "b": true,
					"t": time.UnixMilli(1700000000123), "raw": []byte{1, 2}} {
					if err := s.Put(k, v); err != nil {
						t.Error(err)
					}
				}
				return
			}
			str, e1 := s.GetString("s")
			i, e2 := s.GetInt64("i")
			f, e3 := s.GetFloat64("f")
			b, e4 := s.GetBool("b")
			tm, e5 := s.GetTime("t")
			raw, e6 := s.GetBytes("raw")
			_, wrong := s.GetInt64("s")
			missing, e7 := s.GetString("missing")
			keys, e8 := s.Keys()
			if err := errors.Join(e1, e2, e3, e4, e5, e6, e7, e8); err != nil {
				t.Error(err)
			}
			if !errors.Is(wrong, mongosession.ErrType) {
				t.Errorf("GetInt64 of a string: %v, want ErrType", wrong)
			}
			fmt.Fprint(w, str, i, f, b, tm.UnixMilli(), raw, missing == "", keys)
		})
	}})
	e.get("/set")
	if got := e.get("/read"); got != "str42 1.5 true 1700000000123 [1 2] true [b f i raw s t]" {
		t.Fatalf("getters: %q", got)
	}
}
