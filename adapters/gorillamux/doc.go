// Package gorillamux holds the test proving that gorilla/mux (github.com/gorilla/mux) needs no adapter: its
// mux.MiddlewareFunc is a func(http.Handler) http.Handler, so Manager.Middleware goes straight into
// Router.Use. Router.Use runs middlewares only for requests that match a route; to give a session to every
// request (a custom NotFoundHandler, say), wrap the router instead: mgr.Middleware(router).
// There is nothing to import from here.
package gorillamux
