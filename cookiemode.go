package mongosession

// Cookie mode: a session whose data is sealed into the cookie (seal.go) instead of stored in MongoDB. It costs
// the database nothing; it moves to the database on Promote, on Renew, or when it outgrows MaxCookieBytes.
// See the README section "Cookie mode".

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mongosession/mongosession/internal/store"
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

// Mode reports where the session is stored now. It does not read the session: a database cookie reports
// ModeDatabase before the first read has checked it (a cookie that names no live session turns into ModeNone
// then). Promote, Renew, SetUser and the size limit move a session at commit, so the mode they lead to shows
// from the next request on (or after the response started).
func (s *Session) Mode() Mode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kind.mode(s)
}

// Promote moves a cookie-mode session to MongoDB at commit: one insert, the sealed cookie replaced by a
// database cookie, the data (including this request's changes) carried over, the absolute deadline kept.
// On a request without a session yet, the first write creates the session in MongoDB rather than in the
// cookie. On a session already in the database it does nothing. Renew and SetUser on a cookie-mode session
// move it too. It returns ErrHeadersSent once the response has started.
func (s *Session) Promote() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cookieChange(); err != nil {
		return err
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

// cookieSession is a session sealed into the cookie: its whole record travels there, so it costs the database
// nothing. It cannot be revoked, so a session linked to a user moves to the database.
type cookieSession struct {
	opened *store.Record // as opened from the cookie (no id; its one token carries the seal time)
	oldKey bool          // opened with an older key: reseal with the current one
}

// openSealed tries v as a sealed cookie. Anything that does not open (not sealed, forged, wrong key or cookie
// binding, expired) is nil.
func (m *Manager) openSealed(v string) *cookieSession {
	if m.sealer == nil || !strings.HasPrefix(v, sealPrefix) {
		return nil
	}
	rec, key, ok := m.openRecord(v, m.now())
	if !ok {
		return nil
	}
	return &cookieSession{opened: rec, oldKey: key != 0}
}

// openRecord opens a sealed cookie value and checks its deadlines against now with the options in force.
func (m *Manager) openRecord(v string, now time.Time) (*store.Record, int, bool) {
	plain, key, ok := m.sealer.open(m.sealAD, v, m.opts.MaxCookieBytes)
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
	if !rec.Expires.After(now) {
		return nil, 0, false
	}
	return rec, key, true
}

func (m *Manager) cookieRecord(p payload) *store.Record {
	return &store.Record{
		Tokens:   []store.Token{{At: p.Issued}},
		Data:     p.Data,
		User:     p.User,
		Remember: p.Remember,
		Created:  p.Created,
		Absolute: p.Created.Add(m.opts.Lifetime),
		Expires:  minTime(p.Issued.Add(m.opts.IdleTimeout), p.Created.Add(m.opts.Lifetime)),
	}
}

func (c *cookieSession) load(s *Session, _ time.Time) error {
	if s.rec == nil {
		s.setRecord(c.opened) // a fallback taking over
	}
	return nil
}

func (c *cookieSession) prepare(*Session, time.Time, bool) error { return nil }
func (c *cookieSession) id() string                              { return "" }
func (c *cookieSession) mode(*Session) Mode                      { return ModeCookie }
func (c *cookieSession) storesWithoutCookie(*Session) bool       { return false }
func (c *cookieSession) end(context.Context, *Session) error     { return nil }

// resealDue reports whether an unchanged cookie is resealed: with an older key, or when its seal time is more
// than a tenth of IdleTimeout old (which extends the idle deadline). Resealing costs no database work.
func (c *cookieSession) resealDue(s *Session, now time.Time) bool {
	return c.oldKey || now.Sub(s.rec.Newest().At) > s.m.opts.IdleTimeout/10
}

func (c *cookieSession) due(s *Session, now time.Time, canSetCookie bool) bool {
	return s.dirty() || s.renew || s.promote || userLinked(s) || canSetCookie && c.resealDue(s, now)
}

func (c *cookieSession) commit(ctx context.Context, s *Session, now time.Time, canSetCookie bool) (outcome, error) {
	moving := s.renew || s.promote || userLinked(s)
	switch {
	case !canSetCookie && (moving || s.dirty()):
		s.view.changes, s.user, s.remember = nil, nil, nil
		return keepCookie, fmt.Errorf("%w: a change to a cookie-mode session was not stored", ErrHeadersSent)
	case !canSetCookie:
		return keepCookie, nil
	case moving:
		// Renew restarts the Lifetime, as for a database session.
		renew := s.renew
		o, err := s.m.moveToDatabase(ctx, s, now, renew, moveReason(s))
		if err == nil && renew {
			s.m.event(MetricRenew) // a login, as for a database session (logged as the move)
		}
		return o, err
	case !s.dirty() && !c.resealDue(s, now):
		return keepCookie, nil
	}
	return s.m.seal(ctx, s, now)
}

// seal stores everything this request sees in a sealed cookie, or moves the session to the database when it
// no longer fits in MaxCookieBytes.
func (m *Manager) seal(ctx context.Context, s *Session, now time.Time) (outcome, error) {
	now = now.Truncate(time.Millisecond) // what the cookie keeps
	p := payload{Created: now, Issued: now, Data: s.view.all(), Remember: s.remember}
	if s.rec != nil {
		p.Created = s.rec.Created
		if p.Remember == nil {
			p.Remember = s.rec.Remember
		}
	}
	if plain, err := encodePayload(p); err == nil && len(plain) < m.opts.MaxCookieBytes {
		rec := m.cookieRecord(p)
		o := m.setCookie(m.sealer.seal(m.sealAD, plain), rec)
		if m.cookieBytes(o, now) <= m.opts.MaxCookieBytes {
			s.become(&cookieSession{opened: rec}, rec)
			s.view.changes, s.user, s.remember = nil, nil, nil
			return o, nil
		}
	}
	return m.moveToDatabase(ctx, s, now, false, "outgrew its cookie")
}

// moveReason says why a cookie-mode session moves to the database, for the log.
func moveReason(s *Session) string {
	switch {
	case s.renew:
		return "Renew"
	case s.promote:
		return "Promote"
	}
	return "linked to a user"
}

// payload is what a sealed cookie holds, as a BSON document {c: created, i: issued, u: user (optional),
// r: remember (optional), d: data}. Times are BSON dates (milliseconds).
type payload struct {
	Created  time.Time
	Issued   time.Time
	User     string
	Remember *bool // Session.RememberMe; nil: the option decides
	Data     map[string]bson.RawValue
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
	if p.Remember != nil {
		doc = append(doc, bson.E{Key: "r", Value: *p.Remember})
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
		case "r":
			var r bool
			r, ok = v.BooleanOK()
			p.Remember = &r
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
