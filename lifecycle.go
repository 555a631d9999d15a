package mongosession

// The commit and the moves between kinds: creating a session, renewing it, moving it from the cookie to the
// database. The kind a session has changes only here (become) and when a read hands a request to its sealed
// fallback cookie (becomeFallback).

import (
	"context"
	"fmt"
	"time"

	"github.com/mongosession/mongosession/internal/store"
)

// tombstoneLife is how long a renewed session's tombstone is kept. A request is judged by when it arrived
// (superseded if it arrived less than inFlightAllowance after the renewal, stale after), but it may read its
// session long after it arrived (a slow handler, a long poll): the tombstone must still be there to tell.
const tombstoneLife = 10 * time.Minute

// commit writes the request's changes once (and, after the headers went out, again for later changes). It
// returns what to do with the cookie; canSetCookie tells whether a cookie can still reach the client.
func (s *Session) commit(canSetCookie bool) (outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return keepCookie, s.err
	}
	now := s.m.now()
	if err := s.kind.prepare(s, now, canSetCookie); err != nil {
		return keepCookie, err
	}
	if s.destroyed == nil && !s.kind.due(s, now, canSetCookie) {
		return keepCookie, nil // untouched, or nothing due: no database work, so no context either
	}
	// The commit must finish even if the client goes away: a cancelled write leaves an unknown state.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.m.opts.Timeout)
	defer cancel()
	s.m.event(MetricCommit)
	defer observe(s.m.opts.Metrics.CommitDuration, time.Now())
	o, err := s.commitDue(ctx, now, canSetCookie)
	if err != nil {
		s.m.failed(ctx, err)
	}
	return o, err
}

// commitDue is the commit of a session that has work to do.
func (s *Session) commitDue(ctx context.Context, now time.Time, canSetCookie bool) (outcome, error) {
	o := keepCookie
	if s.destroyed != nil {
		if err := s.destroyed.end(ctx, s); err != nil {
			return keepCookie, err
		}
		s.m.lifecycle(ctx, MetricDestroy, s.destroyed.id())
		s.destroyed, o = nil, clearCookie
	}
	next, err := s.kind.commit(ctx, s, now, canSetCookie)
	if err != nil || next.op == opKeep {
		return o, err
	}
	return next, nil
}

// noSession is the kind of a request without a usable session: its first write creates one.
type noSession struct{}

func (noSession) load(*Session, time.Time) error          { return nil }
func (noSession) prepare(*Session, time.Time, bool) error { return nil }
func (noSession) due(s *Session, _ time.Time, _ bool) bool {
	return s.dirty()
}
func (noSession) commit(ctx context.Context, s *Session, now time.Time, canSetCookie bool) (outcome, error) {
	if !canSetCookie && (len(s.view.changes) > 0 || userLinked(s)) {
		s.dropChanges()
		return keepCookie, fmt.Errorf("%w: a change to a request without a session was not stored%s", ErrHeadersSent, s.noResponse())
	}
	return s.m.create(ctx, s, now)
}
func (noSession) end(context.Context, *Session) error { return nil }
func (noSession) id() string                          { return "" }
func (noSession) mode(*Session) Mode                  { return ModeNone }
func (noSession) storesWithoutCookie(*Session) bool   { return false }

// create stores a request's changes as a new session: sealed in the cookie (StartInCookie, unless the session
// is to be in the database) or one insert. The caller made sure a cookie can carry it.
func (m *Manager) create(ctx context.Context, s *Session, now time.Time) (outcome, error) {
	if len(s.view.changes) == 0 && !userLinked(s) {
		s.user, s.remember = nil, nil
		return keepCookie, nil // nothing to store
	}
	var o outcome
	var err error
	if m.sealer != nil && m.opts.StartInCookie && !s.promote && !s.renew && !userLinked(s) {
		o, err = m.seal(ctx, s, now)
	} else {
		o, err = m.createSession(ctx, s, now, false)
	}
	if err == nil {
		m.lifecycle(ctx, MetricCreate, s.kind.id(), "mode", s.kind.mode(s).String())
	}
	return o, err
}

// userLinked reports whether the session is (or is about to be) linked to a user. Such a session lives in the
// database, where Sessions, RevokeUser and Revoke can reach it.
func userLinked(s *Session) bool {
	if s.user != nil {
		return *s.user != ""
	}
	return s.rec != nil && s.rec.User != ""
}

// createSession stores everything this request sees as a new database session (one insert) and points s at
// it. The session it replaces, if any (s.rec: renewed or moved from the cookie), passes on its user link and,
// with keepAbsolute, its creation time and absolute deadline.
func (m *Manager) createSession(ctx context.Context, s *Session, now time.Time, keepAbsolute bool) (outcome, error) {
	token := newToken()
	now = now.Truncate(time.Millisecond) // what BSON keeps
	rec := &store.Record{
		ID:       newID(),
		Tokens:   []store.Token{{Hash: hashToken(token), At: now}},
		Data:     s.view.all(),
		Created:  now,
		Absolute: now.Add(m.opts.Lifetime),
	}
	if old := s.rec; old != nil {
		rec.User, rec.Remember = old.User, old.Remember
		if keepAbsolute {
			rec.Created, rec.Absolute = old.Created, old.Absolute
		}
	}
	if s.user != nil {
		rec.User = *s.user
	}
	if s.remember != nil {
		rec.Remember = s.remember
	}
	rec.Expires = m.deadline(now, rec.Absolute)
	if m.opts.RecordClientInfo {
		ci := m.clientInfo(s.req, now)
		rec.Client = &ci
	}
	if err := m.store.Insert(ctx, rec); err != nil {
		return keepCookie, m.storeErr("create session", rec.ID, err)
	}
	s.become(newDBSession(rec.ID, token, now), rec)
	s.view.changes, s.user, s.remember, s.renew, s.promote = nil, nil, nil, false, false
	return m.setCookie(cookieValue(rec.ID, token), rec), nil
}

// moveToDatabase moves a cookie-mode session to the database (Promote, Renew, a user link, or a session that
// outgrew its cookie: why says which, for the log): one insert, a database cookie. fresh restarts the
// Lifetime (Renew); otherwise the session keeps its creation time and absolute deadline. A new session that
// does not fit in a cookie starts in the database the same way (not counted as a move: it was never in one).
func (m *Manager) moveToDatabase(ctx context.Context, s *Session, now time.Time, fresh bool, why string) (outcome, error) {
	moving := s.rec != nil
	o, err := m.createSession(ctx, s, now, !fresh)
	if err != nil {
		return keepCookie, fmt.Errorf("mongosession: move session to the database: %w", err)
	}
	if moving {
		m.lifecycle(ctx, MetricMove, s.kind.id(), "why", why)
	}
	return o, nil
}

// renew moves a database session to a new id and token: insert the new session, then supersede the old one
// (a tombstone for requests in flight, and the old document removed as it was). Changes that parallel
// requests stored after this one read are carried over; if the old session was destroyed meanwhile, logout
// wins and the new one is removed again.
func (m *Manager) renew(ctx context.Context, s *Session, now time.Time) (outcome, error) {
	old := s.rec
	changes, user := s.view.changes, s.user
	o, err := m.createSession(ctx, s, now, false) // Renew restarts the Lifetime
	if err != nil {
		return keepCookie, fmt.Errorf("mongosession: renew: %w", err)
	}
	retired := make([]store.Token, 0, len(old.Tokens)+len(old.Retired))
	retired = append(retired, old.Retired...)
	for _, t := range old.Tokens {
		retired = append(retired, store.Token{Hash: t.Hash, At: now})
	}
	final, err := m.store.Supersede(ctx, old.ID, retired, now.Add(tombstoneLife))
	if err != nil {
		return keepCookie, m.storeErr("renew: retire the old session", old.ID, err)
	}
	created := s.rec
	if final == nil {
		if _, err := m.store.Delete(ctx, created.ID); err != nil {
			return keepCookie, m.storeErr("renew: remove the new session", created.ID, err)
		}
		return keepCookie, ErrSuperseded
	}
	if sameData(final.Data, old.Data) && final.User == old.User {
		return o, nil
	}
	if err := m.carryOver(ctx, s, final, changes, user, now); err != nil {
		return keepCookie, err
	}
	return o, nil
}

// carryOver stores in the renewed session (s.rec) what parallel requests changed in the old one after this
// request read it (final is the old session as it was removed), with this request's own changes on top.
func (m *Manager) carryOver(ctx context.Context, s *Session, final *store.Record, changes map[string]store.Change, user *string, now time.Time) error {
	created := s.rec
	merged := view{stored: final.Data, changes: changes}
	data := merged.all()
	c := &store.Commit{ID: created.ID, Now: now, Changes: map[string]store.Change{}}
	for k, v := range data {
		c.Changes[k] = store.Change{Op: store.OpSet, Value: v}
	}
	for k := range created.Data {
		if _, ok := data[k]; !ok {
			c.Changes[k] = store.Change{Op: store.OpUnset}
		}
	}
	if user == nil && final.User != created.User {
		c.User = &final.User
	}
	if _, err := m.store.Commit(ctx, c); err != nil {
		return m.storeErr("renew: carry parallel changes over", created.ID, err)
	}
	n := *created
	n.Data = data
	if c.User != nil {
		n.User = *c.User
	}
	s.setRecord(&n)
	return nil
}

// extendDue reports whether a commit of rec at now extends its deadline (once it has drifted by more than a
// tenth of IdleTimeout). The fast path (dbSession.due) and the write (dbSession.update) both ask it.
func (m *Manager) extendDue(rec *store.Record, now time.Time) bool {
	return m.deadline(now, rec.Absolute).Sub(rec.Expires) > m.opts.IdleTimeout/10
}

// deadline is the expiry a write at now sets: the idle deadline, never past the absolute one (so a write
// after a successful read needs no expiry in its filter).
func (m *Manager) deadline(now, absolute time.Time) time.Time {
	return minTime(now.Add(m.opts.IdleTimeout), absolute).Truncate(time.Millisecond)
}

// retiredKept bounds the list of retired token hashes kept per session.
const retiredKept = 8

// rotation adds a new token and retires the oldest ones beyond TokensKept, but never the token this request
// presented: if the new cookie never reaches the browser (a late acknowledgement, a lost response), the
// browser's token must still be accepted, and its holder may rotate again (it is the new token's parent).
func (m *Manager) rotation(rec *store.Record, presented, newHash []byte, now time.Time) *store.Rotation {
	now = now.Truncate(time.Millisecond)
	tokens := append(append(make([]store.Token, 0, len(rec.Tokens)+1), rec.Tokens...), store.Token{Hash: newHash, At: now})
	retired := append([]store.Token(nil), rec.Retired...)
	for len(tokens) > m.opts.TokensKept {
		i := 0
		if string(tokens[0].Hash) == string(presented) {
			i = 1
		}
		retired = append(retired, store.Token{Hash: tokens[i].Hash, At: now})
		tokens = append(tokens[:i], tokens[i+1:]...)
	}
	if len(retired) > retiredKept {
		retired = retired[len(retired)-retiredKept:]
	}
	return &store.Rotation{ExpectNewest: rec.Newest().Hash, Tokens: tokens, Retired: retired, Parent: presented}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// become makes k, storing rec, the session's kind: after a create, a renewal, a move or a seal.
func (s *Session) become(k kind, rec *store.Record) {
	s.kind = k
	s.setRecord(rec)
}

// becomeFallback hands a request whose database cookies all failed to the sealed cookie it also carried.
func (s *Session) becomeFallback() {
	s.kind, s.fallback = s.fallback, nil
	_ = s.kind.load(s, s.m.now())
}

// dropChanges forgets what the request changed (it cannot be stored).
func (s *Session) dropChanges() {
	s.view.changes, s.user, s.remember = nil, nil, nil
}
