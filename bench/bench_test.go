package bench

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	scsmem "github.com/alexedwards/scs/v2/memstore"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/memstore"
)

// discardWriter is a ResponseWriter that keeps nothing but its header map, reset between requests, so that
// the benchmarks measure the middleware rather than a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// newMongosession returns the mongosession contender over the in-memory store. TokenTTL is huge so that the
// benchmark loop's fixed cookie is never rotated away; rotation is measured by BenchmarkRotation.
func newMongosession(tb testing.TB, ttl time.Duration) http.Handler {
	m, err := mongosession.New(memstore.New(), mongosession.Options{TokenTTL: ttl, InsecureCookie: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return Mongosession(m)
}

func newSCS() http.Handler {
	sm := scs.New()
	sm.Store = scsmem.NewWithCleanupInterval(0)
	return SCS(sm)
}

// seed creates a session through h and returns its cookie.
func seed(tb testing.TB, h http.Handler) *http.Cookie {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, SeedPath, nil))
	cs := rec.Result().Cookies()
	if rec.Code != http.StatusOK || len(cs) != 1 {
		tb.Fatalf("seed: status %d, cookies %v", rec.Code, cs)
	}
	return cs[0]
}

// request returns the request for route: with the seeded cookie, except for new.
func request(tb testing.TB, h http.Handler, route string, withCookie bool) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/"+route, nil)
	if withCookie && route != RouteNew {
		r.AddCookie(seed(tb, h))
	}
	return r
}

// BenchmarkMiddleware measures one request through each contender's middleware and handler, in memory
// (no network, no database): mongosession over memstore, scs v2 over its memstore, and the bare handler.
func BenchmarkMiddleware(b *testing.B) {
	contenders := []struct {
		name string
		h    func(testing.TB) http.Handler
	}{
		{"bare", func(testing.TB) http.Handler { return Bare() }},
		{"mongosession", func(tb testing.TB) http.Handler { return newMongosession(tb, 100*365*24*time.Hour) }},
		{"scs", func(testing.TB) http.Handler { return newSCS() }},
	}
	for _, route := range Routes {
		for _, c := range contenders {
			if c.name == "bare" && route != RouteUntouched {
				continue
			}
			b.Run(route+"/"+c.name, func(b *testing.B) {
				h := c.h(b)
				r := request(b, h, route, c.name != "bare")
				w := &discardWriter{h: http.Header{}}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					clear(w.h)
					w.code = 0
					h.ServeHTTP(w, r)
					if w.code > 299 {
						b.Fatalf("status %d", w.code)
					}
				}
			})
		}
	}
}

// BenchmarkRotation measures mongosession's read path when every request rotates the token (TokenTTL 1 ns):
// the worst case of the rotating cookie, one read plus one write per request. The client follows the
// rotated cookie as a browser would.
func BenchmarkRotation(b *testing.B) {
	h := newMongosession(b, time.Nanosecond)
	cookie := seed(b, h)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/"+RouteRead, nil)
		r.AddCookie(cookie)
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code > 299 {
			b.Fatalf("status %d", w.code)
		}
		if c, err := http.ParseSetCookie(w.h.Get("Set-Cookie")); err == nil {
			cookie = c
		}
	}
}

// TestContenders checks that every contender serves every route with 2xx in memory (so a broken handler
// cannot produce a fast benchmark).
func TestContenders(t *testing.T) {
	for _, name := range []string{"mongosession", "scs"} {
		for _, route := range Routes {
			var h http.Handler
			if name == "scs" {
				h = newSCS()
			} else {
				h = newMongosession(t, 0)
			}
			r := request(t, h, route, true)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != http.StatusOK {
				t.Errorf("%s %s: status %d: %s", name, route, rec.Code, body)
			}
		}
	}
}
