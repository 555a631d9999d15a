package mongosession

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Manager creates sessions for requests and commits them. It is safe for concurrent use.
type Manager struct {
	store Store
	opts  Options

	sealer               *sealer // cookie mode; nil without Options.CookieKeys
	sealAD               []byte  // what every sealed cookie is bound to
	warnStartedElsewhere sync.Once
}

// New returns a Manager that keeps sessions in store (a *MongoStore). Zero fields of opts take their
// documented defaults; impossible combinations are an error.
func New(store Store, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("mongosession: store is nil")
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	m := &Manager{store: store, opts: opts, sealer: newSealer(opts.CookieKeys),
		sealAD: sealAD(opts.CookieName, opts.CookiePath, opts.CookieDomain, opts.CookiePurpose)}
	if m.opts.ErrorFunc == nil {
		m.opts.ErrorFunc = m.defaultError
	}
	if m.opts.OnSecurityEvent == nil {
		m.opts.OnSecurityEvent = m.logSecurityEvent
	}
	return m, nil
}

// Options returns the options in force, defaults applied.
func (m *Manager) Options() Options { return m.opts }

func (m *Manager) now() time.Time { return m.opts.Clock() }

// defaultError answers 409 Conflict for a request whose cookie is outdated (ErrSuperseded: the client may
// retry with its current cookie) and 503 Service Unavailable with one error line for anything else (the
// database failed or did not answer in time).
func (m *Manager) defaultError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrSuperseded) {
		m.opts.Logger.Info("mongosession: changes of an outdated cookie refused", "err", err, "method", r.Method, "path", r.URL.Path)
		http.Error(w, http.StatusText(http.StatusConflict), http.StatusConflict)
		return
	}
	m.opts.Logger.Error("mongosession: session unavailable", "err", err, "method", r.Method, "path", r.URL.Path)
	http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
}

type ctxKey struct{}

// FromContext returns the request's session. Under Manager.Middleware it is never nil; elsewhere it is nil.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// storeError is a database error with every session id in its text replaced by SessionHash: log lines never
// carry an id, whatever the driver's or the server's message holds.
type storeError struct {
	msg string
	err error
}

func (e *storeError) Error() string { return e.msg }
func (e *storeError) Unwrap() error { return e.err }

func (m *Manager) storeErr(op, id string, err error) error {
	h := SessionHash(id)
	return &storeError{msg: "mongosession: " + op + " (session " + h + "): " + strings.ReplaceAll(err.Error(), id, h), err: err}
}
