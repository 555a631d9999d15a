package gorillamux_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/gorilla/mux"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/routertest"
)

func count(w http.ResponseWriter, r *http.Request) {
	n, err := routertest.Count(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, n)
}

func TestGorillaMuxUse(t *testing.T) {
	routertest.Run(t, func(mgr *mongosession.Manager) http.Handler {
		r := mux.NewRouter()
		r.Use(mgr.Middleware)
		r.HandleFunc(routertest.CounterPath, count).Methods(http.MethodGet)
		return r
	})
}

// A subrouter carries its own middlewares: only its routes get a session.
func TestGorillaMuxSubrouter(t *testing.T) {
	routertest.Run(t, func(mgr *mongosession.Manager) http.Handler {
		r := mux.NewRouter()
		withSession := r.Methods(http.MethodGet).Subrouter()
		withSession.Use(mgr.Middleware)
		withSession.HandleFunc(routertest.CounterPath, count)
		return r
	})
}
