package mongosession

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Manager creates sessions for requests and commits them. It is safe for concurrent use.
type Manager struct {
	store Store
	opts  Options

	sealer *sealer // cookie mode; nil without Options.CookieKeys
}

// retiredKept bounds the list of retired token hashes kept per session.
const retiredKept = 8

// New returns a Manager that keeps sessions in store. Zero fields of opts take their documented defaults;
// impossible combinations are an error.
func New(store Store, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("mongosession: store is nil")
	}
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	m := &Manager{store: store, opts: opts, sealer: newSealer(opts.CookieKeys)}
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

func (m *Manager) defaultError(w http.ResponseWriter, r *http.Request, err error) {
	m.opts.Logger.Error("mongosession: session unavailable", "err", err, "method", r.Method, "path", r.URL.Path)
	http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
}

type ctxKey struct{}

// FromContext returns the request's session. Under Manager.Middleware it is never nil; elsewhere it is nil.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// newSession reads the cookie into s. A missing or malformed cookie is no session (never an error).
func (m *Manager) newSession(s *Session, r *http.Request) *Session {
	s.m, s.req = m, r
	// The Cookie headers are scanned in place (r.Cookies would allocate every cookie on every request);
	// parseCookie checks the value strictly.
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, _ := strings.Cut(textproto.TrimString(part), "=")
			if name != m.opts.CookieName {
				continue
			}
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if id, token, ok := parseCookie(value); ok {
				s.id, s.token, s.state = id, token, stateCookie
				return s
			}
			if m.openSealed(s, value) {
				return s
			}
			s.stale = true // malformed: replace it if we write, never fail on it
		}
	}
	return s
}

// commit writes the request's changes. Before the headers (setCookie true) it may rotate and set the cookie;
// afterwards it only writes data. It returns the cookie to send, if any.
func (m *Manager) commit(s *Session, setCookie bool) (*http.Cookie, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	now := time.Now()
	if s.destroy == "" && !s.renew && len(s.changes) == 0 && s.user == nil && !m.inCookieMode(s) &&
		(s.state == stateCookie || s.state == stateLoaded && !m.touchDue(s.rec, now, setCookie)) {
		return nil, nil // untouched, or read with nothing due: no database work, so no context either
	}
	// The commit must finish even if the client goes away: a cancelled write leaves an unknown state.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), m.opts.Timeout)
	defer cancel()

	if s.destroy != "" {
		if err := m.store.Delete(ctx, s.destroy); err != nil {
			return nil, fmt.Errorf("mongosession: destroy session: %w", err)
		}
		s.destroy = ""
	}
	if m.inCookieMode(s) {
		return m.commitCookie(ctx, s, now, setCookie)
	}
	if s.renew {
		s.renew = false
		if err := s.loadLocked(); err != nil {
			return nil, err
		}
		if s.state == stateLoaded {
			return m.renew(ctx, s, now)
		}
	}
	switch s.state {
	case stateCookie:
		if len(s.changes) == 0 && s.user == nil {
			return nil, nil
		}
		res, err := m.store.Commit(ctx, &Commit{ID: s.id, Now: now, AuthHash: s.tokenHash(),
			Changes: s.changes, User: s.user, Seen: now})
		if err != nil {
			return nil, fmt.Errorf("mongosession: commit: %w", err)
		}
		if res.Found {
			s.changes, s.user = nil, nil
			return nil, nil
		}
		// The cookie names no live session: it expired, was destroyed or was never valid. The changes start a
		// new session with a new id (never the cookie's: the server adopts no id it did not issue).
		// Only this rare path reads, to tell a replayed retired token from a stale cookie.
		if _, err := m.store.Load(ctx, s.id, s.tokenHash(), now); errors.Is(err, ErrRetired) {
			m.reportReuse(ctx, s, now)
		}
		s.state, s.stale = stateNone, true
		return m.insert(ctx, s, now, setCookie)
	case stateLoaded:
		return m.update(ctx, s, now, setCookie)
	default:
		return m.insert(ctx, s, now, setCookie)
	}
}

// insert creates a session from the request's changes (one insert), or clears a stale cookie.
func (m *Manager) insert(ctx context.Context, s *Session, now time.Time, setCookie bool) (*http.Cookie, error) {
	if len(s.changes) == 0 && (s.user == nil || *s.user == "") {
		if s.stale && setCookie {
			s.stale = false
			return m.cookie("", time.Time{}), nil
		}
		return nil, nil
	}
	if !setCookie {
		m.opts.Logger.Warn("mongosession: change after the headers went out in a request without a session: not stored (no cookie could carry it)")
		s.changes, s.user = nil, nil
		return nil, nil
	}
	c, err := m.createSession(ctx, s, now, false)
	if err != nil {
		return nil, fmt.Errorf("mongosession: create session: %w", err)
	}
	return c, nil
}

// createSession stores everything this request sees as a new database session (one insert) and points s at
// it. The session it replaces, if any (s.rec: a renewed or promoted one), passes on its user link and, with
// keepAbsolute, its creation time and absolute deadline.
func (m *Manager) createSession(ctx context.Context, s *Session, now time.Time, keepAbsolute bool) (*http.Cookie, error) {
	rec, token := m.newRecord(now, s.viewDataLocked())
	if old := s.rec; old != nil {
		rec.User = old.User
		if keepAbsolute {
			rec.Created, rec.Absolute = old.Created, old.Absolute
		}
	}
	if s.user != nil {
		rec.User = *s.user
	}
	if m.opts.RecordClientInfo {
		rec.Client = clientInfo(s.req)
	}
	if err := m.store.Insert(ctx, rec); err != nil {
		return nil, err
	}
	s.id, s.token, s.rec, s.state, s.changes, s.user, s.stale = rec.ID, token, rec, stateLoaded, nil, nil, false
	return m.cookie(cookieValue(rec.ID, token), rec.Absolute), nil
}

func (m *Manager) newRecord(now time.Time, data map[string]bson.RawValue) (*Record, string) {
	token := newToken()
	now = now.Truncate(time.Millisecond) // what BSON keeps
	return &Record{
		ID:       newID(),
		Tokens:   []Token{{Hash: hashToken(token), Issued: now}},
		Data:     data,
		Created:  now,
		Seen:     now,
		Idle:     now.Add(m.opts.IdleTimeout),
		Absolute: now.Add(m.opts.Lifetime),
		Version:  1,
	}, token
}

// renew moves the session's data to a new id and token: read (done), insert, delete. FerretDB 1.x has no
// transactions; if the delete fails the old session is left to expire and the error is reported.
func (m *Manager) renew(ctx context.Context, s *Session, now time.Time) (*http.Cookie, error) {
	oldID := s.id
	c, err := m.createSession(ctx, s, now, false) // Renew restarts the Lifetime
	if err != nil {
		return nil, fmt.Errorf("mongosession: renew: %w", err)
	}
	if err := m.store.Delete(ctx, oldID); err != nil {
		return nil, fmt.Errorf("mongosession: renew: delete old session: %w", err)
	}
	return c, nil
}

// update commits a session that this request has read: data changes, rotation and idle extension, folded
// into one write command. The session is authenticated by the read, so the data statement filters on _id
// and expiry only: a parallel rotation that retires this request's token must not make it miss.
func (m *Manager) update(ctx context.Context, s *Session, now time.Time, setCookie bool) (*http.Cookie, error) {
	rec := s.rec
	c := &Commit{ID: rec.ID, Now: now, Changes: s.changes, User: s.user}
	writes := len(s.changes) > 0 || s.user != nil

	var token string
	newest := rec.Newest()
	if m.rotationDue(rec, now, setCookie) {
		token = newToken()
		tokens := append(append(make([]Token, 0, len(rec.Tokens)+1), rec.Tokens...),
			Token{Hash: hashToken(token), Issued: now.Truncate(time.Millisecond)})
		retired := append([][]byte(nil), rec.Retired...)
		if drop := len(tokens) - m.opts.TokensKept; drop > 0 {
			for _, t := range tokens[:drop] {
				retired = append(retired, t.Hash)
			}
			tokens = tokens[drop:]
		}
		if len(retired) > retiredKept {
			retired = retired[len(retired)-retiredKept:]
		}
		c.Rotate = &Rotation{ExpectNewest: newest.Hash, Tokens: tokens, Retired: retired}
	}
	idle := m.idleDeadline(now)
	if writes || c.Rotate != nil || m.idleDue(rec, now) {
		c.Seen, c.Idle, c.Expires = now, idle, minTime(idle, rec.Absolute)
	}
	if !writes && c.Rotate == nil && c.Idle.IsZero() {
		return nil, nil // read-only, fresh token, deadline recent: no write at all
	}
	if m.opts.RecordClientInfo && c.HasData() {
		if ci := clientInfo(s.req); ci != rec.Client {
			c.Client = &ci
		}
	}
	res, err := m.store.Commit(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("mongosession: commit: %w", err)
	}
	if writes && !res.Found {
		// Destroyed or expired while this request ran: logout wins, the changes go with the session.
		m.opts.Logger.Info("mongosession: session ended during the request; its changes were not stored")
		s.state, s.rec, s.changes, s.user = stateNone, nil, nil, nil
		if setCookie {
			return m.cookie("", time.Time{}), nil
		}
		return nil, nil
	}
	// A loaded record's Data may be shared with the store (memstore does, to keep reads cheap): copy, then change.
	data := make(map[string]bson.RawValue, len(rec.Data)+len(s.changes))
	maps.Copy(data, rec.Data)
	for k, ch := range s.changes {
		if v, ok := s.viewLocked(k); ok && ch.Op != OpUnset {
			data[k] = v
		} else {
			delete(data, k)
		}
	}
	rec.Data = data
	if s.user != nil {
		rec.User = *s.user
	}
	if c.Client != nil {
		rec.Client = *c.Client
	}
	s.changes, s.user = nil, nil
	if !c.Idle.IsZero() {
		rec.Idle = c.Idle
	}
	if res.Rotated {
		rec.Tokens, rec.Retired = c.Rotate.Tokens, c.Rotate.Retired
		s.token = token
		return m.cookie(cookieValue(rec.ID, token), rec.Absolute), nil
	}
	return nil, nil
}

// rotationDue reports whether a commit of rec now rotates the token (only while a cookie can still be sent).
func (m *Manager) rotationDue(rec *Record, now time.Time, setCookie bool) bool {
	return setCookie && now.Sub(rec.Newest().Issued) >= m.opts.TokenTTL
}

func (m *Manager) idleDeadline(now time.Time) time.Time {
	return now.Add(m.opts.IdleTimeout).Truncate(time.Millisecond)
}

// idleDue reports whether the idle deadline has drifted enough to be worth a write on its own.
func (m *Manager) idleDue(rec *Record, now time.Time) bool {
	return m.idleDeadline(now).Sub(rec.Idle) > m.opts.IdleTimeout/10
}

// touchDue reports whether a request that read rec and changed nothing still has to write (rotation or
// idle extension). It is update's condition, checked before any allocation.
func (m *Manager) touchDue(rec *Record, now time.Time, setCookie bool) bool {
	return m.rotationDue(rec, now, setCookie) || m.idleDue(rec, now)
}

// clientInfo describes the client of r: for security events, and stored only with RecordClientInfo. It is
// computed when needed, not on every request.
func clientInfo(r *http.Request) ClientInfo {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ua := r.UserAgent()
	if len(ua) > 256 {
		ua = ua[:256]
	}
	return ClientInfo{RemoteAddr: host, UserAgent: ua}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// cookie builds the session cookie; an empty value expires it.
func (m *Manager) cookie(value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:        m.opts.CookieName,
		Value:       value,
		Path:        m.opts.CookiePath,
		Domain:      m.opts.CookieDomain,
		Secure:      !m.opts.InsecureCookie,
		HttpOnly:    true,
		SameSite:    m.opts.CookieSameSite,
		Partitioned: m.opts.CookiePartitioned,
	}
	if value == "" {
		c.MaxAge = -1
		c.Expires = time.Unix(1, 0)
	} else {
		c.Expires = expires.UTC()
		// Rounded up: the browser must not drop the cookie before the server ends the session.
		c.MaxAge = max(1, int(math.Ceil(time.Until(expires).Seconds())))
	}
	return c
}
