package main

// The security side of the demo: the events OnSecurityEvent reports, the cookie fingerprint, and the
// "replay an old copy of my cookie" button, which plays a thief who copied the cookie earlier.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/mongosession/mongosession"
)

// Bounds of the in-memory logs, so that a busy demo cannot grow them without end.
const (
	maxTrackedSessions = 1000
	eventsPerSession   = 20
	copiesPerSession   = 12 // more than TokensKept plus the retired tokens a session remembers
)

// eventLog keeps the security events reported for each session, keyed by SessionHash.
type eventLog struct {
	mu     sync.Mutex
	events map[string][]mongosession.SecurityEvent
}

func newEventLog() *eventLog {
	return &eventLog{events: make(map[string][]mongosession.SecurityEvent)}
}

func (l *eventLog) add(e mongosession.SecurityEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.events[e.Session]; !ok && len(l.events) >= maxTrackedSessions {
		clear(l.events) // crude but bounded: a demo forgets old sessions' events
	}
	list := append(l.events[e.Session], e)
	if len(list) > eventsPerSession {
		list = list[len(list)-eventsPerSession:]
	}
	l.events[e.Session] = list
}

func (l *eventLog) count(session string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events[session])
}

// eventView is one security event as the page shows it, newest first.
type eventView struct{ Title, Time, From string }

func (l *eventLog) view(session string) []eventView {
	l.mu.Lock()
	defer l.mu.Unlock()
	list := l.events[session]
	out := make([]eventView, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		e := list[i]
		title := string(e.Kind)
		switch e.Kind {
		case mongosession.EventTokenReuse:
			title = "A replayed old cookie was detected: a retired token came back, and was refused"
		case mongosession.EventSessionRevoked:
			title = "The session was revoked because of a replayed cookie"
		}
		out = append(out, eventView{Title: title, Time: e.Time.Local().Format("15:04:05"),
			From: e.RemoteAddr + " (" + deviceLabel(e.UserAgent) + ")"})
	}
	return out
}

// cookieCopies remembers, per session, the cookie values its browser has held, oldest first. Only the
// replay button needs them: a real application never keeps cookie values.
type cookieCopies struct {
	mu     sync.Mutex
	values map[string][]string
}

func newCookieCopies() *cookieCopies { return &cookieCopies{values: make(map[string][]string)} }

func (c *cookieCopies) remember(session, value string) {
	if value == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	list, ok := c.values[session]
	if !ok && len(c.values) >= maxTrackedSessions {
		clear(c.values)
	}
	if len(list) > 0 && list[len(list)-1] == value {
		return
	}
	list = append(list, value)
	if len(list) > copiesPerSession {
		list = list[len(list)-copiesPerSession:]
	}
	c.values[session] = list
}

// pick returns the copy a thief would replay: the newest one that is kept rotations old (so no longer
// accepted), else the oldest one there is. rotations says how many new cookies the browser got since.
func (c *cookieCopies) pick(session string, kept int) (value string, rotations int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.values[session]
	if len(list) == 0 {
		return "", 0, false
	}
	rotations = min(kept, len(list)-1)
	return list[len(list)-1-rotations], rotations, true
}

// note tells, before the button is pressed, what replaying now would show.
func (c *cookieCopies) note(session string, kept int, ttl time.Duration) string {
	_, rotations, ok := c.pick(session, kept)
	if !ok || rotations >= kept {
		return ""
	}
	return fmt.Sprintf("Right now the oldest copy is only %d rotation(s) old, so it is still accepted: reload "+
		"every %v or so, %d more time(s), to see it refused.", rotations, ttl, kept-rotations)
}

// thief is who the replayed request claims to be: a documentation address (TEST-NET-3) and a tool's name.
const (
	thiefAddr  = "203.0.113.7:50123"
	thiefAgent = "curl/8.5.0 (a copied cookie, replayed by the demo)"
)

// replay sends an old copy of this session's cookie through the session middleware, as a thief who copied
// it would, and tells the user what happened. The request runs in-process: a browser cannot send a cookie
// value of its choosing, and the page never shows one.
func (a *app) replay(w http.ResponseWriter, r *http.Request) {
	s := mongosession.FromContext(r.Context())
	id := s.ID()
	if id == "" || s.Mode() != mongosession.ModeDatabase {
		_ = s.Put("flash", "Replaying needs a session in MongoDB: log in first.")
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	hash := mongosession.SessionHash(id)
	value, rotations, ok := a.copies.pick(hash, a.mgr.Options().TokensKept)
	if !ok {
		_ = s.Put("flash", "The demo has not seen a cookie of this session yet: reload the page first.")
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	before := a.events.count(hash)
	req := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/", nil)
	req.RemoteAddr = thiefAddr
	req.Header.Set("User-Agent", thiefAgent)
	req.AddCookie(&http.Cookie{Name: a.cookieName(), Value: value})
	rec := httptest.NewRecorder()
	a.probe.ServeHTTP(rec, req)

	var msg string
	switch {
	case rec.Body.String() == "accepted":
		msg = fmt.Sprintf("Replayed a copy %d rotation(s) old: accepted, since the %d newest tokens are. "+
			"A copy stays usable only until the real browser has moved on: reload a few times over %v and try again.",
			rotations, a.mgr.Options().TokensKept, a.mgr.Options().TokenTTL*time.Duration(a.mgr.Options().TokensKept))
	case a.events.count(hash) > before:
		msg = fmt.Sprintf("Replayed a copy %d rotations old from %s: refused, and reported as a security event.",
			rotations, thiefAddr)
	default:
		msg = "Replayed an old copy: refused (too old even to be recognised as this session's)."
	}
	_ = s.Put("flash", msg)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// probeSession answers whether the request's cookie opened a database session.
func probeSession(w http.ResponseWriter, r *http.Request) {
	s := mongosession.FromContext(r.Context())
	if s.ID() != "" && s.Mode() == mongosession.ModeDatabase {
		_, _ = w.Write([]byte("accepted"))
		return
	}
	_, _ = w.Write([]byte("refused"))
}

// fingerprint is a short, safe-to-show digest of a cookie value: 8 hex digits, one coloured block each.
type fingerprint struct {
	Hex    string
	Colors []string
}

// palette gives each hex digit its colour.
var palette = [16]string{"#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
	"#bcf60c", "#008080", "#9a6324", "#800000", "#808000", "#000075", "#808080", "#fabebe"}

func fingerprintOf(cookieValue string) fingerprint {
	if cookieValue == "" {
		return fingerprint{Hex: "none", Colors: []string{"#d0d5dd", "#d0d5dd", "#d0d5dd", "#d0d5dd"}}
	}
	sum := sha256.Sum256([]byte(cookieValue))
	hx := hex.EncodeToString(sum[:4])
	fp := fingerprint{Hex: hx}
	for _, d := range hx {
		n := d - '0'
		if d >= 'a' {
			n = d - 'a' + 10
		}
		fp.Colors = append(fp.Colors, palette[n])
	}
	return fp
}
