package mongosession

// Sessions outside the middleware: a WebSocket connection after the upgrade, a server-sent event stream, a
// background job. There is no response to commit on, so the caller commits, and no cookie can follow: the
// token never rotates, and what only a new cookie could carry (creating a session, Renew, Destroy, Promote,
// RememberMe, a change to a cookie-mode session) is refused with ErrHeadersSent, as after the headers of a
// response went out.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Load returns the session of r's cookie, for code that has the request but no response to commit on: a
// WebSocket handler after the upgrade, a stream of server-sent events. It reads the session now (one database
// read for a database cookie, none for a cookie-mode one) and returns the read's error, if any. A cookie that
// names no live session gives a session with Mode ModeNone, on which writes fail.
//
// Change the session as in a handler, then call Commit; nothing is written before. The session sees the data
// as read: load again to see what other requests changed since. A token rotates every TokenTTL while the user
// browses, and a cookie whose token was rotated past TokensKept times reads no session: a connection that
// lives longer than a few rotations should keep the ID of the session it loaded at the start and use LoadID
// later on.
func (m *Manager) Load(ctx context.Context, r *http.Request) (*Session, error) {
	s := &Session{}
	m.begin(s, r)
	if orig := FromContext(r.Context()); orig != nil {
		// The request came through the middleware: a token retired since it arrived is not a replay.
		s.arrived = orig.arrived
	}
	return m.loadDetached(ctx, s)
}

// LoadCookie is Load for a session cookie's value (without the name), for code that received it some other
// way. Only the request's client is unknown: the session's recorded client info (RecordClientInfo) is left
// as it is.
func (m *Manager) LoadCookie(ctx context.Context, value string) (*Session, error) {
	r := &http.Request{Header: http.Header{}}
	if !strings.ContainsAny(value, "; ,") { // not a cookie value: no session
		r.Header.Set("Cookie", m.opts.CookieName+"="+value)
	}
	s := &Session{}
	m.begin(s, r)
	s.req = nil
	return m.loadDetached(ctx, s)
}

// LoadID is Load for a database session known by its id, without a token: for a background job, or a
// long-lived connection that took the id (Session.ID) from the request that opened it. The id is not
// checked against any token, so it must come from your server (an authenticated session's ID), never from a
// client. A session that no longer exists (expired, destroyed, renewed under a new id) gives a session with
// Mode ModeNone.
func (m *Manager) LoadID(ctx context.Context, id string) (*Session, error) {
	if id == "" {
		return nil, errors.New("mongosession: LoadID needs a session id")
	}
	s := &Session{m: m, ctx: ctx, arrived: m.now(), detached: true, sent: true}
	rctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	start := time.Now()
	rec, err := m.store.LoadByID(rctx, id, m.now())
	m.event(MetricLoad)
	observe(m.opts.Metrics.LoadDuration, start)
	if err != nil {
		m.failed(ctx, err)
		return nil, m.storeErr("load session", id, err)
	}
	d := &dbSession{cands: []dbCookie{{id: id}}, loaded: true}
	if rec == nil || !rec.Absolute.After(m.now()) {
		rec = nil
	} else {
		d.v, d.st = valid, standing{pos: posKept, newestAt: rec.Newest().At}
	}
	s.become(d, rec)
	return s, nil
}

// loadDetached marks s as a session without a response and reads it.
func (m *Manager) loadDetached(ctx context.Context, s *Session) (*Session, error) {
	s.ctx, s.detached, s.sent = ctx, true, true
	s.mu.Lock()
	err := s.loadLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Commit writes the changes made since the session was loaded (or last committed) in one database write,
// with the errors the middleware would pass to ErrorFunc: ErrSuperseded if the session was renewed or ended
// meanwhile, a database error, or ErrHeadersSent for a change that only a new cookie could carry (SetUser on
// a cookie-mode session). Only sessions from Load, LoadCookie and LoadID are committed this way: the
// middleware commits its own, and Commit on one of those is an error. A session may be committed again
// after more changes; the idle deadline is extended as by any request.
func (s *Session) Commit(ctx context.Context) error {
	s.mu.Lock()
	if !s.detached {
		s.mu.Unlock()
		return errors.New("mongosession: Commit is for sessions from Manager.Load, LoadCookie or LoadID; the middleware commits its own")
	}
	s.ctx = ctx
	s.mu.Unlock()
	_, err := s.commit(false)
	return err
}
