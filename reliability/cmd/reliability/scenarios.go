package main

import (
	"context"
	"fmt"
	"time"
)

// scenario is one named run.
type scenario struct {
	name       string
	what       string // one paragraph for the report
	clients    int    // at most this many clients (0: all)
	needsClock bool   // n/a without Options.Clock
	fault      bool   // the scenario restores a fault: recovery time is meaningful
	skew       func(app, apps int) time.Duration
	run        func(e *env)
}

// writeCommands are the commands whose replies late-acks delays: the library's writes.
var writeCommands = []string{"update", "insert", "delete"}

func scenarios(cfg config) []*scenario {
	ttl, kept := cfg.tokenTTL, cfg.tokensKept
	// Enough rotations to push a token out of the accepted ones: TokensKept+1 rotations, each due after ttl.
	retireSpan := time.Duration(kept+1) * ttl
	lateDelay := cfg.timeout + 500*time.Millisecond
	return []*scenario{
		{
			name: "steady",
			what: "The mixed workload (reads, increments, write-only puts, now and then a login with Renew or a logout), no fault.",
			run: func(e *env) {
				ctx, cancel := context.WithTimeout(context.Background(), cfg.steady)
				defer cancel()
				e.forClients(ctx, func(ctx context.Context, c *client) { c.mixed(ctx, mixture{loginLogout: true, authRate: 0.05}) })
			},
		},
		{
			name: "login-during-parallel-traffic",
			what: "Each client logs in (SetUser + Renew) while 4 parallel requests (increments and reads, their commits held 0-150 ms) carry the pre-login cookie; then a few batches, a logout, an anonymous increment, and again.",
			run: func(e *env) {
				ctx, cancel := context.WithTimeout(context.Background(), cfg.steady)
				defer cancel()
				e.forClients(ctx, func(ctx context.Context, c *client) {
					for c.think(ctx) {
						if c.resync {
							c.resyncRead(ctx)
							continue
						}
						if c.b.Empty() {
							c.batch(ctx, op{kind: opIncr, path: "/incr?k=n"})
							continue
						}
						ops := []op{c.loginOp()}
						for range 4 {
							hold := c.intn(151)
							if c.intn(2) == 0 {
								ops = append(ops, op{kind: opIncr, path: fmt.Sprintf("/incr?k=n&hold=%d", hold)})
							} else {
								ops = append(ops, op{kind: opRead, path: "/read"})
							}
						}
						c.batch(ctx, ops...)
						for range 2 {
							if !c.think(ctx) {
								return
							}
							c.step(ctx, mixture{})
						}
						if c.loggedIn && c.think(ctx) {
							c.batch(ctx, op{kind: opLogout, path: "/logout"})
						}
					}
				})
			},
		},
		{
			name: "slow-reader",
			what: fmt.Sprintf("Each logged-in client sends one slow request that reads its session after %v to %v (TokensKept+1 token lifetimes and a half, or a little more), while its other requests go on and rotate the token past it.", retireSpan+ttl/2, retireSpan+ttl),
			run: func(e *env) {
				e.forClients(context.Background(), func(_ context.Context, c *client) {
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
					defer cancel()
					if !c.ensureLoggedIn(ctx) {
						return
					}
					done := make(chan slowResult, 1)
					s := slowResult{loggedIn: c.loggedIn, epoch: c.epoch}
					slowCtx, stop := context.WithCancel(ctx)
					go func() {
						// Spread over half a token lifetime, so that 64 slow reads do not land on the database at once.
						delay := retireSpan + ttl/2 + time.Duration(c.int64n(int64(ttl/2)))
						s.res = c.send(ctx, op{kind: opSlow, path: fmt.Sprintf("/slow?delay=%d", delay.Milliseconds())})
						stop()
						done <- s
					}()
					c.mixed(slowCtx, mixture{})
					c.checkSlow(<-done)
				})
			},
		},
		{
			name: "websocket-reconnects",
			what: fmt.Sprintf("Each logged-in client opens a WebSocket (the handler uses the session, then hijacks and writes its own 101) %d times, spaced by TokenTTL plus a little, with no other traffic, then reads its session.", kept+1),
			run: func(e *env) {
				e.forClients(context.Background(), func(_ context.Context, c *client) {
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
					defer cancel()
					if !c.ensureLoggedIn(ctx) {
						return
					}
					c.batch(ctx, op{kind: opRead, path: "/read"})
					for range kept + 1 {
						if !sleep(ctx, ttl+time.Duration(100+c.intn(300))*time.Millisecond) {
							return
						}
						c.batch(ctx, op{kind: opWS, path: "/ws"})
					}
				})
			},
		},
		{
			name:  "late-acks",
			fault: true,
			what: fmt.Sprintf("The mixed workload, half the clients logged in first; after %v the proxy delays the replies to writes (update, insert, delete) by %v, beyond Options.Timeout (%v), for %v: the writes are applied, their acknowledgements come too late. Then the proxy passes again for %v.",
				ttl, lateDelay, cfg.timeout, retireSpan+lateDelay, 2*ttl),
			run: func(e *env) {
				faultPhases(e, cfg, ttl, retireSpan+lateDelay, 2*ttl, func() { e.proxy.Delay(lateDelay, writeCommands...) })
			},
		},
		{
			name: "half-applied-commit",
			what: fmt.Sprintf("Each logged-in client, %d times, TokenTTL apart (so each read is due to rotate): an increment of key h whose commit is held 400 ms, and 150 ms after it another tab's Put of a string into h; then it resets h to 0 (write-only). The increment's commit cannot apply: it must apply nothing, rotation included.", kept+1),
			run: func(e *env) {
				e.forClients(context.Background(), func(_ context.Context, c *client) {
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
					defer cancel()
					if !c.ensureLoggedIn(ctx) {
						return
					}
					for range kept + 1 {
						c.batch(ctx, op{kind: opPutH, path: "/put?k=h&v=0&int=1"})
						if !sleep(ctx, ttl+time.Duration(100+c.intn(200))*time.Millisecond) {
							return
						}
						c.batch(ctx,
							op{kind: opIncrH, path: "/incr?k=h&hold=400"},
							op{kind: opPutH, path: "/put?k=h&v=text", after: 150 * time.Millisecond})
					}
				})
			},
		},
		{
			name:  "db-outage",
			fault: true,
			what:  fmt.Sprintf("The mixed workload, half the clients logged in first; after %v the proxy drops every database connection and refuses new ones for %v, then passes again for %v.", 2*ttl, cfg.outage, cfg.recoveryWindow),
			run: func(e *env) {
				faultPhases(e, cfg, 2*ttl, cfg.outage, cfg.recoveryWindow, e.proxy.Drop)
			},
		},
		{
			name:  "black-hole",
			fault: true,
			what:  fmt.Sprintf("The mixed workload, half the clients logged in first; after %v the proxy accepts database connections but forwards nothing either way for %v (held bytes flow when it ends, as TCP retransmits them), then passes again for %v.", 2*ttl, cfg.outage, cfg.recoveryWindow),
			run: func(e *env) {
				faultPhases(e, cfg, 2*ttl, cfg.outage, cfg.recoveryWindow, e.proxy.BlackHole)
			},
		},
		{
			name:       "clock-skew",
			needsClock: true,
			what:       "The mixed workload against app processes whose clocks are spread from -5 s to +5 s (Options.Clock).",
			skew: func(app, apps int) time.Duration {
				if apps < 2 {
					return 0
				}
				return -5*time.Second + time.Duration(app)*10*time.Second/time.Duration(apps-1)
			},
			run: func(e *env) {
				ctx, cancel := context.WithTimeout(context.Background(), cfg.steady)
				defer cancel()
				e.forClients(ctx, func(ctx context.Context, c *client) { c.mixed(ctx, mixture{loginLogout: true, authRate: 0.05}) })
			},
		},
	}
}

// faultPhases runs the mixed workload (half the clients logged in first) through three phases: before, during the fault (begin starts it), and
// after the proxy passes again (recovery is measured from then).
func faultPhases(e *env, cfg config, before, during, after time.Duration, begin func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.forClients(ctx, func(ctx context.Context, c *client) {
			if c.id%2 == 1 { // half the clients are logged in when the fault begins: a fault must not log them out
				c.ensureLoggedIn(ctx)
			}
			c.mixed(ctx, mixture{loginLogout: true, authRate: 0.05})
		})
	}()
	time.Sleep(before)
	begin()
	time.Sleep(during)
	e.proxy.Pass()
	e.rec.restored()
	time.Sleep(after)
	cancel()
	<-done
}
