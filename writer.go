package mongosession

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
)

// ErrResponseDiscarded is returned by Write after the session could not be loaded or committed: the
// response is ErrorFunc's, and the handler's own output is dropped.
var ErrResponseDiscarded = errors.New("mongosession: response replaced by the error handler")

// Middleware gives every request a Session (FromContext) and commits it once: at the first WriteHeader
// (other than 1xx), Write or Flush, or when next returns, whichever comes first. Nothing is buffered.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One allocation for the session and its writer: they live exactly as long as the request.
		pair := &struct {
			s Session
			w sessionWriter
		}{}
		s := m.newSession(&pair.s, r)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		s.ctx = r.Context()
		sw := &pair.w
		*sw = sessionWriter{ResponseWriter: w, m: m, s: s, r: r}
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
func (w *sessionWriter) before() bool {
	if w.committed {
		return !w.failed
	}
	w.committed = true
	c, err := w.m.commit(w.s, true)
	w.s.mu.Lock()
	w.s.sent = true
	w.s.mu.Unlock()
	if err != nil {
		w.failed = true
		w.m.opts.ErrorFunc(w.ResponseWriter, w.r, err)
		return false
	}
	if c != nil {
		h := w.Header()
		h.Add("Set-Cookie", c.String())
		h.Add("Vary", "Cookie")
		if cc := h.Get("Cache-Control"); cc == "" {
			h.Set("Cache-Control", `no-cache="Set-Cookie"`)
		} else if !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private") {
			h.Set("Cache-Control", cc+`, no-cache="Set-Cookie"`)
		}
	}
	return true
}

func (w *sessionWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if !w.committed {
			w.ResponseWriter.WriteHeader(code) // informational: the real headers are still to come
		}
		return
	}
	if w.before() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *sessionWriter) Write(b []byte) (int, error) {
	if !w.before() {
		return 0, ErrResponseDiscarded
	}
	return w.ResponseWriter.Write(b)
}

// Flush commits, then flushes.
func (w *sessionWriter) Flush() {
	if w.before() {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Hijack commits (the handler takes over the connection, so no cookie could follow), then hijacks.
func (w *sessionWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.before() {
		return nil, nil, ErrResponseDiscarded
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish commits when the handler returned without writing, and otherwise stores changes made after the
// headers went out (no cookie can be sent then).
func (w *sessionWriter) finish() {
	if !w.committed {
		w.before()
		return
	}
	if w.failed {
		return
	}
	if _, err := w.m.commit(w.s, false); err != nil {
		w.m.opts.Logger.Error("mongosession: commit after the response started failed", "err", err,
			"method", w.r.Method, "path", w.r.URL.Path)
	}
}
