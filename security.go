package mongosession

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// EventKind names a security event.
type EventKind string

// Security event kinds.
const (
	// EventTokenReuse: a request presented a retired token of a live session (no longer among the
	// TokensKept newest). It was treated as having no session.
	EventTokenReuse EventKind = "token_reuse"
	// EventSessionRevoked: RevokeOnReuse deleted the session after an EventTokenReuse.
	EventSessionRevoked EventKind = "session_revoked"
)

// SecurityEvent is what Options.OnSecurityEvent receives. It never holds a token or a session id.
type SecurityEvent struct {
	Kind EventKind
	// Session is a hash of the session id: enough to correlate events, useless to get in.
	Session    string
	RemoteAddr string
	UserAgent  string
	Time       time.Time
}

// SessionHash returns the form in which SecurityEvent.Session names a session id, so that an operator can
// match an event with a session listed by Manager.Sessions.
func SessionHash(id string) string {
	h := sha256.Sum256([]byte("mongosession id:" + id))
	return hex.EncodeToString(h[:8])
}

func (m *Manager) logSecurityEvent(e SecurityEvent) {
	m.opts.Logger.Warn("mongosession: security event", "kind", string(e.Kind), "session", e.Session,
		"remote", e.RemoteAddr)
}

// reportReuse runs when a request presented a retired token of a live session: a copy of the cookie is
// being replayed after the real browser moved on. It reports the event and, with RevokeOnReuse, deletes the
// session. Called with s.mu held, s.id still the cookie's.
func (m *Manager) reportReuse(ctx context.Context, s *Session, now time.Time) {
	client := clientInfo(s.req)
	ev := SecurityEvent{Kind: EventTokenReuse, Session: SessionHash(s.id), RemoteAddr: client.RemoteAddr,
		UserAgent: client.UserAgent, Time: now}
	m.opts.OnSecurityEvent(ev)
	if !m.opts.RevokeOnReuse {
		return
	}
	if err := m.store.Delete(ctx, s.id); err != nil {
		m.opts.Logger.Error("mongosession: revoking a session after token reuse failed", "err", err,
			"session", ev.Session)
		return
	}
	ev.Kind = EventSessionRevoked
	m.opts.OnSecurityEvent(ev)
}
