package mongosession_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/memstore"
	"go.mongodb.org/mongo-driver/v2/bson"
)

var (
	testKey1 = bytes.Repeat([]byte{1}, 32)
	testKey2 = bytes.Repeat([]byte{2}, 32)
)

func cookieOpts() mongosession.Options {
	return mongosession.Options{CookieKeys: [][]byte{testKey1}, StartInCookie: true}
}

// cookieRoutes are the harness's routes plus /promote and /mode.
func cookieRoutes(e *env) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", routes(e))
	mux.HandleFunc("/promote", func(w http.ResponseWriter, r *http.Request) {
		if err := mongosession.FromContext(r.Context()).Promote(); err != nil {
			fmt.Fprint(w, "err ", err)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/mode", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok ", mongosession.FromContext(r.Context()).Mode())
	})
	return mux
}

func isSealed(v string) bool   { return strings.HasPrefix(v, "c1.") }
func isDatabase(v string) bool { return len(v) == 66 && v[22] == '.' }

func TestCookieModeCostsNoDatabaseWork(t *testing.T) {
	e := newEnv(t, envConfig{opts: cookieOpts(), handler: cookieRoutes})
	for i, step := range []struct{ path, want string }{
		{"/mode", "ok none"},
		{"/incr", "ok 1"},
		{"/mode", "ok cookie"},
		{"/incr", "ok 2"},
		{"/put?k=name&v=ada", "ok "},
		{"/get?k=name", "ok ada"},
		{"/untouched", "ok"},
		{"/incr", "ok 3"},
		{"/mode", "ok cookie"},
	} {
		n, body := e.countBody(e.client, step.path)
		if n != 0 || body != step.want {
			names := []string{}
			e.names.Range(func(k, _ any) bool { names = append(names, k.(string)); return true })
			t.Fatalf("step %d %s: %d database commands %v, body %q (want 0, %q)", i, step.path, n, names, body, step.want)
		}
	}
	if c := e.cookie(); !isSealed(c) {
		t.Fatalf("cookie %q is not a sealed cookie", c)
	}
	if strings.Contains(e.cookie(), "ada") {
		t.Fatal("the sealed cookie shows its content")
	}
	if n := e.docCount(bson.D{}); n != 0 {
		t.Fatalf("%d documents after cookie-mode requests", n)
	}

	// Promote: one insert, a database cookie, the data carried over.
	if n, _ := e.countBody(e.client, "/promote"); n != 1 {
		t.Fatalf("Promote: %d database commands, want 1 (the insert)", n)
	}
	if c := e.cookie(); !isDatabase(c) {
		t.Fatalf("cookie after Promote %q is not <id>.<token>", c)
	}
	if n := e.docCount(bson.D{{Key: "data.visits", Value: 3}, {Key: "data.name", Value: "ada"}}); n != 1 {
		t.Fatalf("promoted document with the data: %d", n)
	}
	if got := e.get("/incr"); got != "ok 4" {
		t.Fatalf("Incr after Promote: %q", got)
	}
	if got := e.get("/mode"); got != "ok database" {
		t.Fatalf("mode after Promote: %q", got)
	}
	if n, body := e.countBody(e.client, "/promote"); n != 0 || body != "ok" {
		t.Fatalf("Promote of a database session: %d commands, %q", n, body)
	}
}

func TestCookieModeRenewPromotes(t *testing.T) {
	e := newEnv(t, envConfig{opts: cookieOpts(), handler: cookieRoutes})
	e.get("/incr")
	if n, _ := e.countBody(e.client, "/renew"); n != 1 {
		t.Fatalf("Renew of a cookie-mode session: %d database commands, want 1 (the insert)", n)
	}
	if c := e.cookie(); !isDatabase(c) {
		t.Fatalf("cookie after Renew: %q", c)
	}
	if got := e.get("/incr"); got != "ok 2" {
		t.Fatalf("Incr after Renew: %q", got)
	}
	if n := e.docCount(bson.D{}); n != 1 {
		t.Fatalf("%d documents", n)
	}
}

func TestCookieModeOnlyWhenStartInCookie(t *testing.T) {
	// Keys without StartInCookie: sessions start in the database; sealed cookies still open.
	e := newEnv(t, envConfig{opts: mongosession.Options{CookieKeys: [][]byte{testKey1}}, handler: cookieRoutes})
	if n, body := e.countBody(e.client, "/incr"); n != 1 || body != "ok 1" || !isDatabase(e.cookie()) {
		t.Fatalf("new session without StartInCookie: %d commands, %q, cookie %q", n, body, e.cookie())
	}
	sealed := mongosession.SealForTest(e.mgr, map[string]any{"visits": 7}, time.Now(), time.Now())
	e.cmds.Store(0)
	code, body, _ := e.do(&http.Client{}, "/incr", "Cookie", "session="+sealed)
	if code != 200 || body != "ok 8" || e.cmds.Load() != 0 {
		t.Fatalf("sealed cookie on a manager that does not start in the cookie: %d %q, %d commands", code, body, e.cmds.Load())
	}
}

func TestCookieModeOutgrowsCookie(t *testing.T) {
	e := newEnv(t, envConfig{opts: cookieOpts(), handler: cookieRoutes})
	small, big := strings.Repeat("s", 1000), strings.Repeat("b", 2000)
	if n, _ := e.countBody(e.client, "/put?k=small&v="+small); n != 0 || !isSealed(e.cookie()) {
		t.Fatalf("1000 bytes: %d commands, cookie %q", n, e.cookie())
	}
	if n, _ := e.countBody(e.client, "/put?k=big&v="+big); n != 1 || !isDatabase(e.cookie()) {
		t.Fatalf("3000 bytes: %d commands (want 1 insert), cookie %q", n, e.cookie())
	}
	if got := e.get("/get?k=small"); got != "ok "+small {
		t.Fatal("the small value did not move with the session")
	}
	if got := e.get("/get?k=big"); got != "ok "+big {
		t.Fatal("the big value did not move with the session")
	}
}

// cookieSizeAt reports whether a new cookie-mode session holding one string of n bytes under key "v" stayed
// in the cookie, and its Set-Cookie header.
func cookieSizeAt(t *testing.T, m *mongosession.Manager, n int) (sealed bool, header string) {
	rec := httptestRecord(m, func(s *mongosession.Session) {
		if err := s.Put("v", strings.Repeat("x", n)); err != nil {
			t.Fatal(err)
		}
	}, "")
	h := rec.Header().Get("Set-Cookie")
	_, v, _ := strings.Cut(strings.SplitN(h, ";", 2)[0], "=")
	return isSealed(v), h
}

// TestCookieModeSizeLimit measures the data size at which a session moves to the database with default
// options (MaxCookieBytes 4096), and checks that no Set-Cookie header longer than the limit is sent.
func TestCookieModeSizeLimit(t *testing.T) {
	m, err := mongosession.New(memstore.New(), cookieOpts())
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := 1, 4096 // sealed at lo, not at hi
	if s, _ := cookieSizeAt(t, m, lo); !s {
		t.Fatal("1 byte did not stay in the cookie")
	}
	if s, _ := cookieSizeAt(t, m, hi); s {
		t.Fatal("4096 bytes stayed in the cookie")
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if s, _ := cookieSizeAt(t, m, mid); s {
			lo = mid
		} else {
			hi = mid
		}
	}
	_, h := cookieSizeAt(t, m, lo)
	if len(h) > mongosession.DefaultMaxCookieBytes {
		t.Fatalf("Set-Cookie of %d bytes", len(h))
	}
	_, b, _ := bson.MarshalValue(strings.Repeat("x", lo))
	t.Logf("largest string value kept in the cookie: %d bytes (BSON value %d bytes, Set-Cookie %d bytes); %d bytes move to the database",
		lo, len(b), len(h), hi)
	if lo < 2500 || lo > 3100 {
		t.Fatalf("threshold %d is outside the expected 2500..3100", lo)
	}
}

// TestCookieModeHostileInput: whatever the cookie, a fresh session, status 200, no database work.
func TestCookieModeHostileInput(t *testing.T) {
	e := newEnv(t, envConfig{opts: cookieOpts(), handler: cookieRoutes})
	now := time.Now()
	valid := mongosession.SealForTest(e.mgr, map[string]any{"visits": 41}, now, now)
	flip := func(i int) string {
		b := []byte(valid)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	other := func(o mongosession.Options) *mongosession.Manager {
		m, err := mongosession.New(memstore.New(), o)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	wrongKey := mongosession.SealForTest(other(mongosession.Options{CookieKeys: [][]byte{testKey2}}),
		map[string]any{"visits": 41}, now, now)
	otherName := mongosession.SealForTest(other(mongosession.Options{CookieKeys: [][]byte{testKey1}, CookieName: "other"}),
		map[string]any{"visits": 41}, now, now)
	badPayload, _ := bson.Marshal(bson.D{{Key: "c", Value: bson.NewDateTimeFromTime(now)},
		{Key: "i", Value: bson.NewDateTimeFromTime(now)}, {Key: "d", Value: bson.D{{Key: "$where", Value: 41}}}})

	cases := []struct {
		name, cookie, want string
	}{
		{"valid (control)", "session=" + valid, "ok 42"},
		{"no cookie", "", "ok 1"},
		{"empty", "session=", "ok 1"},
		{"prefix only", "session=c1.", "ok 1"},
		{"flipped byte in the nonce", "session=" + flip(5), "ok 1"},
		{"flipped byte in the ciphertext", "session=" + flip(len(valid)/2), "ok 1"},
		{"flipped byte in the tag", "session=" + flip(len(valid)-3), "ok 1"},
		{"flipped prefix", "session=c2." + valid[3:], "ok 1"},
		{"truncated by one", "session=" + valid[:len(valid)-1], "ok 1"},
		{"truncated to half", "session=" + valid[:len(valid)/2], "ok 1"},
		{"extended", "session=" + valid + "AAAA", "ok 1"},
		{"wrong key", "session=" + wrongKey, "ok 1"},
		{"idle expired", "session=" + mongosession.SealForTest(e.mgr, map[string]any{"visits": 41}, now.Add(-3*time.Hour), now.Add(-3*time.Hour)), "ok 1"},
		{"lifetime expired", "session=" + mongosession.SealForTest(e.mgr, map[string]any{"visits": 41}, now.Add(-25*time.Hour), now.Add(-time.Minute)), "ok 1"},
		{"copied from another cookie name", "session=" + otherName, "ok 1"},
		{"oversized", "session=c1." + strings.Repeat("A", 6000), "ok 1"},
		{"non-base64", "session=c1.!!**$$~~", "ok 1"},
		{"standard base64 alphabet", "session=c1." + strings.NewReplacer("-", "+", "_", "/").Replace(valid[3:]) + "+/", "ok 1"},
		{"padded", "session=" + valid + "==", "ok 1"},
		{"quoted", `session="` + valid[:20] + `"`, "ok 1"},
		{"authentic but not BSON", "session=" + mongosession.SealRawForTest(e.mgr, []byte("not bson")), "ok 1"},
		{"authentic but an invalid key", "session=" + mongosession.SealRawForTest(e.mgr, badPayload), "ok 1"},
		{"authentic but empty", "session=" + mongosession.SealRawForTest(e.mgr, nil), "ok 1"},
		{"database format garbage", "session=AAAA.BBBB", "ok 1"},
		{"two cookies: garbage then valid", "session=c1.xyz; session=" + valid, "ok 42"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			if c.cookie != "" {
				hdr = []string{"Cookie", c.cookie}
			}
			e := e.in(t)
			e.cmds.Store(0)
			code, body, setCookie := e.do(&http.Client{}, "/incr", hdr...)
			if code != http.StatusOK || body != c.want {
				t.Fatalf("status %d, body %q; want 200, %q", code, body, c.want)
			}
			if n := e.cmds.Load(); n != 0 {
				t.Fatalf("%d database commands", n)
			}
			if !strings.HasPrefix(setCookie, "session=c1.") {
				t.Fatalf("Set-Cookie %q: want a new sealed cookie", setCookie)
			}
		})
	}
	if n := e.docCount(bson.D{}); n != 0 {
		t.Fatalf("%d documents", n)
	}
}

// cookieOf returns the session cookie a recorded response set (any name ending in "session").
func cookieOf(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	return sessionCookie(rec.Result().Cookies(), func(name string) bool { return strings.HasSuffix(name, "session") })
}

func TestCookieKeyRotation(t *testing.T) {
	mk := func(keys ...[]byte) *mongosession.Manager {
		m, err := mongosession.New(memstore.New(), mongosession.Options{CookieKeys: keys, StartInCookie: true})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	oldM, rotM, newM := mk(testKey1), mk(testKey2, testKey1), mk(testKey2)
	old := cookieOf(t, httptestRecord(oldM, func(s *mongosession.Session) { _ = s.Put("k", "v") }, ""))
	if !strings.HasPrefix(old, "c1.") {
		t.Fatalf("old cookie %q", old)
	}
	get := func(m *mongosession.Manager, cookie string) (string, string) {
		var got string
		rec := httptestRecord(m, func(s *mongosession.Session) { got, _ = s.GetString("k") }, "session="+cookie)
		return got, cookieOf(t, rec)
	}
	if got, _ := get(newM, old); got != "" {
		t.Fatal("a manager without the old key opened the old cookie")
	}
	// A read-only request with the old cookie on the rotated manager: opens it, and reseals it.
	got, resealed := get(rotM, old)
	if got != "v" || resealed == "" || resealed == old {
		t.Fatalf("rotated manager: got %q, resealed %q", got, resealed)
	}
	if got, _ := get(newM, resealed); got != "v" {
		t.Fatal("the resealed cookie does not open with the new key alone")
	}
	// Opened with the current key and fresh: no new cookie.
	if got, again := get(rotM, resealed); got != "v" || again != "" {
		t.Fatalf("current-key cookie: got %q, Set-Cookie %q", got, again)
	}
}

func TestCookieModeIdleExtension(t *testing.T) {
	m, err := mongosession.New(memstore.New(), cookieOpts()) // IdleTimeout 2h: reseal after 12 min
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, c := range []struct {
		age    time.Duration
		reseal bool
	}{{time.Minute, false}, {20 * time.Minute, true}, {110 * time.Minute, true}} {
		v := mongosession.SealForTest(m, map[string]any{"n": 1}, now.Add(-c.age), now.Add(-c.age))
		var age time.Duration
		rec := httptestRecord(m, func(s *mongosession.Session) { age, _ = s.TokenAge() }, "session="+v)
		if age < c.age || age > c.age+time.Minute {
			t.Errorf("TokenAge %v for a cookie sealed %v ago", age, c.age)
		}
		if got := cookieOf(t, rec) != ""; got != c.reseal {
			t.Errorf("cookie sealed %v ago: resealed %v, want %v", c.age, got, c.reseal)
		}
	}
}

func TestCookieModeDestroy(t *testing.T) {
	e := newEnv(t, envConfig{opts: cookieOpts(), handler: cookieRoutes})
	e.get("/incr")
	e.cmds.Store(0)
	_, body, sc := e.do(e.client, "/destroy")
	if body != "ok " || e.cmds.Load() != 0 || !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("Destroy: %q, %d commands, Set-Cookie %q", body, e.cmds.Load(), sc)
	}
	if e.cookie() != "" {
		t.Fatalf("cookie after Destroy: %q", e.cookie())
	}
	if got := e.get("/incr"); got != "ok 1" {
		t.Fatalf("after Destroy: %q", got)
	}
}

// TestCookieModeSameAPI runs the same handler sequence in both modes and compares what the handler saw.
func TestCookieModeSameAPI(t *testing.T) {
	steps := []func(s *mongosession.Session) string{
		func(s *mongosession.Session) string {
			n, err := s.Incr("n", 2)
			return fmt.Sprint(n, err, s.Put("str", "x"), s.Put("f", 1.5), s.Put("b", true), s.Put("t", time.UnixMilli(1e12)),
				s.Put("bytes", []byte{1, 2}), s.Put("doc", bson.D{{Key: "a", Value: int32(1)}}))
		},
		func(s *mongosession.Session) string {
			n, err1 := s.Incr("n", 3)
			str, err2 := s.GetString("str")
			f, err3 := s.GetFloat64("f")
			b, err4 := s.GetBool("b")
			tm, err5 := s.GetTime("t")
			by, err6 := s.GetBytes("bytes")
			var doc bson.D
			err7 := s.Decode("doc", &doc)
			keys, err8 := s.Keys()
			_, err9 := s.GetInt64("str")
			return fmt.Sprint(n, str, f, b, tm.UnixMilli(), by, doc, keys, err1, err2, err3, err4, err5, err6, err7, err8,
				err9 != nil, s.Delete("str"))
		},
		func(s *mongosession.Session) string {
			ex, err := s.Exists("str")
			keys, err2 := s.Keys()
			return fmt.Sprint(ex, err, keys, err2, s.Clear())
		},
		func(s *mongosession.Session) string {
			keys, err := s.Keys()
			v, err2 := s.Get("n")
			return fmt.Sprint(keys, err, v, err2)
		},
	}
	run := func(opts mongosession.Options, want mongosession.Mode) []string {
		m, err := mongosession.New(memstore.New(), opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		cookie := ""
		for i, step := range steps {
			var mode mongosession.Mode
			rec := httptestRecord(m, func(s *mongosession.Session) { out = append(out, step(s)) }, cookie)
			if c := cookieOf(t, rec); c != "" {
				cookie = "session=" + c
			}
			httptestRecord(m, func(s *mongosession.Session) { mode = s.Mode() }, cookie)
			if mode != want {
				t.Fatalf("step %d: mode %v, want %v", i, mode, want)
			}
		}
		return out
	}
	db := run(mongosession.Options{}, mongosession.ModeDatabase)
	ck := run(cookieOpts(), mongosession.ModeCookie)
	for i := range db {
		if db[i] != ck[i] {
			t.Errorf("step %d:\ndatabase: %s\ncookie:   %s", i, db[i], ck[i])
		}
	}
	t.Logf("%q", ck)
}

func TestCookieModeChangeAfterHeadersIsDropped(t *testing.T) {
	m, err := mongosession.New(memstore.New(), cookieOpts())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptestRecord(m, func(s *mongosession.Session) { _ = s.Put("a", 1) }, "")
	cookie := "session=" + cookieOf(t, rec)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Cookie", cookie)
	m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		fmt.Fprint(w, "hello")
		if err := s.Put("b", 2); !errors.Is(err, mongosession.ErrHeadersSent) {
			t.Errorf("Put after the headers in a cookie-mode session: %v, want ErrHeadersSent", err)
		}
		if err := s.Promote(); err != mongosession.ErrHeadersSent {
			t.Errorf("Promote after the headers: %v", err)
		}
	})).ServeHTTP(httptest.NewRecorder(), req)
	httptestRecord(m, func(s *mongosession.Session) {
		if ok, _ := s.Exists("b"); ok {
			t.Error("a change after the headers was stored in a cookie-mode session")
		}
		if ok, _ := s.Exists("a"); !ok {
			t.Error("the session lost its data")
		}
	}, cookie)
}

func TestCookieModeOptions(t *testing.T) {
	for name, o := range map[string]mongosession.Options{
		"short key":                  {CookieKeys: [][]byte{make([]byte, 31)}},
		"short second key":           {CookieKeys: [][]byte{testKey1, []byte("short")}},
		"StartInCookie without keys": {StartInCookie: true},
		"negative MaxCookieBytes":    {CookieKeys: [][]byte{testKey1}, MaxCookieBytes: -1},
	} {
		if _, err := mongosession.New(memstore.New(), o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	m, err := mongosession.New(memstore.New(), mongosession.Options{CookieKeys: [][]byte{bytes.Repeat([]byte{7}, 64)}})
	if err != nil {
		t.Fatal("a 64-byte key:", err)
	}
	if o := m.Options(); o.MaxCookieBytes != 4096 || o.StartInCookie {
		t.Fatalf("defaults: MaxCookieBytes %d, StartInCookie %v", o.MaxCookieBytes, o.StartInCookie)
	}
	// Every byte of a long key counts: keys equal in their first 32 bytes are different keys.
	k2 := bytes.Repeat([]byte{7}, 64)
	k2[63] = 8
	m2, _ := mongosession.New(memstore.New(), mongosession.Options{CookieKeys: [][]byte{k2}})
	v := mongosession.SealForTest(m, map[string]any{"a": 1}, time.Now(), time.Now())
	httptestRecord(m2, func(s *mongosession.Session) {
		if s.Mode() != mongosession.ModeNone {
			t.Error("a key differing only after byte 32 opened the cookie")
		}
	}, "session="+v)
	httptestRecord(m, func(s *mongosession.Session) {
		if s.Mode() != mongosession.ModeCookie {
			t.Error("the sealing key did not open its own cookie")
		}
	}, "session="+v)
}

func TestCookieModePromoteDatabaseDown(t *testing.T) {
	t.Parallel() // it waits on timeouts: let the others run meanwhile
	p, uri := newProxiedURI(t)
	opts := cookieOpts()
	opts.Timeout = time.Second
	opts.Logger = slog.New(slog.DiscardHandler)
	e := newEnv(t, envConfig{opts: opts, handler: cookieRoutes, uri: uri, timeout: time.Second})
	e.get("/incr")
	p.stop()
	// Cookie mode keeps working without the database.
	if got := e.get("/incr"); got != "ok 2" {
		t.Fatalf("cookie mode with the database down: %q", got)
	}
	before := e.cookie()
	code, _, sc := e.do(e.client, "/promote")
	if code != http.StatusServiceUnavailable || sc != "" {
		t.Fatalf("Promote with the database down: %d, Set-Cookie %q", code, sc)
	}
	if e.cookie() != before {
		t.Fatal("the cookie changed although the move failed")
	}
}
