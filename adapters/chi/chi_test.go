package chisession_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"
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

func TestChiUse(t *testing.T) {
	routertest.Run(t, func(mgr *mongosession.Manager) http.Handler {
		r := chi.NewRouter()
		r.Use(mgr.Middleware)
		r.Get(routertest.CounterPath, count)
		return r
	})
}

// With: only the routes of the inline group get a session.
func TestChiWith(t *testing.T) {
	routertest.Run(t, func(mgr *mongosession.Manager) http.Handler {
		r := chi.NewRouter()
		r.With(mgr.Middleware).Get(routertest.CounterPath, count)
		return r
	})
}
