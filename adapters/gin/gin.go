// Package ginsession connects mongosession to gin (github.com/gin-gonic/gin).
//
// Use it instead of wrapping gin's handlers in Manager.Middleware by hand:
//
//	router := gin.New()
//	router.Use(ginsession.Middleware(mgr))
//	router.GET("/", func(c *gin.Context) {
//		s := mongosession.FromContext(c.Request.Context())
//		n, _ := s.Incr("visits", 1)
//		c.String(http.StatusOK, "%d", n)
//	})
//
// Why an adapter: gin handlers write to c.Writer, gin's own writer, not to the http.ResponseWriter a net/http
// middleware hands down. Manager.Middleware commits the session when the response headers are about to leave,
// so around c.Next() alone it would see nothing until the handler had returned, after gin had sent the
// headers: no cookie ever reaches the client and every request of a new visitor creates one more session.
// This adapter makes c.Writer commit the session first, then write through gin's writer as usual.
package ginsession

import (
	"bufio"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/mongosession/mongosession"
)

// Middleware gives every request a session (mongosession.FromContext(c.Request.Context())), committed once
// just before gin sends the response headers, or when the handlers return without writing.
//
// Handlers that return without writing get their status and headers sent by gin afterwards, cookie included.
// A panic stops the commit: a recovery middleware registered before this one answers without a session
// cookie and stores nothing of the panicking request, as with net/http.
func Middleware(mgr *mongosession.Manager) gin.HandlerFunc {
	return func(c *gin.Context) {
		ginWriter := c.Writer
		// Once the session is committed (or on a panic), the middlewares before this one write directly again.
		defer func() { c.Writer = ginWriter }()
		mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Request = r
			c.Writer = &writer{ResponseWriter: ginWriter, session: w}
			c.Next()
		})).ServeHTTP(ginWriter, c.Request)
	}
}

// writer is gin's writer with every call that sends the headers routed through the session's writer, which
// commits and then calls gin's writer. Header, WriteHeader (which gin only records), Status, Size and Written
// stay gin's.
type writer struct {
	gin.ResponseWriter                     // gin's writer
	session            http.ResponseWriter // Manager.Middleware's writer around gin's writer
}

func (w *writer) Write(b []byte) (int, error) { return w.session.Write(b) }

func (w *writer) WriteString(s string) (int, error) { return w.session.Write([]byte(s)) }

// WriteHeaderNow commits, then has gin's writer send its recorded status and the headers.
func (w *writer) WriteHeaderNow() { _, _ = w.session.Write(nil) }

func (w *writer) Flush() { _ = http.NewResponseController(w.session).Flush() }

func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.session).Hijack()
}

// Unwrap lets http.ResponseController reach the writers underneath.
func (w *writer) Unwrap() http.ResponseWriter { return w.session }
