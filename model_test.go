package mongosession

// The model check of the token model (docs/design.md, "The token model"): the real decision (decide.go:
// standingOf, judge, rotates, plan) and the real rotation (Manager.rotation), driven by a model of the store
// (single-document atomic operations, as MongoStore and memstore keep them: a read, a commit that rotates only
// if the newest token is still the one read, a renewal that leaves a tombstone, a delete) and of actors (a
// browser with parallel requests whose responses arrive in any order or are lost; a thief who plants a value
// at the start or copies the browser's cookie at any moment and then keeps what he is sent; an operator's
// RevokeUser; the clock passing TokenTTL, the in-flight allowance and the re-issue time) through every
// interleaving up to a bound, breadth first, so that the first violation found has a shortest trace. The
// invariants I1-I5 are checked after every step.
//
// Bounds (TestTokenModel), for TokensKept 2 and 3; the thief's request is one step (load, commit, answer or
// not), the browser's three (load; commit, with the answer when it carries no cookie; the answer arrives or is
// lost, within the allowance of its commit: the model's one timing assumption, docs/design.md):
//   - safety, from a logged-in browser: the browser sends 2 requests and the thief 1 (read, increment, login,
//     logout), 2 in flight, the thief copies at any moment, RevokeUser, detached loads, the clock moves once
//     by 5 s (TokenTTL), 6 s (past the allowance) or 11 s (past the re-issue time): 389,748 states;
//   - safety, from a value the thief planted (the same bound, without RevokeUser): 37,817 states;
//   - reads: the browser alone, 3 parallel reads (2 in flight), the clock moving 4 times: 422,045 and 435,368;
//   - fork, from a cookie the thief has just copied: 5 reads of the browser, 2 of the thief, the clock moving
//     5 times by 5 s or 6 s, long enough for TokensKept+1 rotations and a use by each party after them:
//     288,287 and 294,218 states.
//
// About 2.3 million states, 20 s without -race. Deeper bounds: MODEL_B, MODEL_T, MODEL_M (safety), MODEL_RB,
// MODEL_RM (reads), MODEL_FB, MODEL_FT, MODEL_FM (fork); MODEL_PROGRESS=1 with -v prints each level. The
// check fails as it should: letting any accepted token rotate is an I4 violation (kept=3, fork), and judging
// the re-issue by the commit's time instead of the request's arrival an I1 violation (kept=2, reads).

import (
	"fmt"
	"hash/maphash"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession/internal/store"
)

const (
	mTTL       = 5 // TokenTTL in the model, seconds
	mMaxIDs    = 7 // session ids 1..6
	mMaxTok    = 4 // accepted tokens kept per document (TokensKept ≤ 3, plus one during a rotation)
	mMaxRet    = 9 // retired tokens per document or tombstone (retiredKept 8, plus the accepted ones at a renewal)
	mMaxReqs   = 3 // requests in flight at once
	mBrowser   = 0
	mThief     = 1
	mNoSession = 0
)

// Operations a request's handler performs.
const (
	opRead   uint8 = iota + 1 // Get
	opIncr                    // Incr: a read and a change
	opLogin                   // SetUser + Renew
	opLogout                  // Destroy
)

var opNames = [...]string{"", "read", "incr", "login", "logout"}

type mTok struct {
	h  uint8 // the token (its hash in the store)
	at int8  // issued (accepted) or retired (retired) at, seconds
}

type mDoc struct {
	live, tomb bool // a session; a renewal's tombstone
	user       uint8
	n          uint8 // the counter the increments add to
	parent     uint8
	nt, nr     uint8
	tok        [mMaxTok]mTok
	ret        [mMaxRet]mTok
	login      int8 // the step whose login created it (-1: not a login)
	loginBy    uint8
}

type mValue struct{ id, h uint8 }

type mReq struct {
	used     bool
	party    uint8
	op       uint8
	val      mValue
	arrived  int8
	phase    uint8
	v        verdict
	st       position
	newestAt int8
	readTok  [mMaxTok]mTok // the accepted tokens as read (a renewal retires these)
	readNT   uint8
	readRet  [mMaxRet]mTok
	readNR   uint8
	done     int8   // when it committed: its answer arrives within the allowance, or never
	set      mValue // the response's cookie
	clear    bool
	ok       bool
	incr     bool // the response acknowledges an increment of the session it read
	lineage  uint8
}

// mState is the whole world: comparable, so that the search can remember where it has been.
type mState struct {
	now             int8
	epoch           int8 // moves on at each copy and each login, to order them
	docs            [mMaxIDs]mDoc
	nextID, nextTok uint8
	jar             [2]mValue
	reqs            [mMaxReqs]mReq
	sent            [2]uint8
	moves           uint8
	copied, revoked bool
	thiefSince      int8 // the epoch the thief got a value of the browser's (copy or plant)
	forkID          uint8
	replays         uint8
	thiefEnded      bool  // the thief renewed or destroyed the browser's session (he held a valid token)
	viol            uint8 // a violation a step itself noticed: 2 for I2
	// What the browser may expect: logged in to lineage (a session id) with acked increments in it.
	lineage  uint8
	acked    uint8
	residual bool // the late-rotation case docs/design.md states (item 6)
	forkRot  uint8
	armedAt  int8
	seen     [2]bool
}

// mWorld runs steps on states with a manager's options (TokensKept) and the real decision, within a bound.
type mWorld struct {
	m    *Manager
	base time.Time
	kept int
	mBound
}

// mBound bounds a search.
type mBound struct {
	sends    [2]uint8 // requests each party sends at most
	inFlight int      // requests in flight at once
	moves    uint8    // clock moves
	deltas   []int8   // by how much the clock may move
	ops      []uint8  // what a request may do
	admin    bool     // RevokeUser and detached loads
}

func (w *mWorld) t(sec int8) time.Time { return w.base.Add(time.Duration(sec) * time.Second) }

func hashOf(h uint8) []byte { return []byte{h} }

func (w *mWorld) record(id uint8, d *mDoc) *store.Record {
	rec := &store.Record{ID: fmt.Sprint(id), User: fmt.Sprint(d.user), Absolute: w.t(120), Expires: w.t(120)}
	for _, t := range d.tok[:d.nt] {
		rec.Tokens = append(rec.Tokens, store.Token{Hash: hashOf(t.h), At: w.t(t.at)})
	}
	for _, t := range d.ret[:d.nr] {
		rec.Retired = append(rec.Retired, store.Token{Hash: hashOf(t.h), At: w.t(t.at)})
	}
	if d.parent != 0 {
		rec.Parent = hashOf(d.parent)
	}
	return rec
}

// load is the store's Load, as memstore and MongoStore answer it.
func (w *mWorld) load(s *mState, v mValue) store.Loaded {
	if v.id == 0 {
		return store.Loaded{}
	}
	d := &s.docs[v.id]
	switch {
	case d.live:
		for _, t := range d.tok[:d.nt] {
			if t.h == v.h {
				return store.Loaded{Status: store.Found, Record: w.record(v.id, d)}
			}
		}
		for _, t := range d.ret[:d.nr] {
			if t.h == v.h {
				return store.Loaded{Status: store.Retired, RetiredAt: w.t(t.at), Record: w.record(v.id, d)}
			}
		}
	case d.tomb:
		for _, t := range d.ret[:d.nr] {
			if t.h == v.h {
				return store.Loaded{Status: store.Renewed, RetiredAt: w.t(t.at)}
			}
		}
	}
	return store.Loaded{}
}

func (w *mWorld) newDoc(s *mState, user uint8, n uint8, loginBy uint8) (uint8, uint8, bool) {
	if s.nextID >= mMaxIDs {
		return 0, 0, false
	}
	id, h := s.nextID, s.nextTok
	s.nextID++
	s.nextTok++
	d := mDoc{live: true, user: user, n: n, nt: 1, login: -1}
	d.tok[0] = mTok{h: h, at: s.now}
	if user != 0 {
		s.epoch++
		d.login, d.loginBy = s.epoch, loginBy
	}
	s.docs[id] = d
	return id, h, true
}

// A step: what happened, and the state after it (ok false: the step is not possible here).
type mStep struct {
	label string
	next  mState
}

func (w *mWorld) steps(s mState) []mStep {
	var out []mStep
	free := -1
	for i := range s.reqs[:w.inFlight] {
		if !s.reqs[i].used {
			free = i
			break
		}
	}
	if s.copied && s.sent[mThief] < w.sends[mThief] {
		for _, op := range w.ops {
			for _, arrives := range []bool{true, false} {
				n := s
				n.sent[mThief]++
				t := len(n.reqs) - 1
				n.reqs[t] = mReq{used: true, party: mThief, op: op, val: s.jar[mThief], arrived: s.now, phase: 1}
				w.doLoad(&n, t)
				w.doCommit(&n, t)
				r := n.reqs[t]
				if arrives {
					w.deliver(&n, t)
				}
				n.reqs[t] = mReq{}
				out = append(out, mStep{fmt.Sprintf("the thief %ss with %v: ok=%v set=%v, answer arrives=%v", opNames[op], s.jar[mThief], r.ok, r.set, arrives), n})
			}
		}
	}
	for party := uint8(0); party < 1; party++ {
		if free < 0 || s.sent[party] >= w.sends[party] {
			continue
		}
		for _, op := range w.ops {
			n := s
			n.sent[party]++
			n.reqs[free] = mReq{used: true, party: party, op: op, val: s.jar[party], arrived: s.now, phase: 1, lineage: s.lineage}
			out = append(out, mStep{fmt.Sprintf("%s sends %s with %v", partyName(party), opNames[op], s.jar[party]), n})
		}
	}
	for i := range s.reqs {
		r := &s.reqs[i]
		if !r.used {
			continue
		}
		switch r.phase {
		case 1:
			n := s
			w.doLoad(&n, i)
			out = append(out, mStep{fmt.Sprintf("req %d (%s %s) loads", i, partyName(r.party), opNames[r.op]), n})
		case 2:
			n := s
			w.doCommit(&n, i)
			label := fmt.Sprintf("req %d (%s %s) commits", i, partyName(r.party), opNames[r.op])
			if c := n.reqs[i]; c.set.id == 0 && !c.clear {
				w.deliver(&n, i) // no cookie: whether the answer arrives changes nothing but what the browser knows
				label += fmt.Sprintf(" and answers ok=%v", c.ok)
			}
			out = append(out, mStep{label, n})
		case 3:
			n := s
			w.deliver(&n, i)
			out = append(out, mStep{fmt.Sprintf("req %d (%s %s) answer arrives: ok=%v set=%v clear=%v", i, partyName(r.party), opNames[r.op], r.ok, r.set, r.clear), n})
			n = s
			n.reqs[i] = mReq{}
			out = append(out, mStep{fmt.Sprintf("req %d (%s %s) answer is lost", i, partyName(r.party), opNames[r.op]), n})
		}
	}
	if !s.copied && s.jar[mBrowser].id != 0 {
		n := s
		n.epoch++
		n.copied, n.jar[mThief], n.thiefSince, n.forkID = true, s.jar[mBrowser], n.epoch, s.jar[mBrowser].id
		out = append(out, mStep{fmt.Sprintf("the thief copies the browser's cookie %v", s.jar[mBrowser]), n})
	}
	if s.moves < w.moves {
		for _, d := range w.deltas {
			n := s
			n.moves++
			n.now += d
			for j := range n.reqs {
				if r := &n.reqs[j]; r.used && r.phase == 3 && r.done+secA < n.now {
					n.reqs[j] = mReq{} // not delivered within the allowance: lost (the model's timing assumption)
				}
			}
			out = append(out, mStep{fmt.Sprintf("the clock moves %d s", d), n})
		}
	}
	if !w.admin {
		return out
	}
	if !s.revoked {
		n := s
		n.revoked = true
		for id := range n.docs {
			if n.docs[id].live && n.docs[id].user == 1 {
				n.docs[id].live = false
			}
		}
		if n.lineage != 0 && s.docs[n.lineage].user == 1 {
			n.lineage, n.acked = 0, 0
		}
		out = append(out, mStep{"RevokeUser(browser's user)", n})
	}
	for _, v := range []mValue{s.jar[mBrowser]} {
		if v.id == 0 {
			continue
		}
		n := s
		w.detached(&n, v)
		out = append(out, mStep{fmt.Sprintf("a stream handler loads the browser's value %v (detached)", v), n})
	}
	return out
}

func partyName(p uint8) string {
	if p == mBrowser {
		return "browser"
	}
	return "thief"
}

func (w *mWorld) doLoad(s *mState, i int) {
	r := &s.reqs[i]
	res := w.load(s, r.val)
	st := standingOf(res, hashOf(r.val.h), w.t(s.now))
	r.v, r.st, r.phase = judge(st, w.t(r.arrived), false), st.pos, 2
	r.newestAt = int8(st.newestAt.Sub(w.base) / time.Second)
	if r.v == valid || r.v == late {
		d := &s.docs[r.val.id]
		r.readTok, r.readNT, r.readRet, r.readNR = d.tok, d.nt, d.ret, d.nr
	}
	if s.copied && s.forkRot > uint8(w.kept) && r.arrived > s.armedAt+secA && r.val.id == s.forkID {
		s.seen[r.party] = true // a use of the forked session well after TokensKept+1 rotations (I4)
	}
	if r.party == mThief && (r.v == valid || r.v == late) {
		if d := s.docs[r.val.id]; d.login >= 0 && d.loginBy == mBrowser && d.login > s.thiefSince {
			s.viol = 2
		}
	}
	if r.v == replay {
		s.replays++
		s.docs[r.val.id].live = false // revoked (KeepSessionOnReuse off)
	}
}

func (w *mWorld) doCommit(s *mState, i int) {
	r := &s.reqs[i]
	r.phase, r.done = 3, s.now
	now := w.t(s.now)
	id := r.val.id
	if r.op == opLogout {
		r.ok = true
		if r.v == valid || r.v == late {
			if s.docs[id].live {
				s.docs[id].live = false
			}
			r.clear = true
		}
		return
	}
	d := did{changes: r.op == opIncr || r.op == opLogin, renew: r.op == opLogin}
	switch plan(true, r.v, d, 1, false, true) {
	case writeNothing:
		r.ok = true
	case writeRefuse:
		r.ok = false
	case writeCreate:
		user := uint8(0)
		if r.op == opLogin {
			user = r.party + 1
		}
		n := uint8(0)
		if r.op == opIncr {
			n = 1
		}
		if nid, h, ok := w.newDoc(s, user, n, r.party); ok {
			r.set, r.ok, r.incr = mValue{nid, h}, true, r.op == opIncr
		}
	case writeByID:
		doc := &s.docs[id]
		if !doc.live {
			r.ok = r.op != opIncr // Gone: changes are refused, a read stands
			return
		}
		rot := rotates(standing{pos: r.st, newestAt: w.t(r.newestAt)}, r.v, w.t(r.arrived), now, mTTL*time.Second, true, false)
		if rot && doc.tok[doc.nt-1].h == r.readTok[r.readNT-1].h && s.nextTok < 250 { // the compare-and-set
			h := s.nextTok
			s.nextTok++
			rt := w.m.rotation(w.record(id, doc), hashOf(r.val.h), hashOf(h), now)
			doc.nt, doc.nr, doc.parent = 0, 0, rt.Parent[0]
			for _, t := range rt.Tokens {
				doc.tok[doc.nt] = mTok{t.Hash[0], int8(t.At.Sub(w.base) / time.Second)}
				doc.nt++
			}
			for _, t := range rt.Retired {
				doc.ret[doc.nr] = mTok{t.Hash[0], int8(t.At.Sub(w.base) / time.Second)}
				doc.nr++
			}
			r.set = mValue{id, h}
		}
		if r.op == opIncr {
			doc.n++
			r.incr = true
		}
		r.ok = true
	case writeRenew:
		old := s.docs[id]
		if !old.live {
			r.ok = false // destroyed meanwhile: logout wins (ErrSuperseded)
			return
		}
		nid, h, ok := w.newDoc(s, r.party+1, old.n, r.party)
		if !ok {
			return
		}
		tomb := mDoc{tomb: true, login: -1}
		for _, t := range r.readRet[:r.readNR] {
			tomb.ret[tomb.nr] = t
			tomb.nr++
		}
		for _, t := range r.readTok[:r.readNT] {
			tomb.ret[tomb.nr] = mTok{t.h, s.now}
			tomb.nr++
		}
		s.docs[id] = tomb
		r.set, r.ok = mValue{nid, h}, true
		if r.party == mThief && id == s.lineage {
			s.thiefEnded = true
		}
	}
	if r.party == mThief && r.op == opLogout && id == s.lineage {
		s.thiefEnded = true
	}
}

func (w *mWorld) deliver(s *mState, i int) {
	r := s.reqs[i]
	s.reqs[i] = mReq{}
	if r.set.id != 0 {
		if r.party == mBrowser {
			if s.docs[r.set.id].tomb {
				s.residual = true // a late rotation's cookie after a login (item 6)
			}
		}
		if s.copied && r.set.id == s.forkID && r.set.id == r.val.id {
			s.forkRot++ // a rotation of the forked session reached one of the parties
			if s.forkRot == uint8(w.kept)+1 {
				s.armedAt = s.now
			}
		}
		s.jar[r.party] = r.set
	}
	if r.clear {
		s.jar[r.party] = mValue{}
	}
	if r.party != mBrowser || !r.ok {
		return
	}
	switch {
	case r.op == opLogin && r.set.id != 0:
		if !(r.val.id == s.lineage && s.docs[r.val.id].tomb) {
			s.acked = 0 // a new session, not a renewal of the browser's
		}
		s.lineage, s.residual = r.set.id, false
	case r.op == opLogout && r.clear:
		s.lineage, s.acked = 0, 0
	case r.op == opIncr && r.incr && r.set.id != 0 && r.val.id != r.set.id:
		s.lineage, s.acked = r.set.id, 1 // a new session
	case r.op == opIncr && r.incr && r.val.id == s.lineage && s.lineage != 0:
		s.acked++
	}
}

func (w *mWorld) detached(s *mState, v mValue) {
	st := standingOf(w.load(s, v), hashOf(v.h), w.t(s.now))
	verd := judge(st, w.t(s.now), true)
	if verd == replay || rotates(st, verd, w.t(s.now), w.t(s.now), mTTL*time.Second, false, true) {
		s.replays = 200 // I5 violated: marked for check
	}
}

// check returns the invariant a state violates ("" if none), right after step label.
func (w *mWorld) check(prev, s *mState) string {
	if s.replays >= 200 {
		return "I5: a detached load reported, revoked or rotated"
	}
	if s.viol == 2 {
		return "I2: the thief reaches a session the browser's login created after he got his value"
	}
	if !prev.copied && s.replays > prev.replays && !s.copied {
		return "I1/I4: a replay reported with no thief"
	}
	for i := range s.reqs {
		r, p := &s.reqs[i], &prev.reqs[i]
		if !r.used || p.phase != 1 || r.phase != 2 {
			continue
		}
		// I2: the thief never reaches a session a browser's login created after the thief got his value.
		if r.party == mThief && (r.v == valid || r.v == late) {
			if d := s.docs[r.val.id]; d.login >= 0 && d.loginBy == mBrowser && d.login > s.thiefSince {
				return "I2: the thief reads a session the browser's login created after his copy"
			}
		}
		if r.party != mBrowser || s.residual || s.thiefEnded || s.lineage == 0 || r.val.id != s.lineage ||
			r.lineage != s.lineage || !s.docs[s.lineage].live {
			continue // not the browser's live session (ended by a logout, a login, a revocation: allowed)
		}
		if s.copied && s.forkID == s.lineage {
			continue // a thief holds a value of this session: I4 applies (the theft is detected, and that ends it)
		}
		if r.v != valid && r.v != late {
			return fmt.Sprintf("I1: the browser's request with its own cookie %v reads no session (verdict %d)", r.val, r.v)
		}
		if d := s.docs[r.val.id]; d.live && d.n < s.acked {
			return fmt.Sprintf("I3: the session holds %d increments, %d were acknowledged", d.n, s.acked)
		}
	}
	// I1 at rest: the cookie the browser holds opens its session.
	if !s.residual && !s.thiefEnded && s.lineage != 0 && !(s.copied && s.forkID == s.lineage) && s.jar[mBrowser].id == s.lineage {
		st := standingOf(w.load(s, s.jar[mBrowser]), hashOf(s.jar[mBrowser].h), w.t(s.now))
		if v := judge(st, w.t(s.now), false); v != valid && v != late && s.docs[s.lineage].live {
			return fmt.Sprintf("I1: the browser's cookie %v no longer opens its live session (verdict %d)", s.jar[mBrowser], v)
		}
	}
	// I4: after TokensKept+1 rotations since the copy and the allowance, two parties using the session are
	// told apart: a replay has been reported.
	if s.copied && s.forkRot > uint8(w.kept) && s.replays == 0 && !s.thiefEnded {
		if s.seen[mBrowser] && s.seen[mThief] && s.docs[s.forkID].live {
			return "I4: both parties used the session after TokensKept+1 rotations and the allowance, and no replay was reported"
		}
	}
	return ""
}

// explore searches breadth first from start, level by level, remembering a 64-bit hash of each state seen
// (a collision could only hide states, never report a false violation). It returns the number of states and
// the shortest trace to a violation, if any: replayed from start along the recorded step choices.
func (w *mWorld) explore(start mState) (int, []string) {
	type node struct {
		parent int32
		step   uint16
	}
	seed := maphash.MakeSeed()
	nodes := []node{{parent: -1}}
	seen := map[uint64]struct{}{maphash.Comparable(seed, start): {}}
	frontier, ids := []mState{start}, []int32{0}
	for len(frontier) > 0 {
		var next []mState
		var nextIDs []int32
		for f, cur := range frontier {
			for k, st := range w.steps(cur) {
				if msg := w.check(&cur, &st.next); msg != "" {
					return len(nodes), w.trace(start, nodes[:0:0], func(yield func(int) bool) {
						var path []int
						for n := ids[f]; n > 0; n = nodes[n].parent {
							path = append([]int{int(nodes[n].step)}, path...)
						}
						for _, p := range append(path, k) {
							if !yield(p) {
								return
							}
						}
					}, msg)
				}
				h := maphash.Comparable(seed, st.next)
				if _, ok := seen[h]; ok {
					continue
				}
				seen[h] = struct{}{}
				nodes = append(nodes, node{parent: ids[f], step: uint16(k)})
				next, nextIDs = append(next, st.next), append(nextIDs, int32(len(nodes)-1))
			}
		}
		if testing.Verbose() && os.Getenv("MODEL_PROGRESS") != "" {
			fmt.Println("level", len(frontier), "->", len(next), "states", len(nodes))
		}
		frontier, ids = next, nextIDs
	}
	return len(nodes), nil
}

// trace replays the step choices from start and names each step.
func (w *mWorld) trace(start mState, _ any, choices func(func(int) bool), msg string) []string {
	out := []string{"start"}
	s := start
	for k := range choices {
		st := w.steps(s)[k]
		out = append(out, st.label)
		s = st.next
	}
	return append(out, "VIOLATION "+msg)
}

func newWorld(t *testing.T, kept int, b mBound) *mWorld {
	m, err := New(nopStore{}, Options{TokensKept: kept, TokenTTL: mTTL * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &mWorld{m: m, base: time.Unix(1_700_000_000, 0).UTC(), kept: kept, mBound: b}
}

var (
	secA       = int8(inFlightAllowance / time.Second)
	secReissue = int8(reissueAfter / time.Second)
	// safetyBound: every operation, a thief who copies at any moment or planted a value, RevokeUser and
	// detached loads; the clock moves past TokenTTL, the allowance and the re-issue time.
	safetyBound = mBound{sends: [2]uint8{envInt("MODEL_B", 2), envInt("MODEL_T", 1)}, inFlight: 2, moves: envInt("MODEL_M", 1), deltas: []int8{mTTL, secA + 1, secReissue + 1},
		ops: []uint8{opRead, opIncr, opLogin, opLogout}, admin: true}
	// readsBound: the browser alone, reading with parallel requests while the clock passes TokenTTL, the
	// allowance and the re-issue time: rotations, lost cookies and re-issues.
	readsBound = mBound{sends: [2]uint8{envInt("MODEL_RB", 3), 0}, inFlight: 2, moves: envInt("MODEL_RM", 4),
		deltas: []int8{mTTL, secA + 1, secReissue + 1}, ops: []uint8{opRead}}
	// forkBound: long enough for TokensKept+1 rotations after a copy and a use by each party after them.
	forkBound = mBound{sends: [2]uint8{envInt("MODEL_FB", 5), envInt("MODEL_FT", 2)}, inFlight: int(envInt("MODEL_FI", 1)),
		moves: envInt("MODEL_FM", 5), deltas: []int8{mTTL, secA + 1}, ops: []uint8{opRead}}
)

func startStates() map[string]mState {
	fresh := mState{nextID: 1, nextTok: 1}
	// The browser starts logged in (a session of its user, created at time 0) ...
	loggedIn := fresh
	id, h, _ := (&mWorld{}).newDoc(&loggedIn, 1, 0, mBrowser)
	loggedIn.jar[mBrowser], loggedIn.lineage = mValue{id, h}, id
	// ... or anonymous with a value the thief planted (never issued: the id is one no session gets).
	planted := fresh
	planted.jar[mBrowser], planted.jar[mThief] = mValue{mMaxIDs - 1, 250}, mValue{mMaxIDs - 1, 250}
	planted.copied, planted.nextID = true, 1
	planted.docs[mMaxIDs-1] = mDoc{login: -1}
	// ... or logged in with its cookie just copied by the thief (for I4).
	forked := loggedIn
	forked.epoch++
	forked.copied, forked.jar[mThief], forked.thiefSince, forked.forkID = true, loggedIn.jar[mBrowser], forked.epoch, id
	return map[string]mState{"logged-in": loggedIn, "planted": planted, "forked": forked}
}

// TestTokenModel checks I1-I5 (docs/design.md) on every state reachable within the bounds stated at the top
// of this file, for TokensKept 2 and 3 and two starts (a logged-in browser; a value planted by the thief).
func TestTokenModel(t *testing.T) {
	for _, kept := range []int{2, 3} {
		for name, start := range startStates() {
			for bname, b := range map[string]mBound{"safety": safetyBound, "fork": forkBound, "reads": readsBound} {
				if (bname == "fork") != (name == "forked") || (bname == "reads" && name != "logged-in") {
					continue
				}
				if name == "planted" {
					b.admin = false // RevokeUser and detached loads add nothing to a planted value
				}
				t.Run(fmt.Sprintf("kept=%d/%s/%s", kept, name, bname), func(t *testing.T) {
					w := newWorld(t, kept, b)
					n, trace := w.explore(start)
					t.Logf("%d states explored", n)
					if trace != nil {
						t.Fatalf("shortest trace to a violation:\n  %s", strings.Join(trace, "\n  "))
					}
				})
			}
		}
	}
}

func envInt(name string, def uint8) uint8 {
	var v uint8
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil {
		return def
	}
	return v
}
