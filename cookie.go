package mongosession

// The web layer's cookie: reading the Cookie header into a session, and rendering a commit's outcome as the
// one Set-Cookie it sends. The state machine (the kinds, lifecycle.go) never builds an http.Cookie.
//
// The cookie rules (docs/design.md, "Cookie rules"; the decision itself is decide.go): a browser holds one
// cookie for us, its parallel requests may carry older values, and every Set-Cookie overwrites what it holds.
// So:
//   - a response sets the cookie only for a session this request read and rotated (only the newest token's
//     holder rotates), or one it created, renewed, resealed or moved to the database (outcome set);
//   - it clears the cookie only when the handler destroyed its session (outcome clear);
//   - a stale cookie (unknown, expired, revoked, renewed away before the request was sent) is never cleared:
//     it reads as no session, and a write replaces it;
//   - a superseded cookie (its id renewed away while the request was on its way) reads no session, gets no
//     cookie, and its changes fail with ErrSuperseded: the login's cookie is on its way;
//   - a token retired while the request was on its way (a slow request) was valid when sent: the request reads
//     its session but never rotates (outcome keep), so the browser's newer cookie stays; retired earlier, it
//     is a replay: reported, the session revoked (unless KeepSessionOnReuse), and then stale;
//   - no new session cookie is set while a well-formed cookie of ours went unread;
//   - a hijacked connection (WebSocket) or a detached load gets no cookie, so it never rotates.

import (
	"math"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/mongosession/mongosession/internal/store"
)

type cookieOp uint8

const (
	opKeep  cookieOp = iota // send nothing: the browser's cookie stays
	opSet                   // send value, valid until the absolute deadline
	opClear                 // expire the cookie (Destroy)
)

// outcome is what a commit asks of the browser's cookie.
type outcome struct {
	op      cookieOp
	value   string
	until   time.Time
	persist bool // Max-Age and Expires; without, a browser-session cookie
}

var (
	keepCookie  = outcome{}
	clearCookie = outcome{op: opClear}
)

// setCookie is the outcome of a session stored as rec whose cookie now holds value.
func (m *Manager) setCookie(value string, rec *store.Record) outcome {
	return outcome{op: opSet, value: value, until: rec.Absolute, persist: m.persistent(rec.Remember)}
}

// persistent tells whether a session whose choice is remember (nil: none made) gets a persistent cookie.
func (m *Manager) persistent(remember *bool) bool {
	if remember != nil {
		return *remember
	}
	return !m.opts.BrowserSessionCookie
}

// maxCandidates bounds how many well-formed cookies of our name a request may make us read. Several arrive
// when a sibling subdomain planted one with another Domain or Path (cookie tossing): the one that validates
// wins. Malformed values do not count (junk must not hide the real cookie), and a request that carried more
// well-formed values than it read sets no new session cookie over them (docs/design.md, cookie rules).
const maxCandidates = 3

// maxSealAttempts bounds how many sealed-looking values a request may make us try to open.
const maxSealAttempts = 3

// begin reads the request's cookies into s. Malformed values are ignored (never an error); database cookies
// are kept for the lazy read, and sealed ones are opened now (no database work).
func (m *Manager) begin(s *Session, r *http.Request) {
	s.m, s.req, s.arrived, s.kind = m, r, m.now(), noSession{}
	var db *dbSession
	var sealed *cookieSession
	seen, sealTries := 0, 0
	// The Cookie headers are scanned in place (r.Cookies would allocate every cookie on every request).
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, _ := strings.Cut(textproto.TrimString(part), "=")
			if name != m.opts.CookieName {
				continue
			}
			seen++
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if id, token, ok := parseCookie(value); ok {
				if db == nil {
					db = &dbSession{}
				}
				if len(db.cands) == maxCandidates {
					db.unread = true
					continue
				}
				db.cands = append(db.cands, newDBCookie(id, token))
			} else if sealed == nil && sealTries < maxSealAttempts && strings.HasPrefix(value, sealPrefix) {
				sealTries++
				sealed = m.openSealed(value)
			}
		}
	}
	if seen > 0 && db == nil && sealed == nil {
		m.errorKind(ErrorInvalid) // malformed, forged, or a seal that no longer opens
	}
	switch {
	case db != nil && sealed != nil:
		s.kind, s.fallback = db, sealed
	case db != nil:
		s.kind = db
	case sealed != nil:
		s.kind = sealed
		s.setRecord(sealed.opened)
	}
}

// writeCookie renders o into h.
func (m *Manager) writeCookie(h http.Header, o outcome, now time.Time) {
	if o.op == opKeep {
		return
	}
	h.Add("Set-Cookie", m.httpCookie(o, now).String())
	h.Add("Vary", "Cookie")
	if cc := h.Get("Cache-Control"); cc == "" {
		h.Set("Cache-Control", `no-cache="Set-Cookie"`)
	} else if !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private") {
		h.Set("Cache-Control", cc+`, no-cache="Set-Cookie"`)
	}
}

// cookieBytes is the length of the Set-Cookie header value that o renders to.
func (m *Manager) cookieBytes(o outcome, now time.Time) int {
	return len(m.httpCookie(o, now).String())
}

// httpCookie is the one place a session cookie is built.
func (m *Manager) httpCookie(o outcome, now time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:        m.opts.CookieName,
		Value:       o.value,
		Path:        m.opts.CookiePath,
		Domain:      m.opts.CookieDomain,
		Secure:      !m.opts.InsecureCookie,
		HttpOnly:    true,
		SameSite:    m.opts.CookieSameSite,
		Partitioned: m.opts.CookiePartitioned,
	}
	if o.op == opClear {
		c.MaxAge = -1
		c.Expires = time.Unix(1, 0)
	} else if o.persist {
		c.Expires = o.until.UTC()
		// Rounded up: the browser must not drop the cookie before the server ends the session.
		c.MaxAge = max(1, int(math.Ceil(o.until.Sub(now).Seconds())))
	}
	return c
}
