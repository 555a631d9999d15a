package main

// The security side of the demo: the events OnSecurityEvent reports, the cookie fingerprint, and the
// "replay an old copy of my cookie" button, which plays a thief who copied the cookie earlier.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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

// kindsSince returns the kinds of the session's events after the first n.
func (l *eventLog) kindsSince(session string, n int) []mongosession.EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var kinds []mongosession.EventKind
	for _, e := range l.events[session][min(n, len(l.events[session])):] {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// eventView is one security event as the page shows it, newest first.
type eventView struct {
	Kind              mongosession.EventKind
	Title, Time, From string
}

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
			title = "The session was revoked: the thief is logged out, and so is every browser that held its cookie"
		}
		out = append(out, eventView{Kind: e.Kind, Title: title, Time: e.Time.Local().Format("15:04:05"),
			From: e.RemoteAddr + " (" + deviceLabel(e.UserAgent) + ")"})
	}
	return out
}

// replayAfter is how long after its retirement a copy is replayed. The library takes a token retired less
// than 5 s before a request arrived for a slow request of the real browser (in flight while the token
// rotated), not for a replay: it refuses it without a report. The margin covers the time between the
// retirement and the page that notices it.
const replayAfter = 5*time.Second + 250*time.Millisecond

// cookieCopy is one cookie value the browser held, and when the demo first saw it.
type cookieCopy struct {
	value string
	seen  time.Time
}

// cookieCopies remembers, per session, the cookie values its browser has held, oldest first. Only the
// replay button needs them: a real application never keeps cookie values.
type cookieCopies struct {
	mu     sync.Mutex
	values map[string][]cookieCopy
}

func newCookieCopies() *cookieCopies { return &cookieCopies{values: make(map[string][]cookieCopy)} }

func (c *cookieCopies) remember(session, value string, now time.Time) {
	if value == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	list, ok := c.values[session]
	if !ok && len(c.values) >= maxTrackedSessions {
		clear(c.values)
	}
	for _, cp := range list {
		if cp.value == value {
			return // seen already: keep the time it was first seen
		}
	}
	list = append(list, cookieCopy{value: value, seen: now})
	if len(list) > copiesPerSession {
		list = list[len(list)-copiesPerSession:]
	}
	c.values[session] = list
}

// replayCandidate is the copy pick chose.
type replayCandidate struct {
	value     string
	rotations int // how many newer cookies the browser got since
	// retiredAgo is how long ago the browser got the cookie that pushed this copy out of the kept tokens:
	// when the server retired it (a little later, if a rotation went unseen by the page).
	retiredAgo time.Duration
}

// ready reports whether the server takes a replay of the copy for one: retired long enough ago.
func (rc replayCandidate) ready() bool { return rc.retiredAgo >= replayAfter }

// pick returns the copy a thief would replay: the newest one retired at least replayAfter ago, else the
// retired copy closest to that, for an honest "not yet". ok is false while no copy is retired at all
// (fewer than kept rotations seen); rotations then says how old the oldest copy is.
func (c *cookieCopies) pick(session string, kept int, now time.Time) (rc replayCandidate, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.values[session]
	if len(list) <= kept {
		return replayCandidate{rotations: max(0, len(list)-1)}, false
	}
	// Copy i was retired when the browser got copy i+kept. The library remembers only the most recently
	// retired tokens: look no further back than that.
	newest := len(list) - 1 - kept
	for i := newest; i >= max(0, newest-retiredRemembered+1); i-- {
		rc = replayCandidate{value: list[i].value, rotations: len(list) - 1 - i, retiredAgo: now.Sub(list[i+kept].seen)}
		if rc.ready() {
			return rc, true
		}
	}
	return rc, true
}

// retiredRemembered is how many retired tokens the library remembers per session (an older one is no
// longer recognised as the session's, so a replay of it is refused without a report).
const retiredRemembered = 8

// note tells, before the button is pressed, what replaying now would show.
func (c *cookieCopies) note(session string, kept int, ttl time.Duration, now time.Time) string {
	rc, ok := c.pick(session, kept, now)
	switch {
	case !ok:
		return fmt.Sprintf("Right now the oldest copy is only %d rotation(s) old, so it is still accepted: reload "+
			"every %v or so, %d more time(s), then wait %d s, to see a replay reported.",
			rc.rotations, ttl, kept-rc.rotations, int(replayAfter.Round(time.Second).Seconds()))
	case !rc.ready():
		return fmt.Sprintf("The earliest retired copy was retired only %.1f s ago: a replay now is refused, but not "+
			"reported. Wait %.0f s to see it reported.", rc.retiredAgo.Seconds(), math.Ceil((replayAfter - rc.retiredAgo).Seconds()))
	}
	return ""
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
	opts := a.mgr.Options()
	hash := mongosession.SessionHash(id)
	rc, ok := a.copies.pick(hash, opts.TokensKept, opts.Clock())
	if !ok {
		_ = s.Put("flash", fmt.Sprintf("Nothing replayed: every copy of this session's cookie the demo has seen "+
			"is among the %d newest tokens, which are still accepted (parallel requests need them). Reload the page "+
			"every %v or so, %d more time(s), wait %d s, and press again.", opts.TokensKept, opts.TokenTTL,
			opts.TokensKept-rc.rotations, int(replayAfter.Round(time.Second).Seconds())))
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	before := a.events.count(hash)
	req := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/", nil)
	req.RemoteAddr = thiefAddr
	req.Header.Set("User-Agent", thiefAgent)
	req.AddCookie(&http.Cookie{Name: a.cookieName(), Value: rc.value})
	rec := httptest.NewRecorder()
	a.probe.ServeHTTP(rec, req)
	kinds := a.events.kindsSince(hash, before)

	copyOf := fmt.Sprintf("Replayed a copy %d rotations old, retired %.1f s ago, from %s", rc.rotations,
		rc.retiredAgo.Seconds(), thiefAddr[:strings.IndexByte(thiefAddr, ':')])
	var msg string
	switch {
	case rec.Body.String() == "accepted":
		msg = copyOf + ": accepted. The server still counted it among the newest tokens: reload a few times and try again."
	case slices.Contains(kinds, mongosession.EventSessionRevoked):
		// The session is gone: its changes could not be stored (ErrSuperseded). Destroy drops them and
		// clears the cookie; what is put after it goes into a new anonymous session.
		_ = s.Destroy()
		_ = s.Put("previous", hash)
		msg = copyOf + ": refused, reported as a security event, and the session was revoked (the default): " +
			"the thief is logged out, and so are you. Log in again."
	case slices.Contains(kinds, mongosession.EventTokenReuse):
		msg = copyOf + ": refused and reported as a security event; the session was kept (KeepSessionOnReuse, " +
			"or revoking it failed: see the log)."
	case rc.retiredAgo < replayAfter+2*time.Second:
		msg = copyOf + ": refused, but not reported. It was retired too recently to tell from a slow request of " +
			"your own, sent before the rotation: the server allows 5 s. Wait a few seconds and press again."
	default:
		msg = copyOf + ": refused, but not reported: too old to be recognised as this session's (the server " +
			"remembers only the most recently retired tokens)."
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
