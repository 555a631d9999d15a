package mongosession

// Cookie mode: a session whose data is sealed into the cookie (seal.go) instead of stored in MongoDB. It costs
// the database nothing; it moves to the database on Promote, on Renew, or when it outgrows MaxCookieBytes.
// See the README section "Cookie mode".

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Mode tells where a session is stored.
type Mode uint8

const (
	// ModeNone: there is no session yet (no valid cookie; one is created on the first write).
	ModeNone Mode = iota
	// ModeCookie: the session's data is sealed into the cookie (Options.CookieKeys); no database work.
	ModeCookie
	// ModeDatabase: the session is a MongoDB document; the cookie holds its id and a rotating token.
	ModeDatabase
)

// String returns "none", "cookie" or "database".
func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case ModeCookie:
		return "cookie"
	case ModeDatabase:
		return "database"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// cookieMode is the part of a Session that cookie mode adds.
type cookieMode struct {
	sealed  bool // the session lives in a sealed cookie (s.rec holds its data), not in the database
	promote bool // Promote was called: move to the database at commit
	oldKey  bool // opened with an older key: reseal with the current one at the next commit
}

// Mode reports where the session is stored now. It does not read the session: a database cookie reports
// ModeDatabase before the first read has checked it (a cookie that names no live session turns into ModeNone
// then). Promote, Renew and the size limit move a session at commit, so the mode they lead to shows from the
// next request on (or after the response started).
func (s *Session) Mode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.sealed:
		return ModeCookie
	case s.state == stateNone:
		return ModeNone
	}
	return ModeDatabase
}

// Promote moves a cookie-mode session to MongoDB at commit: one insert, the sealed cookie replaced by a
// database cookie, the data (including this request's changes) carried over, the absolute deadline kept.
// On a request without a session yet, the first write creates the session in MongoDB rather than in the
// cookie. On a session already in the database it does nothing. Renew on a cookie-mode session promotes it
// too (and restarts its Lifetime, as Renew does). It returns ErrHeadersSent once the response has started.
func (s *Session) Promote() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent {
		return ErrHeadersSent
	}
	s.promote = true
	return nil
}

// validateCookieMode checks the cookie-mode options (after defaults).
func (o Options) validateCookieMode() []error {
	var errs []error
	for i, k := range o.CookieKeys {
		if len(k) < minKeyBytes {
			errs = append(errs, fmt.Errorf("CookieKeys[%d] has %d bytes: at least %d are required", i, len(k), minKeyBytes))
		}
	}
	if o.StartInCookie && len(o.CookieKeys) == 0 {
		errs = append(errs, errors.New("StartInCookie requires CookieKeys"))
	}
	if o.MaxCookieBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxCookieBytes is negative (%d)", o.MaxCookieBytes))
	}
	return errs
}

// openSealed tries v as a sealed cookie. On success the session is loaded in cookie mode (no database read
// will follow). Anything else (not sealed, forged, wrong key or cookie name, expired) is not ok.
func (m *Manager) openSealed(s *Session, v string) bool {
	if m.sealer == nil || !strings.HasPrefix(v, sealPrefix) {
		return false
	}
	rec, key, ok := m.openRecord(v, time.Now())
	if !ok {
		return false
	}
	s.rec, s.state, s.sealed, s.oldKey = rec, stateLoaded, true, key != 0
	return true
}

// openRecord opens a sealed cookie value and checks its deadlines against now with the options in force.
// The returned record has no id; its one token carries the issue time only (for TokenAge).
func (m *Manager) openRecord(v string, now time.Time) (*Record, int, bool) {
	plain, key, ok := m.sealer.open(m.opts.CookieName, v, m.opts.MaxCookieBytes)
	if !ok {
		return nil, 0, false
	}
	p, err := decodePayload(plain)
	if err != nil {
		// Authentic but undecodable: only a bug (or a key shared with something else) produces this.
		m.opts.Logger.Warn("mongosession: sealed cookie opened but its content is invalid", "err", err)
		return nil, 0, false
	}
	rec := m.cookieRecord(p)
	if !rec.Idle.After(now) || !rec.Absolute.After(now) {
		return nil, 0, false
	}
	return rec, key, true
}

func (m *Manager) cookieRecord(p payload) *Record {
	return &Record{
		Tokens:   []Token{{Issued: p.Issued}},
		Data:     p.Data,
		User:     p.User,
		Created:  p.Created,
		Seen:     p.Issued,
		Idle:     p.Issued.Add(m.opts.IdleTimeout),
		Absolute: p.Created.Add(m.opts.Lifetime),
	}
}

// inCookieMode reports whether the commit of s is cookie mode's: a sealed session, or no session yet on a
// manager whose new sessions start in the cookie.
func (m *Manager) inCookieMode(s *Session) bool {
	return s.sealed || s.state == stateNone && m.opts.StartInCookie && m.sealer != nil
}

// commitCookie is commit for a cookie-mode session. It touches the database only to move the session there.
// The cookie is resealed (a new Set-Cookie) when the session changed, when it was opened with an older key,
// or when its issue time is more than a tenth of IdleTimeout old (which extends the idle deadline) — on any
// request through the middleware, since resealing costs no database work.
func (m *Manager) commitCookie(ctx context.Context, s *Session, now time.Time, setCookie bool) (*http.Cookie, error) {
	changed := len(s.changes) > 0 || s.user != nil && (*s.user != "" || s.sealed)
	if !s.sealed && !changed {
		s.promote, s.renew = false, false
		return m.insert(ctx, s, now, setCookie) // nothing to store: at most clears a stale cookie
	}
	if !setCookie {
		if changed {
			m.opts.Logger.Warn("mongosession: change after the headers went out in a cookie-mode session: not stored (no cookie could carry it)")
			s.changes, s.user = nil, nil
		}
		return nil, nil
	}
	if s.promote || s.renew {
		fresh := s.renew // Renew restarts the Lifetime, as it does for a database session
		s.promote, s.renew = false, false
		return m.promote(ctx, s, now, fresh)
	}
	if s.sealed && !changed && !s.oldKey && now.Sub(s.rec.Seen) <= m.opts.IdleTimeout/10 {
		return nil, nil
	}
	now = now.Truncate(time.Millisecond) // what the cookie keeps
	p := payload{Created: now, Issued: now, Data: s.viewDataLocked()}
	if s.rec != nil {
		p.Created, p.User = s.rec.Created, s.rec.User
	}
	if s.user != nil {
		p.User = *s.user
	}
	if plain, err := encodePayload(p); err == nil && len(plain) < m.opts.MaxCookieBytes {
		rec := m.cookieRecord(p)
		c := m.cookie(m.sealer.seal(m.opts.CookieName, plain), rec.Absolute)
		if len(c.String()) <= m.opts.MaxCookieBytes {
			s.rec, s.state, s.changes, s.user, s.stale = rec, stateLoaded, nil, nil, false
			s.cookieMode = cookieMode{sealed: true}
			return c, nil
		}
	}
	m.opts.Logger.Debug("mongosession: session outgrew its cookie: moved to the database")
	return m.promote(ctx, s, now, false)
}

// promote moves a cookie-mode session (or a new one) to the database: one insert, a database cookie. fresh
// restarts the Lifetime (Renew); otherwise the session keeps its creation time and absolute deadline.
func (m *Manager) promote(ctx context.Context, s *Session, now time.Time, fresh bool) (*http.Cookie, error) {
	c, err := m.createSession(ctx, s, now, !fresh)
	if err != nil {
		return nil, fmt.Errorf("mongosession: move session to the database: %w", err)
	}
	s.cookieMode = cookieMode{}
	return c, nil
}

// viewDataLocked returns every value this request sees.
func (s *Session) viewDataLocked() map[string]bson.RawValue {
	data := make(map[string]bson.RawValue)
	if s.rec != nil {
		for k := range s.rec.Data {
			if v, ok := s.viewLocked(k); ok {
				data[k] = v
			}
		}
	}
	for k := range s.changes {
		if v, ok := s.viewLocked(k); ok {
			data[k] = v
		}
	}
	return data
}

// payload is what a sealed cookie holds, as a BSON document {c: created, i: issued, u: user (optional),
// d: data}. Times are BSON dates (milliseconds).
type payload struct {
	Created time.Time
	Issued  time.Time
	User    string
	Data    map[string]bson.RawValue
}

func encodePayload(p payload) ([]byte, error) {
	keys := make([]string, 0, len(p.Data))
	for k := range p.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	data := make(bson.D, 0, len(keys))
	for _, k := range keys {
		data = append(data, bson.E{Key: k, Value: p.Data[k]})
	}
	doc := bson.D{{Key: "c", Value: bson.NewDateTimeFromTime(p.Created)}, {Key: "i", Value: bson.NewDateTimeFromTime(p.Issued)}}
	if p.User != "" {
		doc = append(doc, bson.E{Key: "u", Value: p.User})
	}
	doc = append(doc, bson.E{Key: "d", Value: data})
	return bson.Marshal(doc)
}

var errPayload = errors.New("mongosession: invalid sealed payload")

// decodePayload is the inverse of encodePayload. It is strict: unknown, duplicate or missing fields, invalid
// keys or malformed BSON are errors.
func decodePayload(b []byte) (payload, error) {
	var p payload
	raw := bson.Raw(b)
	if err := raw.Validate(); err != nil {
		return p, fmt.Errorf("%w: %v", errPayload, err)
	}
	elems, err := raw.Elements()
	if err != nil {
		return p, fmt.Errorf("%w: %v", errPayload, err)
	}
	seen := map[string]bool{}
	for _, e := range elems {
		k, err := e.KeyErr()
		if err != nil {
			return p, fmt.Errorf("%w: %v", errPayload, err)
		}
		v, err := e.ValueErr()
		if err != nil {
			return p, fmt.Errorf("%w: %v", errPayload, err)
		}
		if seen[k] {
			return p, fmt.Errorf("%w: field %q twice", errPayload, k)
		}
		seen[k] = true
		var ok bool
		switch k {
		case "c", "i":
			var ms int64
			if ms, ok = v.DateTimeOK(); ok {
				t := time.UnixMilli(ms)
				if k == "c" {
					p.Created = t
				} else {
					p.Issued = t
				}
			}
		case "u":
			p.User, ok = v.StringValueOK()
		case "d":
			var doc bson.Raw
			if doc, ok = v.DocumentOK(); ok {
				if p.Data, err = decodeData(doc); err != nil {
					return p, err
				}
			}
		default:
			return p, fmt.Errorf("%w: unknown field %q", errPayload, k)
		}
		if !ok {
			return p, fmt.Errorf("%w: field %q is %s", errPayload, k, v.Type)
		}
	}
	if !seen["c"] || !seen["i"] || !seen["d"] {
		return p, fmt.Errorf("%w: a field is missing", errPayload)
	}
	return p, nil
}

func decodeData(doc bson.Raw) (map[string]bson.RawValue, error) {
	elems, err := doc.Elements()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPayload, err)
	}
	data := make(map[string]bson.RawValue, len(elems))
	for _, e := range elems {
		k, err := e.KeyErr()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errPayload, err)
		}
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("%w: %v", errPayload, err)
		}
		if _, dup := data[k]; dup {
			return nil, fmt.Errorf("%w: key %q twice", errPayload, k)
		}
		v, err := e.ValueErr()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errPayload, err)
		}
		data[k] = v
	}
	return data, nil
}
