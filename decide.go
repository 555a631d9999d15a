package mongosession

// The token model as one pure decision (docs/design.md, "The token model"): from what the store holds for the
// presented id and token, when the request arrived, what its handler did, whether a cookie can still be sent
// and whether the load is detached, to what happens: read or not, rotate or not, write by _id, write-only,
// create, renew or refuse, the cookie, the event and the revocation. No I/O and no clock read: the session
// kinds (dbsession.go, lifecycle.go) carry the decision out, and model_test.go drives it through the
// interleavings of a browser, a thief, a store and a clock, checking the invariants I1-I5 after every step.

import (
	"crypto/subtle"
	"time"

	"github.com/mongosession/mongosession/internal/store"
)

// inFlightAllowance is the one timing assumption of the model: a request reaches the server, and a response
// the browser, within this long after it left (or never), and application servers' clocks differ by less. A
// token retired less than this before a request arrived was valid when the request was sent.
const inFlightAllowance = 5 * time.Second

// reissueAfter is how long a rotation's new token may go unused before the holder of the token it replaced
// may rotate again: by then the new cookie has reached the browser or was lost (twice the allowance: the
// response's travel, then the next request's).
const reissueAfter = 2 * inFlightAllowance

// position is where the presented token stands in what the store holds for the presented id.
type position uint8

const (
	posNone    position = iota // no live session by that id, or a token it never held (never issued, expired, destroyed)
	posNewest                  // the newest accepted token
	posParent                  // an accepted token: the one presented by the rotation that issued the newest
	posKept                    // another accepted token
	posRetired                 // retired by a rotation, at standing.at
	posRenewed                 // its session was renewed under a new id (login), at standing.at
)

// standing is what the store holds for a presented token: the input of the decision that a read provides.
type standing struct {
	pos      position
	at       time.Time // posRetired, posRenewed: when the token was retired
	newestAt time.Time // accepted positions: when the newest token was issued
}

// standingOf places the presented token hash in what Load returned. A live session past its absolute
// deadline is none: expiry is checked on the document, whatever a TTL monitor did or did not remove.
func standingOf(res store.Loaded, hash []byte, now time.Time) standing {
	switch res.Status {
	case store.Renewed:
		return standing{pos: posRenewed, at: res.RetiredAt}
	case store.Found, store.Retired:
	default:
		return standing{}
	}
	rec := res.Record
	if rec == nil || !rec.Absolute.After(now) || !rec.Expires.After(now) {
		return standing{}
	}
	if res.Status == store.Retired {
		return standing{pos: posRetired, at: res.RetiredAt, newestAt: rec.Newest().At}
	}
	st := standing{pos: posKept, newestAt: rec.Newest().At}
	switch {
	case subtle.ConstantTimeCompare(rec.Newest().Hash, hash) == 1:
		st.pos = posNewest
	case len(rec.Parent) > 0 && subtle.ConstantTimeCompare(rec.Parent, hash) == 1:
		st.pos = posParent
	}
	return st
}

// verdict is what a read makes of a presented token.
type verdict uint8

const (
	// stale: no session (never issued, expired, destroyed, revoked, or renewed away before the request was
	// sent). The request reads nothing; a write starts a new session.
	stale verdict = iota
	// valid: an accepted token. The request reads its session and may rotate.
	valid
	// late: a token retired less than the allowance before the request arrived: valid when sent. The request
	// reads its session but never rotates (its cookie would replace the browser's newer one).
	late
	// superseded: the session was renewed (login) less than the allowance before the request arrived. The
	// request reads nothing (I2: a pre-login value never reaches the renewed session), gets no cookie (the
	// login's is on its way), and its writes fail with ErrSuperseded.
	superseded
	// replay: a token retired before the request was sent: a copy used after its holder moved on. Reported,
	// and the session revoked unless KeepSessionOnReuse; then it is stale.
	replay
)

// sentBefore reports whether a request that arrived at arrived was sent before at (give or take the
// allowance): whatever happened to its token at that time happened while the request was on its way.
func sentBefore(at, arrived time.Time) bool {
	return at.After(arrived.Add(-inFlightAllowance))
}

// judge is the read half of the decision. A detached load (Manager.Load, LoadCookie, LoadID) never reports
// or revokes (I5): it may run long after its request, with a value kept since.
func judge(st standing, arrived time.Time, detached bool) verdict {
	switch st.pos {
	case posNewest, posParent, posKept:
		return valid
	case posRetired:
		switch {
		case sentBefore(st.at, arrived):
			return late
		case detached:
			return stale
		}
		return replay
	case posRenewed:
		if sentBefore(st.at, arrived) {
			return superseded
		}
	}
	return stale
}

// rotates reports whether a request that read its session rotates the token (I4: forks are detected). Only
// the holder of the newest token rotates, once it is TokenTTL old: a party holding an older token cannot
// rotate, so when two parties use one session, one chain of tokens goes on and the other party's token is
// retired within TokensKept rotations; its next use is a replay. The one exception is a rotation whose
// cookie never arrived (a lost response): a request that presents the token the newest one replaced, and
// arrived more than reissueAfter after the newest was issued, was sent after the new cookie would have
// arrived, so it never did (or the sender is another party): it rotates again. A request that cannot send a
// cookie (headers gone, hijacked, detached) never rotates.
func rotates(st standing, v verdict, arrived, now time.Time, ttl time.Duration, canSetCookie, detached bool) bool {
	if v != valid || !canSetCookie || detached {
		return false
	}
	switch st.pos {
	case posNewest:
		return now.Sub(st.newestAt) >= ttl
	case posParent:
		return arrived.Sub(st.newestAt) > reissueAfter && now.Sub(st.newestAt) >= ttl
	}
	return false
}

// did is what a request's handler asked of its session, as the commit sees it.
type did struct {
	changes bool // Put, Delete, Incr, Clear, SetUser, RememberMe: something to store
	renew   bool // Renew (or a cookie-mode session moving to the database)
}

// write is how a commit stores a database session's request.
type write uint8

const (
	writeNothing    write = iota
	writeOnly             // no read: the write's filter checks the token and the expiry itself; no rotation
	writeByID             // after a read: filter _id alone (the read authenticated the request)
	writeCreate           // a new session (one insert), a new cookie
	writeRenew            // a new id and token, the old id superseded, a new cookie
	writeRefuse           // ErrSuperseded: nothing stored, no cookie
	writeReadMore         // read first: Renew needs the data; several cookies need the read to pick one
	writeNoCookie         // a new session is needed but no cookie can carry it: ErrHeadersSent
	writeUnreadCand       // a new session is needed but a cookie of ours went unread: refused, no cookie (item 7)
)

// plan is the commit half of the decision for a database cookie. read tells whether the session was read,
// v the verdict of the read, unread whether well-formed cookies of ours were left unread (more than
// maxCandidates): no new session may be set over them.
func plan(read bool, v verdict, d did, candidates int, unread, canSetCookie bool) write {
	if !read {
		switch {
		case !d.changes && !d.renew:
			return writeNothing
		case d.renew || candidates > 1 || unread:
			return writeReadMore
		}
		return writeOnly
	}
	switch v {
	case valid, late:
		if d.renew {
			return writeRenew
		}
		return writeByID
	case superseded:
		if d.changes || d.renew {
			return writeRefuse
		}
		return writeNothing
	}
	// stale, or a replay (revoked, or kept with KeepSessionOnReuse): no session to write to.
	switch {
	case !d.changes && !d.renew:
		return writeNothing
	case unread:
		return writeUnreadCand
	case !canSetCookie:
		return writeNoCookie
	}
	return writeCreate
}
