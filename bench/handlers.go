// Package bench holds the contenders of mongosession's benchmarks: the same five routes served by
// mongosession, by alexedwards/scs v2, and (in raw.go) by hand-written handlers doing the same database work
// with the raw driver. The micro benchmarks (bench_test.go) and the HTTP load program (cmd/load) both use
// them, so they measure exactly the same handlers.
//
// It is a separate Go module so that scs and FerretDB never enter the library's module graph.
package bench

import (
	"net/http"
	"strconv"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/mongosession/mongosession"
)

// changing returns a value that differs on every call, for the write route: a write of an unchanged value
// can be skipped by the server (FerretDB does), which would make a write-only request look cheaper than it is.
func changing() int64 { return time.Now().UnixNano() }

// Routes, in the order the reports list them.
//
//	untouched  the handler never asks for its session
//	read       one value is read
//	incr       one value is read and incremented (read + write)
//	write      one value is set without reading (write-only); the value changes on every request
//	new        a request without a cookie stores a value: a new session
const (
	RouteUntouched = "untouched"
	RouteRead      = "read"
	RouteIncr      = "incr"
	RouteWrite     = "write"
	RouteNew       = "new"
)

// Routes lists every route.
var Routes = []string{RouteUntouched, RouteRead, RouteIncr, RouteWrite, RouteNew}

// Session keys every contender uses. "user" is created by the seed request; "n" is incremented by incr;
// "w" is set by write.
const (
	keyUser = "user"
	keyN    = "n"
	keyW    = "w"
)

// SeedPath creates a session ("user" set, like the new route) for a client that the other routes then use.
const SeedPath = "/seed"

var okBody = []byte("ok\n")

// Bare is the untouched route without any session middleware, behind the same kind of ServeMux as the
// other contenders: the ceiling for untouched.
func Bare() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/"+RouteUntouched, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(okBody) })
	return mux
}

// Mongosession serves the routes with m's middleware. Errors become 500s, so that a bug shows as non-2xx.
func Mongosession(m *mongosession.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/"+RouteUntouched, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(okBody) })
	mux.HandleFunc("/"+RouteRead, func(w http.ResponseWriter, r *http.Request) {
		v, err := mongosession.FromContext(r.Context()).GetString(keyUser)
		if err != nil || v == "" {
			http.Error(w, "read: no user", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(okBody)
	})
	mux.HandleFunc("/"+RouteIncr, func(w http.ResponseWriter, r *http.Request) {
		n, err := mongosession.FromContext(r.Context()).Incr(keyN, 1)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(strconv.AppendInt(nil, n, 10))
	})
	mux.HandleFunc("/"+RouteWrite, func(w http.ResponseWriter, r *http.Request) {
		if err := mongosession.FromContext(r.Context()).Put(keyW, changing()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(okBody)
	})
	putUser := func(w http.ResponseWriter, r *http.Request) {
		if err := mongosession.FromContext(r.Context()).Put(keyUser, "alice"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(okBody)
	}
	mux.HandleFunc("/"+RouteNew, putUser)
	mux.HandleFunc(SeedPath, putUser)
	return m.Middleware(mux)
}

// SCS serves the routes with scs's LoadAndSave middleware.
func SCS(sm *scs.SessionManager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/"+RouteUntouched, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(okBody) })
	mux.HandleFunc("/"+RouteRead, func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), keyUser) == "" {
			http.Error(w, "read: no user", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(okBody)
	})
	mux.HandleFunc("/"+RouteIncr, func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt64(r.Context(), keyN) + 1
		sm.Put(r.Context(), keyN, n)
		_, _ = w.Write(strconv.AppendInt(nil, n, 10))
	})
	mux.HandleFunc("/"+RouteWrite, func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), keyW, changing())
		_, _ = w.Write(okBody)
	})
	putUser := func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), keyUser, "alice")
		_, _ = w.Write(okBody)
	}
	mux.HandleFunc("/"+RouteNew, putUser)
	mux.HandleFunc(SeedPath, putUser)
	return sm.LoadAndSave(mux)
}
