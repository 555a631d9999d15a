package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mongosession/mongosession/reliability/browser"
)

// opKind is what one request does.
type opKind int

const (
	opRead   opKind = iota // GET /read
	opIncr                 // POST /incr (counter "n")
	opPut                  // POST /put of an unrelated key (write-only)
	opLogin                // POST /login
	opLogout               // POST /logout
	opSlow                 // GET /slow
	opWS                   // GET /ws (WebSocket handshake; increments "n")
	opIncrH                // POST /incr?k=h (the half-applied-commit key)
	opPutH                 // POST /put?k=h (integer 0, or a string)
)

var opNames = [...]string{"read", "incr", "put", "login", "logout", "slow", "ws", "incr-h", "put-h"}

func (k opKind) String() string { return opNames[k] }

// op is one request of a batch.
type op struct {
	kind  opKind
	path  string        // with its query
	after time.Duration // start this long after the batch (the cookie is the one held then)
}

// counts reports whether a successful reply of this op carries the user and the counter "n".
func (o op) reportsState() bool {
	switch o.kind {
	case opRead, opIncr, opSlow, opWS:
		return true
	}
	return false
}

// increments reports whether the op adds 1 to "n".
func (o op) increments() bool { return o.kind == opIncr || o.kind == opWS }

// touchesDB reports whether the op, sent with a cookie, makes the app read or write the database.
func (o op) touchesDB() bool { return o.kind != opPut && o.kind != opPutH }

func (o op) method() string {
	switch o.kind {
	case opRead, opSlow, opWS:
		return http.MethodGet
	}
	return http.MethodPost
}

// client is one browser and what it knows for sure about its session: the harness counts a failure only
// against this knowledge, and whenever an outcome is unknown (a login or logout that failed) it re-reads
// instead of guessing.
type client struct {
	id    int
	b     *browser.Browser
	e     *env
	rngMu sync.Mutex // a batch's requests draw their app in parallel
	rng   *rand.Rand

	loggedIn  bool
	user      string
	acked     int64 // increments of "n" answered with success since the session began (or the last re-read)
	attempted int64 // increments of "n" sent since then, whatever their answer: the counter's upper bound
	epoch     int   // changes at every login, logout and re-read: late results of older epochs are not checked
	unknown   int64 // increments whose answer failed: any of them may still be applied (a held request)
	resync    bool  // the state is unknown: the next batch is a lone read that re-establishes it
}

// batch sends ops in parallel (each with the cookie the browser holds when it starts), waits for all and
// checks the results against what the client knew before.
func (c *client) batch(ctx context.Context, ops ...op) []*browser.Response {
	results := make([]*browser.Response, len(ops))
	var wg sync.WaitGroup
	for i, o := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if o.after > 0 {
				t := time.NewTimer(o.after)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
				}
			}
			results[i] = c.send(ctx, o)
		}()
	}
	wg.Wait()
	c.account(ops, results)
	return results
}

// send sends one request to a random app. The request outlives the scenario's context by a grace period, so
// that stopping the workload does not cut requests in flight (a cut request is no failure of the library).
func (c *client) send(ctx context.Context, o op) *browser.Response {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	a := c.e.apps[c.intn(len(c.e.apps))]
	var res *browser.Response
	if o.kind == opWS {
		res = c.b.WebSocket(rctx, a.base, o.path)
	} else {
		res = c.b.Do(rctx, a.base, o.method(), o.path)
	}
	c.e.rec.response(c, o, res)
	return res
}

// requestTimeout bounds one request: longer than any slow request and than the app's own timeouts.
const requestTimeout = 90 * time.Second

// account checks a finished batch against what the client knew before it and updates that knowledge.
func (c *client) account(ops []op, results []*browser.Response) {
	authChange := false
	increments := int64(0)
	for _, o := range ops {
		authChange = authChange || o.kind == opLogin || o.kind == opLogout
		if o.increments() {
			increments++
		}
	}
	ackedBefore, upper := c.acked, c.attempted+increments
	checked := !authChange && !c.resync
	spurious, lost, phantom := false, int64(0), int64(0)
	var acks int64
	for i, o := range ops {
		res := results[i]
		if o.increments() && res.OK() && res.HasReply && res.Reply.OK {
			acks++
		} else if o.increments() {
			c.unknown++
		}
		if !checked || !o.reportsState() || !res.OK() || !res.HasReply {
			continue
		}
		if c.loggedIn && res.Reply.User == "" && !spurious {
			spurious = true
			c.e.rec.incident(kindSpuriousLogout, c, fmt.Sprintf("%s answered %d with no user though the client logged in as %s and never logged out; it carried %s%s%s",
				o.kind, res.Status, c.user, browser.Short(res.Sent), setCookieNote(res), c.jarNote(res)))
		}
		if spurious {
			continue // the counter of a session the client lost says nothing more
		}
		lower := ackedBefore
		if o.increments() {
			lower++ // the value this request sees includes its own increment
		}
		if res.Reply.N < lower && lower-res.Reply.N > lost {
			lost = lower - res.Reply.N
			c.e.rec.incident(kindLostIncrement, c, fmt.Sprintf("%s saw n=%d, but %d increments had been acknowledged before it started (%s, cookie %s%s)",
				o.kind, res.Reply.N, ackedBefore, sessionNote(res.Reply.SID), browser.Short(res.Sent), c.jarNote(res)))
		}
		if res.Reply.N > upper && res.Reply.N-upper > phantom {
			phantom = res.Reply.N - upper
			c.e.rec.incident(kindPhantomIncrement, c, fmt.Sprintf("%s saw n=%d, but only %d increments were ever sent in this session",
				o.kind, res.Reply.N, upper))
		}
	}
	c.e.rec.add(func(m *metrics) {
		m.LostIncrements += lost
		m.PhantomIncrements += phantom
		if spurious {
			m.SpuriousLogouts++
		}
	})
	// Each loss is counted once: the knowledge moves to what the server now holds.
	c.acked += acks - lost
	c.attempted = upper + phantom
	if spurious {
		c.resync = true
	}
	for i, o := range ops {
		res := results[i]
		switch o.kind {
		case opLogin:
			if res.OK() {
				c.loggedIn, c.epoch = true, c.epoch+1
			} else {
				c.resync = true // the login may have happened: find out
			}
		case opLogout:
			if res.OK() {
				c.loggedIn, c.acked, c.attempted, c.epoch = false, 0, 0, c.epoch+1
			} else {
				c.resync = true
			}
		}
	}
}

// jarNote tells which response last changed the jar before res's request started, and what the database
// holds for the cookie the request carried.
func (c *client) jarNote(res *browser.Response) string {
	var note string
	if last, ok := c.b.LastChangeBefore(res.Start); ok {
		note = fmt.Sprintf("; the jar was last changed at t%+.1fs by %s", last.At.Sub(c.e.rec.begin).Seconds(), last.What)
	}
	if state := c.e.inspect.cookieState(res.Sent); state != "" {
		note += "; " + state
	}
	return note
}

func sessionNote(sid string) string {
	if sid == "" {
		return "no session: the cookie was not accepted"
	}
	return "session " + sid
}

func setCookieNote(res *browser.Response) string {
	if len(res.SetCookie) == 0 {
		return ""
	}
	if res.Cleared {
		return " and its response cleared the cookie"
	}
	kv, _, _ := strings.Cut(res.SetCookie[0], ";")
	return " and its response set " + browser.Short(kv)
}

// resyncRead re-establishes what the client knows after an unknown outcome: one lone read. It reports
// whether it succeeded.
func (c *client) resyncRead(ctx context.Context) bool {
	res := c.send(ctx, op{kind: opRead, path: "/read"})
	if !res.OK() || !res.HasReply {
		return false
	}
	c.loggedIn = res.Reply.User != "" && res.Reply.User == c.user
	// Increments whose answer failed may still land after this read (a request held in a black hole).
	c.acked, c.attempted, c.resync, c.epoch = res.Reply.N, res.Reply.N+c.unknown, false, c.epoch+1
	c.e.rec.add(func(m *metrics) { m.Resyncs++ })
	return true
}

// step runs one batch of the mixed workload: reads, increments and writes, sometimes a login or a logout.
// A browser without a cookie sends one request at a time (parallel first requests would each start a
// session of their own, which no library can prevent).
func (c *client) step(ctx context.Context, mix mixture) {
	switch {
	case c.resync:
		c.resyncRead(ctx)
	case c.b.Empty():
		c.batch(ctx, c.pick(mix))
	case mix.loginLogout && c.float() < mix.authRate:
		if c.loggedIn {
			c.batch(ctx, op{kind: opLogout, path: "/logout"})
		} else {
			c.batch(ctx, c.loginOp())
		}
	default:
		ops := make([]op, 1+c.intn(4))
		for i := range ops {
			ops[i] = c.pick(mix)
		}
		c.batch(ctx, ops...)
	}
}

// mixture tunes the mixed workload.
type mixture struct {
	loginLogout bool    // include logins and logouts
	authRate    float64 // chance that a batch is a login or a logout
}

func (c *client) pick(mix mixture) op {
	switch r := c.float(); {
	case r < 0.4:
		return op{kind: opRead, path: "/read"}
	case r < 0.8:
		return op{kind: opIncr, path: "/incr?k=n"}
	default:
		return op{kind: opPut, path: fmt.Sprintf("/put?k=note&v=%d", c.intn(1000))}
	}
}

func (c *client) loginOp() op {
	c.user = fmt.Sprintf("user%d", c.id)
	return op{kind: opLogin, path: "/login?user=" + c.user}
}

func (c *client) intn(n int) int {
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	return c.rng.IntN(n)
}

func (c *client) int64n(n int64) int64 {
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	return c.rng.Int64N(n)
}

func (c *client) float() float64 {
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	return c.rng.Float64()
}

// think waits a random think time; it reports false when ctx ended.
func (c *client) think(ctx context.Context) bool {
	lo, hi := c.e.cfg.thinkMin, c.e.cfg.thinkMax
	return sleep(ctx, lo+time.Duration(c.int64n(int64(hi-lo)+1)))
}

// sleep waits d; it reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// mixed runs the mixed workload until ctx ends.
func (c *client) mixed(ctx context.Context, mix mixture) {
	for c.think(ctx) {
		c.step(ctx, mix)
	}
}

// ensureLoggedIn logs the client in (alone, no parallel traffic), retrying until ctx ends.
func (c *client) ensureLoggedIn(ctx context.Context) bool {
	for !c.loggedIn || c.resync {
		if ctx.Err() != nil {
			return false
		}
		if c.resync {
			if !c.resyncRead(ctx) {
				sleep(ctx, 200*time.Millisecond)
			}
			continue
		}
		c.batch(ctx, c.loginOp())
	}
	return true
}

// slowResult is a slow request and what the client knew when it started.
type slowResult struct {
	res      *browser.Response
	loggedIn bool
	epoch    int
}

// checkSlow checks a slow request that ran alongside other batches: it must see the session that was valid
// when it was sent.
func (c *client) checkSlow(s slowResult) {
	if !s.res.OK() || !s.res.HasReply || s.epoch != c.epoch || c.resync {
		return
	}
	if s.loggedIn && s.res.Reply.User == "" {
		c.e.rec.incident(kindSpuriousLogout, c, fmt.Sprintf("slow request (%s) answered with no user though the client was logged in when it was sent and never logged out; it carried %s%s%s",
			s.res.End.Sub(s.res.Start).Round(time.Millisecond), browser.Short(s.res.Sent), setCookieNote(s.res), c.jarNote(s.res)))
		c.e.rec.add(func(m *metrics) { m.SpuriousLogouts++ })
		c.resync = true
	}
	// Its counter is not checked: a real loss shows in the batches around it, and counting it twice would
	// inflate the figure.
}
