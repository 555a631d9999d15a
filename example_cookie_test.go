package mongosession_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/memstore"
)

// The hybrid setup: anonymous visitors live in an encrypted cookie and cost the database nothing; login
// (Renew) moves the session to the store, data included. memstore stands in for MongoStore here.
func ExampleOptions_cookieMode() {
	key := make([]byte, 32) // in production: 32 random bytes kept secret, the same on every server
	_, _ = rand.Read(key)
	store := memstore.New()
	m, err := mongosession.New(store, mongosession.Options{
		CookieKeys:    [][]byte{key}, // to rotate: {newKey, oldKey}
		StartInCookie: true,
	})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		mode := s.Mode() // where the session came from
		n, err := s.Incr("visits", 1)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "visit %d, session in: %s", n, mode)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		_ = s.Put("user", "ada")
		_ = s.Renew() // a cookie-mode session moves to the database here (Promote would too)
		fmt.Fprintf(w, "logged in, session in: %s", s.Mode())
	})
	h := m.Middleware(mux)

	var cookie *http.Cookie // the browser's cookie jar, for one cookie
	do := func(method, path string) {
		req := httptest.NewRequest(method, path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		for _, c := range rec.Result().Cookies() {
			cookie = c
		}
		fmt.Printf("%s %s: %s (sessions in the store: %d)\n", method, path, rec.Body, store.Len())
	}
	do("GET", "/")
	do("GET", "/")
	do("POST", "/login")
	do("GET", "/")
	// Output:
	// GET /: visit 1, session in: none (sessions in the store: 0)
	// GET /: visit 2, session in: cookie (sessions in the store: 0)
	// POST /login: logged in, session in: cookie (sessions in the store: 1)
	// GET /: visit 3, session in: database (sessions in the store: 1)
}
