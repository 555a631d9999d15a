package servemux_test

import (
	"fmt"
	"net/http"

	"github.com/mongosession/mongosession"
)

// Wrap the whole ServeMux: every route has a session, and Go 1.22 patterns work as usual.
func Example() {
	var mgr *mongosession.Manager // from mongosession.New

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		_ = s.Put("last-item", r.PathValue("id"))
		fmt.Fprintln(w, "item", r.PathValue("id"))
	})
	handler := mgr.Middleware(mux)
	_ = &http.Server{Addr: ":8080", Handler: handler}
}
