package mongosession

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/mongosession/mongosession/internal/store"
)

// dbSession is a session kept in the database; the cookie holds "<id>.<token>". It is read lazily.
type dbSession struct {
	cands  []dbCookie // the cookie values of the request, in header order (more than one: cookie tossing)
	cur    int        // the candidate in use (the one that validated, after the read)
	loaded bool
	status store.Status // after the read
	// late: the request's token was retired after the request was sent (a slow request, a long poll). The
	// session is still this request's, but it must not rotate: its cookie would replace the browser's newer one.
	late bool
}

// dbCookie is one parsed "<id>.<token>" cookie value.
type dbCookie struct {
	id   string
	hash [32]byte // sha256 of the token: what the database holds
}

func newDBCookie(id, token string) dbCookie {
	return dbCookie{id: id, hash: sha256.Sum256(stackBytes(token, new([tokenLen]byte)))}
}

func (d *dbSession) cookie() *dbCookie { return &d.cands[d.cur] }

func (d *dbSession) id() string { return d.cookie().id }

func (d *dbSession) mode(s *Session) Mode {
	if d.loaded && s.rec == nil {
		return ModeNone
	}
	return ModeDatabase
}

// storesWithoutCookie: an existing database session takes changes after the headers went out (no cookie
// needed); a cookie that turned out to name none cannot.
func (d *dbSession) storesWithoutCookie(s *Session) bool { return !d.loaded || s.rec != nil }

// load reads the candidates in order (one read for the usual single cookie) until one validates. A request
// whose cookies all fail reads no session; the best of their answers (superseded before stale) decides what
// its writes do.
func (d *dbSession) load(s *Session, now time.Time) error {
	if d.loaded {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.m.opts.Timeout)
	defer cancel()
	best := -1
	var bestRes store.Loaded
	for i := range d.cands {
		c := &d.cands[i]
		start := time.Now()
		res, err := s.m.store.Load(ctx, c.id, c.hash[:], now)
		s.m.event(MetricLoad)
		observe(s.m.opts.Metrics.LoadDuration, start)
		if err != nil {
			return s.m.storeErr("load session", c.id, err)
		}
		if res.Status == store.Found && res.Record.Absolute.After(now) {
			d.cur, d.loaded, d.status = i, true, store.Found
			s.setRecord(res.Record)
			return nil
		}
		if res.Status == store.Retired && s.m.sentBefore(s, res.RetiredAt) && res.Record.Absolute.After(now) {
			d.cur, d.loaded, d.status, d.late = i, true, store.Found, true
			s.setRecord(res.Record)
			return nil
		}
		if res.Status == store.Found || res.Status == store.Retired {
			res.Record = nil // expired, or a token retired before the request was sent
		}
		if res.Status == store.Found {
			res = store.Loaded{} // past its absolute deadline: expired
		}
		if best < 0 || res.Status > bestRes.Status {
			best, bestRes = i, res
		}
	}
	d.cur, d.loaded, d.status = best, true, bestRes.Status
	if d.status == store.Renewed && !s.m.sentBefore(s, bestRes.RetiredAt) {
		// Renewed before this request was sent: the browser never got the renewed cookie (the login's
		// response was lost, or its outcome unknown), or this is a copy of the pre-login cookie. Either way it
		// opens nothing; it is stale, not outdated, so a write may start a new session instead of being
		// refused until the tombstone expires.
		d.status = store.Missing
	}
	switch d.status {
	case store.Missing:
		s.m.errorKind(ErrorInvalid)
	case store.Retired: // retired by a rotation before the request was sent: a replay
		s.m.tokenRetired(ctx, s, d.cookie().id, bestRes, now)
	}
	if s.fallback != nil { // a sealed cookie came too (cookie tossing); no database cookie validated
		s.kind, s.fallback = s.fallback, nil
		return s.kind.load(s, now)
	}
	return nil
}

// due is the fast path: an untouched request, or one that only read and has nothing to rotate or extend,
// commits nothing (and needs no context).
func (d *dbSession) due(s *Session, now time.Time, canSetCookie bool) bool {
	if s.dirty() || s.renew {
		return true
	}
	if !d.loaded || s.rec == nil {
		return false
	}
	rotate, extend := s.m.touchDue(s.rec, now, canSetCookie && !d.late)
	return rotate || extend
}

func (d *dbSession) commit(ctx context.Context, s *Session, now time.Time, canSetCookie bool) (outcome, error) {
	if !d.loaded && (s.renew || len(d.cands) > 1) {
		// Renew needs the session's data; several candidates need the read to pick the valid one.
		if err := d.load(s, now); err != nil {
			return keepCookie, err
		}
		if s.kind != d {
			return s.kind.commit(ctx, s, now, canSetCookie)
		}
	}
	switch {
	case !d.loaded:
		return d.writeOnly(ctx, s, now, canSetCookie)
	case d.status == store.Found && s.renew:
		old := s.rec.ID
		o, err := s.m.renew(ctx, s, now)
		if err == nil {
			s.m.lifecycle(ctx, MetricRenew, s.rec.ID, "previous", SessionHash(old))
		}
		return o, err
	case d.status == store.Found:
		return d.update(ctx, s, now, canSetCookie)
	case d.status == store.Missing:
		// Stale (expired, destroyed, never issued): it reads as no session, and a write starts a new one.
		stale, changes, user, remember := *d.cookie(), s.view.changes, s.user, s.remember
		o, err := s.m.create(ctx, s, now, canSetCookie)
		if err != nil || o.op != opSet || s.kind.mode(s) != ModeDatabase {
			return o, err
		}
		return s.m.converge(ctx, s, stale, &store.Commit{Now: now, Changes: changes, User: user, Remember: remember}, o)
	}
	// Superseded: the session moved on (rotation, Renew). Its changes are not stored and it gets no cookie:
	// a new session here would overwrite the browser's newer cookie.
	if s.dirty() || s.renew {
		return keepCookie, ErrSuperseded
	}
	return keepCookie, nil
}

// writeOnly commits the changes of a request that did not read: the write's filter checks the token and the
// expiry itself. It does not rotate (the token list is unknown without a read). Only when the write matches
// nothing does it read, to tell a superseded cookie (an error) from a stale one (a new session).
func (d *dbSession) writeOnly(ctx context.Context, s *Session, now time.Time, canSetCookie bool) (outcome, error) {
	c := d.cookie()
	out, err := s.m.store.Commit(ctx, &store.Commit{ID: c.id, Now: now, AuthHash: c.hash[:],
		Changes: s.view.changes, User: s.user, Remember: s.remember})
	if err != nil {
		return keepCookie, s.m.storeErr("commit", c.id, err)
	}
	if out != store.Gone {
		s.view.changes, s.user, s.remember = nil, nil, nil
		return keepCookie, nil
	}
	if err := d.load(s, now); err != nil {
		return keepCookie, err
	}
	if d.status == store.Found && !d.late { // the filter missed but the read finds it: it changed in between
		d.status = store.Missing
		s.setRecord(nil)
	}
	// A token retired after the request was sent reads its session (late): its changes go in by _id.
	return s.kind.commit(ctx, s, now, canSetCookie)
}

// update commits a session this request has read: changes, rotation and deadline extension in one write
// command, all or nothing. The read authenticated the request, so the write filters on _id alone.
func (d *dbSession) update(ctx context.Context, s *Session, now time.Time, canSetCookie bool) (outcome, error) {
	rec := s.rec
	rotate, extend := s.m.touchDue(rec, now, canSetCookie && !d.late)
	c := &store.Commit{ID: rec.ID, Now: now, Changes: s.view.changes, User: s.user, Remember: s.remember}
	if canSetCookie && s.remember != nil && s.m.persistent(s.remember) != s.m.persistent(rec.Remember) {
		rotate = true // the new cookie carries the new choice
	}
	if s.dirty() || rotate || extend {
		c.Expires = s.m.deadline(now, rec.Absolute)
	}
	if s.m.opts.RecordClientInfo && s.dirty() && s.req != nil { // LoadCookie and LoadID know no client
		ci := s.m.clientInfo(s.req, now)
		c.Client = &ci
	}
	var token string
	if rotate {
		token = newToken()
		c.Rotate = s.m.rotation(rec, d.cookie().hash[:], hashToken(token), now)
	}
	if !c.HasChanges() && c.Rotate == nil && c.Expires.IsZero() {
		return keepCookie, nil
	}
	out, err := s.m.store.Commit(ctx, c)
	if err != nil && !s.dirty() {
		// Only a rotation or a deadline extension failed: nothing the handler changed is lost, and the
		// browser's token stays accepted whatever became of the rotation. The read the handler made stands.
		s.m.opts.Logger.Warn("mongosession: rotating the token failed; the response goes out without a new cookie",
			"err", s.m.storeErr("rotate", rec.ID, err))
		return keepCookie, nil
	}
	if err != nil {
		return keepCookie, s.m.storeErr("commit", rec.ID, err)
	}
	if out == store.Gone && s.dirty() {
		// Destroyed or renewed while this request ran: logout and login win, the changes go with the session.
		return keepCookie, ErrSuperseded
	}
	n := s.committed(c, out == store.Rotated)
	if out != store.Rotated {
		return keepCookie, nil
	}
	s.m.lifecycle(ctx, MetricRotate, rec.ID)
	return s.m.setCookie(cookieValue(rec.ID, token), n), nil
}

// committed makes what commit c stored (the changes; the rotation, if rotated) the session's record.
func (s *Session) committed(c *store.Commit, rotated bool) *store.Record {
	s.view.committed()
	n := *s.rec
	n.Data = s.view.stored
	if s.user != nil {
		n.User = *s.user
	}
	if s.remember != nil {
		n.Remember = s.remember
	}
	if !c.Expires.IsZero() {
		n.Expires = c.Expires
	}
	if rotated {
		n.Tokens, n.Retired = c.Rotate.Tokens, c.Rotate.Retired
	}
	s.user, s.remember = nil, nil
	s.setRecord(&n)
	return &n
}

func (d *dbSession) end(ctx context.Context, s *Session) error {
	if _, err := s.m.store.Delete(ctx, d.id()); err != nil {
		return s.m.storeErr("destroy session", d.id(), err)
	}
	return nil
}
