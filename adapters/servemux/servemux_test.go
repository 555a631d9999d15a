package servemux_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/routertest"
)

func TestServeMuxTakesTheMiddleware(t *testing.T) {
	routertest.Run(t, func(mgr *mongosession.Manager) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET "+routertest.CounterPath, func(w http.ResponseWriter, r *http.Request) {
			n, err := routertest.Count(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, n)
		})
		return mgr.Middleware(mux)
	})
}

// Per route: only the wrapped handler gets a session; the mux's pattern values still reach it.
func TestServeMuxPerRoute(t *testing.T) {
	routertest.Run(t, func(mgr *mongosession.Manager) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("GET /{name}", mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if "/"+r.PathValue("name") != routertest.CounterPath {
				http.NotFound(w, r)
				return
			}
			n, err := routertest.Count(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, n)
		})))
		return mux
	})
}
