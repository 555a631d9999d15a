package mongosession

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"time"

	"github.com/mongosession/mongosession/internal/store"
)

// EventKind names a security event.
type EventKind string

// Security event kinds.
const (
	// EventTokenReuse: a request presented a token its session had retired (rotated away, or renewed away at
	// login) before the request arrived: a copy of an old cookie is being replayed. The request reads no
	// session.
	EventTokenReuse EventKind = "token_reuse"
	// EventSessionRevoked: the session was deleted after an EventTokenReuse (the default; see
	// Options.KeepSessionOnReuse).
	EventSessionRevoked EventKind = "session_revoked"
)

// SecurityEvent is what Options.OnSecurityEvent receives. It never holds a token or a session id.
type SecurityEvent struct {
	Kind EventKind
	// Session is SessionHash of the session id: enough to correlate events with Manager.Sessions and the
	// mongosession command, useless to get in.
	Session string
	// User is the user the session is linked to ("" if none or unknown), so that an operator can revoke
	// it: mongosession revoke --user User --session Session.
	User       string
	RemoteAddr string // Options.ClientAddr of the request
	UserAgent  string // at most 256 bytes
	Time       time.Time
}

// SessionHash returns the form in which SecurityEvent.Session and log lines name a session id, so that an
// operator can match an event with a session listed by Manager.Sessions or the mongosession command.
func SessionHash(id string) string {
	h := sha256.Sum256([]byte("mongosession id:" + id))
	return hex.EncodeToString(h[:8])
}

func (m *Manager) logSecurityEvent(e SecurityEvent) {
	m.opts.Logger.Warn("mongosession: security event", "kind", string(e.Kind), "session", e.Session,
		"user", e.User, "remote", e.RemoteAddr, "user_agent", e.UserAgent)
}

// replayed runs when a request presents a token its session retired before the request was sent (judge's
// replay): a copy used after its holder moved on. It is reported and, unless KeepSessionOnReuse, the session
// is revoked. Detached loads never get here (I5).
func (m *Manager) replayed(ctx context.Context, s *Session, id, user string, now time.Time) {
	client := m.clientInfo(s.req, now)
	ev := SecurityEvent{Kind: EventTokenReuse, Session: SessionHash(id), User: user,
		RemoteAddr: client.RemoteAddr, UserAgent: client.UserAgent, Time: now}
	m.opts.OnSecurityEvent(ev)
	m.event(MetricReuse)
	if m.opts.KeepSessionOnReuse {
		return
	}
	if _, err := m.store.Delete(ctx, id); err != nil {
		m.opts.Logger.Error("mongosession: revoking a session after token reuse failed",
			"err", m.storeErr("revoke", id, err), "session", ev.Session)
		return
	}
	ev.Kind = EventSessionRevoked
	m.opts.OnSecurityEvent(ev)
	m.event(MetricRevoke)
}

// maxUserAgent bounds the User-Agent kept with a session or put in an event.
const maxUserAgent = 256

// clientInfo describes the client of r: for security events, and stored only with RecordClientInfo. It is
// computed when needed, not on every request. A nil r (a session loaded by cookie value or id) has none.
func (m *Manager) clientInfo(r *http.Request, now time.Time) store.Client {
	if r == nil {
		return store.Client{Seen: now.Truncate(time.Millisecond)}
	}
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	return store.Client{RemoteAddr: m.opts.ClientAddr(r), UserAgent: ua, Seen: now.Truncate(time.Millisecond)}
}

// RemoteHost is the default Options.ClientAddr: the host part of r.RemoteAddr, the peer of the connection.
// Behind a reverse proxy that is the proxy: set Options.ClientAddr to a function that trusts the proxy's
// header (X-Forwarded-For, Forwarded) only for connections from that proxy.
func RemoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
