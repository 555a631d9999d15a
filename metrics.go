package mongosession

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Metrics receives counts and timings of the sessions' work, for a metrics system (examples/prometheus wires
// it to Prometheus). Every field is optional: a nil func is not called. The funcs are called on the goroutine
// of the request (or of Session.Commit), some while the session is locked: they must be quick and safe for
// concurrent use, and must not call the Session.
type Metrics struct {
	// Event is called once for each event of a session's life (see MetricEvent).
	Event func(MetricEvent)
	// Error is called once for each failed load or commit, and for each request whose session cookie named no
	// live session, by kind (see ErrorKind).
	Error func(ErrorKind)
	// LoadDuration observes each database read of a session (MetricLoad).
	LoadDuration func(time.Duration)
	// CommitDuration observes each commit that had work to do (MetricCommit): the database writes of a
	// request, or the sealing of a cookie-mode session, failed or not.
	CommitDuration func(time.Duration)
}

// MetricEvent names an event of a session's life, for Metrics.Event.
type MetricEvent string

// The events of Metrics.Event.
const (
	// MetricLoad: a session was read from the database (the first read of a request that uses its session).
	MetricLoad MetricEvent = "load"
	// MetricCommit: a request's commit had work to do (a write, a rotation, a deadline extension, a new sealed
	// cookie). An untouched request, or one that only read a fresh token, commits nothing and is not counted.
	MetricCommit MetricEvent = "commit"
	// MetricCreate: a new session was stored (in the database, or sealed in a cookie).
	MetricCreate MetricEvent = "create"
	// MetricRotate: a session's token was rotated (a new cookie).
	MetricRotate MetricEvent = "rotate"
	// MetricRenew: a session was renewed under a new id (Session.Renew). A cookie-mode session's Renew counts
	// as a renewal and a move.
	MetricRenew MetricEvent = "renew"
	// MetricDestroy: a session was ended by Session.Destroy.
	MetricDestroy MetricEvent = "destroy"
	// MetricMove: a cookie-mode session moved to the database (Promote, Renew, SetUser, or it outgrew the
	// cookie).
	MetricMove MetricEvent = "move"
	// MetricReuse: a retired token was presented again (EventTokenReuse).
	MetricReuse MetricEvent = "reuse"
	// MetricRevoke: a session was revoked after a reuse (EventSessionRevoked).
	MetricRevoke MetricEvent = "revoke"
)

// ErrorKind classifies failures, for Metrics.Error.
type ErrorKind string

// The kinds of Metrics.Error.
const (
	// ErrorOutage: the database failed or did not answer in time (the default ErrorFunc answers 503).
	ErrorOutage ErrorKind = "outage"
	// ErrorSuperseded: changes of an outdated cookie were refused (ErrSuperseded; the default ErrorFunc
	// answers 409).
	ErrorSuperseded ErrorKind = "superseded"
	// ErrorInvalid: a request's session cookie named no live session: malformed, forged, unknown, expired, or
	// with a token its session never held. The request went on without a session (this is no error for the
	// client); a surge means scanning, or a configuration change that invalidated cookies (CookieKeys).
	ErrorInvalid ErrorKind = "invalid"
	// ErrorLate: a change came after the response started and needed a cookie that could no longer be sent
	// (ErrHeadersSent at commit: a new session, a cookie-mode session, or one from Manager.Load).
	ErrorLate ErrorKind = "late"
)

func (m *Manager) event(e MetricEvent) {
	if f := m.opts.Metrics.Event; f != nil {
		f(e)
	}
}

func (m *Manager) errorKind(k ErrorKind) {
	if f := m.opts.Metrics.Error; f != nil {
		f(k)
	}
}

// failed counts err by its kind. A client that went away is not a failure of the sessions.
func (m *Manager) failed(ctx context.Context, err error) {
	switch {
	case m.opts.Metrics.Error == nil:
	case errors.Is(err, ErrSuperseded):
		m.errorKind(ErrorSuperseded)
	case errors.Is(err, ErrHeadersSent) || errors.Is(err, ErrSessionClosed):
		m.errorKind(ErrorLate)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
	default:
		m.errorKind(ErrorOutage)
	}
}

// lifecycle counts e and logs it at Debug level, naming the session only by SessionHash (id "" for a
// cookie-mode session, which has none). attrs are more key-value pairs for the log line.
func (m *Manager) lifecycle(ctx context.Context, e MetricEvent, id string, attrs ...any) {
	m.event(e)
	if !m.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	msg := lifecycleMessages[e]
	if id != "" {
		attrs = append([]any{"session", SessionHash(id)}, attrs...)
	}
	m.opts.Logger.DebugContext(ctx, msg, attrs...)
}

var lifecycleMessages = map[MetricEvent]string{
	MetricCreate:  "mongosession: session created",
	MetricRotate:  "mongosession: token rotated",
	MetricRenew:   "mongosession: session renewed",
	MetricDestroy: "mongosession: session destroyed",
	MetricMove:    "mongosession: session moved to the database",
}

// observe calls f (a Metrics duration func, may be nil) with the time since start.
func observe(f func(time.Duration), start time.Time) {
	if f != nil {
		f(time.Since(start))
	}
}
