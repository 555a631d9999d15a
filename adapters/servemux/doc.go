// Package servemux holds the test proving that net/http's ServeMux, with Go 1.22 patterns, needs no adapter:
// Manager.Middleware is a func(http.Handler) http.Handler, so wrap the mux (every route gets a session) or
// single handlers (only they do). There is nothing to import from here.
package servemux
