package mongosession

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
)

// ErrResponseDiscarded is returned by Write after the session could not be loaded or committed: the
// response is ErrorFunc's, and the handler's own output is dropped.
var ErrResponseDiscarded = errors.New("mongosession: response replaced by the error handler")

// Middleware gives every request a Session (FromContext) and commits it at the first WriteHeader (other than
// 1xx), Write or Flush, or when next returns, whichever comes first; changes made after the headers went out
// are committed once more when next returns (without a cookie). Nothing is buffered. A hijacked connection
// (WebSocket) commits without a cookie, so it never rotates the token.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One allocation for the session and its writer: they live exactly as long as the request.
		pair := &struct {
			s Session
			w sessionWriter
		}{}
		s := &pair.s
		m.begin(s, r)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		s.ctx = r.Context()
		sw := &pair.w
		*sw = sessionWriter{ResponseWriter: w, m: m, s: s, r: r}
		defer s.close()
		next.ServeHTTP(sw, r)
		sw.finish()
	})
}

// sessionWriter commits the session just before the response headers leave.
type sessionWriter struct {
	http.ResponseWriter
	m         *Manager
	s         *Session
	r         *http.Request
	committed bool // the commit before the headers has run
	failed    bool // ErrorFunc wrote the response
}

// before commits on the first call and reports whether the handler may keep writing.
func (w *sessionWriter) before(canSetCookie bool) bool {
	if w.committed {
		return !w.failed
	}
	w.committed = true
	o, err := w.s.commit(canSetCookie)
	w.s.markSent()
	if err != nil {
		w.fail(err)
		return false
	}
	w.m.writeCookie(w.Header(), o, w.m.now())
	return true
}

// fail hands the response to ErrorFunc, on a clean header map: nothing the handler set (its own cookies, a
// redirect, a public cache policy) goes out with an error. A client that went away gets nothing.
func (w *sessionWriter) fail(err error) {
	w.failed = true
	if errors.Is(err, context.Canceled) && w.r.Context().Err() != nil {
		w.m.opts.Logger.Debug("mongosession: the client went away while its session loaded", "path", w.r.URL.Path)
		return
	}
	clear(w.Header())
	w.m.opts.ErrorFunc(w.ResponseWriter, w.r, err)
}

func (w *sessionWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if !w.committed {
			w.ResponseWriter.WriteHeader(code) // informational: the real headers are still to come
		}
		return
	}
	// A protocol switch (WebSocket) is answered on a connection the browser does not treat as a page load:
	// no cookie is relied on there, so the commit does not rotate.
	if w.before(code != http.StatusSwitchingProtocols) {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *sessionWriter) Write(b []byte) (int, error) {
	if !w.before(true) {
		return 0, ErrResponseDiscarded
	}
	return w.ResponseWriter.Write(b)
}

// Flush commits, then flushes.
func (w *sessionWriter) Flush() {
	if w.before(true) {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Hijack commits without a cookie (the handler takes over the connection and writes its own response, as
// WebSocket libraries do), then hijacks.
func (w *sessionWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.before(false) {
		return nil, nil, ErrResponseDiscarded
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish commits when the handler returned without writing, and otherwise stores changes made after the
// headers went out (no cookie can be sent then).
func (w *sessionWriter) finish() {
	canSetCookie := !w.committed
	if canSetCookie && startedElsewhere(w.ResponseWriter) {
		// The handler wrote to another writer (a router's own, as gin's handlers do): the headers left
		// without the session's cookie. Store what can be stored without one; never create orphans.
		w.m.warnStartedElsewhere.Do(func() {
			w.m.opts.Logger.Warn("mongosession: the response was written around the session middleware, so no session cookie could be set; use the adapter for your router (see the README)")
		})
		w.committed, canSetCookie = true, false
	}
	if !w.committed {
		w.before(true)
		return
	}
	if w.failed {
		return
	}
	if _, err := w.s.commit(canSetCookie); err != nil {
		level := w.m.opts.Logger.Error
		if errors.Is(err, ErrSuperseded) || errors.Is(err, ErrHeadersSent) {
			level = w.m.opts.Logger.Warn
		}
		level("mongosession: a change made after the response started was not stored", "err", err,
			"method", w.r.Method, "path", w.r.URL.Path)
	}
}

// startedElsewhere reports whether w says its response already started (gin's writer can tell).
func startedElsewhere(w http.ResponseWriter) bool {
	wr, ok := w.(interface{ Written() bool })
	return ok && wr.Written()
}

// markSent records that the headers went out: no more cookies.
func (s *Session) markSent() {
	s.mu.Lock()
	s.sent = true
	s.mu.Unlock()
}

// close ends the session's life with its request: later changes are ErrSessionClosed.
func (s *Session) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}
