package mongosession_test

// Tests of logic that has nothing to do with the database use the in-memory store.

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/memstore"
)

func memStore() mongosession.Store { return memstore.New() }

// httptestRecord runs f inside the middleware for one request carrying cookie (may be empty).
func httptestRecord(m *mongosession.Manager, f func(*mongosession.Session), cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/", nil)
	// Tests write "session=<value>"; the manager's cookie may be called __Host-session (the default on https).
	if rest, ok := strings.CutPrefix(cookie, "session="); ok {
		cookie = m.Options().CookieName + "=" + rest
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f(mongosession.FromContext(r.Context()))
	})).ServeHTTP(rec, req)
	return rec
}

func TestNewRejectsImpossibleOptions(t *testing.T) {
	for name, o := range map[string]mongosession.Options{
		"negative TTL":            {TokenTTL: -time.Second},
		"negative idle":           {IdleTimeout: -1},
		"too many tokens":         {TokensKept: 1000},
		"negative tokens":         {TokensKept: -1},
		"bad cookie name":         {CookieName: "a b"},
		"relative path":           {CookiePath: "x"},
		"SameSite=None insecure":  {CookieSameSite: http.SameSiteNoneMode, InsecureCookie: true},
		"Partitioned insecure":    {CookiePartitioned: true, InsecureCookie: true},
		"negative timeout":        {Timeout: -time.Second},
		"domain with a semicolon": {CookieDomain: "a;b"},
	} {
		if _, err := mongosession.New(memStore(), o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
	if _, err := mongosession.New(nil, mongosession.Options{}); err == nil {
		t.Error("New accepted a nil store")
	}
}

func TestDefaults(t *testing.T) {
	m, err := mongosession.New(memStore(), mongosession.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := m.Options()
	if o.TokenTTL != 5*time.Second || o.TokensKept != 3 || o.IdleTimeout != 2*time.Hour ||
		o.Lifetime != 24*time.Hour || o.Timeout != 2*time.Second || o.CookieName != "__Host-session" ||
		o.CookiePath != "/" || o.CookieSameSite != http.SameSiteLaxMode || o.InsecureCookie || o.Logger == nil {
		t.Fatalf("defaults: %+v", o)
	}
}

func TestFromContextOutsideMiddleware(t *testing.T) {
	if s := mongosession.FromContext(httptest.NewRequest("GET", "/", nil).Context()); s != nil {
		t.Fatal("FromContext outside the middleware returned a session")
	}
}

func TestUntouchedRequestSendsNoCookie(t *testing.T) {
	m, _ := mongosession.New(memStore(), mongosession.Options{})
	rec := httptestRecord(m, func(*mongosession.Session) {}, "")
	if rec.Header().Get("Set-Cookie") != "" || rec.Header().Get("Vary") != "" {
		t.Fatalf("untouched request got headers %v", rec.Header())
	}
}

func TestInformationalHeadersDoNotCommit(t *testing.T) {
	store := memstore.New()
	m, _ := mongosession.New(store, mongosession.Options{})
	req := httptest.NewRequest("GET", "/", nil)
	rec := httptest.NewRecorder()
	m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		w.WriteHeader(http.StatusEarlyHints)
		_ = s.Put("a", 1) // still before the real headers: a cookie must follow
		w.WriteHeader(http.StatusCreated)
	})).ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated && rec.Code != http.StatusEarlyHints {
		t.Fatal(rec.Code)
	}
	if !strings.Contains(rec.Header().Get("Set-Cookie"), "session=") || store.Len() != 1 {
		t.Fatalf("a 103 committed early: Set-Cookie %q, %d sessions", rec.Header().Get("Set-Cookie"), store.Len())
	}
}

func TestMalformedCookieIsReplacedOnWrite(t *testing.T) {
	m, _ := mongosession.New(memStore(), mongosession.Options{})
	rec := httptestRecord(m, func(s *mongosession.Session) {
		if n, err := s.Incr("n", 1); n != 1 || err != nil {
			t.Errorf("Incr on a malformed cookie: %d, %v", n, err)
		}
	}, "session=%%%garbage")
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Set-Cookie"), "session=") {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}
}
