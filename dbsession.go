package mongosession

// The database kind: a session kept in MongoDB, the cookie holding "<id>.<token>". It carries out the
// decisions of decide.go (judge at the read, plan and rotates at the commit); it decides nothing itself.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/mongosession/mongosession/internal/store"
)

// dbSession is a session kept in the database. It is read lazily.
type dbSession struct {
	cands []dbCookie // the well-formed cookie values of the request, in header order (several: cookie tossing)
	// unread: more well-formed values came than maxCandidates; they are never read, so no new session may
	// be set over them (one of them may be the browser's real cookie).
	unread bool
	cur    int // the candidate in use (the one that validated, after the read)
	loaded bool
	st     standing // of the candidate in use, after the read
	v      verdict  // of the candidate in use, after the read
}

// dbCookie is one parsed "<id>.<token>" cookie value.
type dbCookie struct {
	id   string
	hash [32]byte // sha256 of the token: what the database holds
}

func newDBCookie(id, token string) dbCookie {
	return dbCookie{id: id, hash: sha256.Sum256(stackBytes(token, new([tokenLen]byte)))}
}

// newDBSession is the kind of a session this request just stored (created or renewed) with token.
func newDBSession(id, token string, issued time.Time) *dbSession {
	return &dbSession{cands: []dbCookie{newDBCookie(id, token)}, loaded: true, v: valid,
		st: standing{pos: posNewest, newestAt: issued}}
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

// load reads the candidates in order (one read for the usual single cookie) until one is valid or late. A
// request whose cookies all fail reads no session; the most telling verdict (superseded before the others)
// decides what its writes do. Replays are reported (and revoked) as they are met.
func (d *dbSession) load(s *Session, now time.Time) error {
	if d.loaded {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.m.opts.Timeout)
	defer cancel()
	best := -1
	for i := range d.cands {
		c := &d.cands[i]
		start := time.Now()
		res, err := s.m.store.Load(ctx, c.id, c.hash[:], now)
		s.m.event(MetricLoad)
		observe(s.m.opts.Metrics.LoadDuration, start)
		if err != nil {
			return s.m.storeErr("load session", c.id, err)
		}
		st := standingOf(res, c.hash[:], now)
		v := judge(st, s.arrived, s.detached)
		if v == valid || v == late {
			d.cur, d.loaded, d.st, d.v = i, true, st, v
			s.setRecord(res.Record)
			return nil
		}
		if v == replay {
			s.m.replayed(ctx, s, c.id, res.User, now)
		}
		if best < 0 || (v == superseded && d.v != superseded) {
			best, d.st, d.v = i, st, v
		}
	}
	d.cur, d.loaded = best, true
	if d.v == stale {
		s.m.errorKind(ErrorInvalid)
	}
	if s.fallback != nil { // a sealed cookie came too (cookie tossing); no database cookie validated
		s.becomeFallback()
	}
	return nil
}

// did is what the handler asked of the session, for the decision.
func (s *Session) did() did { return did{changes: s.dirty(), renew: s.renew} }

// plan asks the decision how this request's commit stores it.
func (d *dbSession) plan(s *Session, canSetCookie bool) write {
	candidates := len(d.cands)
	if s.fallback != nil {
		candidates++
	}
	return plan(d.loaded, d.v, s.did(), candidates, d.unread, canSetCookie)
}

// prepare reads the session when the commit needs the read first (Renew needs the data; several cookies
// need the read to pick the valid one). The read may hand the session to the sealed fallback.
func (d *dbSession) prepare(s *Session, now time.Time, canSetCookie bool) error {
	if d.plan(s, canSetCookie) == writeReadMore {
		return d.load(s, now)
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
	return d.rotates(s, now, canSetCookie) || s.m.extendDue(s.rec, now)
}

// rotates asks the decision whether this commit rotates the token.
func (d *dbSession) rotates(s *Session, now time.Time, canSetCookie bool) bool {
	return rotates(d.st, d.v, s.arrived, now, s.m.opts.TokenTTL, canSetCookie, s.detached)
}

func (d *dbSession) commit(ctx context.Context, s *Session, now time.Time, canSetCookie bool) (outcome, error) {
	w := d.plan(s, canSetCookie)
	if w == writeOnly {
		stored, err := d.writeOnly(ctx, s, now)
		if err != nil || stored {
			return keepCookie, err
		}
		w = d.plan(s, canSetCookie) // the write missed and the read tells why
	}
	switch w {
	case writeByID:
		return d.update(ctx, s, now, canSetCookie)
	case writeRenew:
		old := s.rec.ID
		o, err := s.m.renew(ctx, s, now)
		if err == nil {
			s.m.lifecycle(ctx, MetricRenew, s.rec.ID, "previous", SessionHash(old))
		}
		return o, err
	case writeCreate:
		return s.m.create(ctx, s, now)
	case writeRefuse:
		return keepCookie, ErrSuperseded
	case writeNoCookie:
		s.dropChanges()
		return keepCookie, fmt.Errorf("%w: a change to a request without a session was not stored%s", ErrHeadersSent, s.noResponse())
	case writeUnreadCand:
		s.dropChanges()
		return keepCookie, fmt.Errorf("%w: the request carried more than %d session cookies and none of those read is valid; no new session is set over the others", ErrSuperseded, maxCandidates)
	}
	return keepCookie, nil
}

// writeOnly commits the changes of a request that did not read: the write's filter checks the token and the
// expiry itself. It does not rotate (the token list is unknown without a read). When the write matches
// nothing, it reads, so that the decision can tell a late token (stored by _id), a superseded one (refused)
// and a stale one (a new session) apart. It reports whether the changes were stored.
func (d *dbSession) writeOnly(ctx context.Context, s *Session, now time.Time) (bool, error) {
	c := d.cookie()
	out, err := s.m.store.Commit(ctx, &store.Commit{ID: c.id, Now: now, AuthHash: c.hash[:],
		Changes: s.view.changes, User: s.user, Remember: s.remember})
	if err != nil {
		return false, s.m.storeErr("commit", c.id, err)
	}
	if out != store.Gone {
		s.view.changes, s.user, s.remember = nil, nil, nil
		return true, nil
	}
	return false, d.load(s, now)
}

// update commits a session this request has read: changes, rotation and deadline extension in one write
// command, all or nothing. The read authenticated the request, so the write filters on _id alone.
func (d *dbSession) update(ctx context.Context, s *Session, now time.Time, canSetCookie bool) (outcome, error) {
	rec := s.rec
	rotate := d.rotates(s, now, canSetCookie)
	if canSetCookie && d.v == valid && d.st.pos == posNewest && s.remember != nil &&
		s.m.persistent(s.remember) != s.m.persistent(rec.Remember) {
		rotate = true // the new cookie carries the new choice (only the newest token's holder rotates)
	}
	extend := s.m.extendDue(rec, now)
	c := &store.Commit{ID: rec.ID, Now: now, Changes: s.view.changes, User: s.user, Remember: s.remember}
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
	d.cands[d.cur] = newDBCookie(rec.ID, token)
	d.st = standing{pos: posNewest, newestAt: n.Newest().At}
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
		n.Tokens, n.Retired, n.Parent = c.Rotate.Tokens, c.Rotate.Retired, c.Rotate.Parent
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
