// Package chisession holds the test proving that chi (github.com/go-chi/chi/v5) needs no adapter: its
// middlewares are func(http.Handler) http.Handler, so Manager.Middleware goes straight into Router.Use, With
// or Group. There is nothing to import from here.
package chisession
