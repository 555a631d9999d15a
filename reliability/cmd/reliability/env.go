package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mongosession/mongosession/reliability/browser"
	"github.com/mongosession/mongosession/reliability/faultproxy"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// metrics are one scenario's figures.
type metrics struct {
	Requests           int
	Status             map[int]int // by status; 0 = no response
	LostIncrements     int64       // must be 0
	PhantomIncrements  int64       // must be 0: the counter above every increment ever sent
	SpuriousLogouts    int         // must be 0
	Other5xx           int         // must be 0: 5xx other than 503
	SetCookieOnFailure int         // must be 0: Set-Cookie on a response of 300 or more (101 aside)
	TokenReuse         int         // must be 0: token_reuse events (there is no thief)
	Revoked            int         // session_revoked events
	StuckClients       int         // must be 0: clients whose final read, after the fault, failed
	Resyncs            int         // re-reads after an unknown outcome (informational)
	Recovery           time.Duration
	AllAppsRecovery    time.Duration
	Recovered          bool // a fault was restored and a success followed
	GoroutinesBefore   []int
	GoroutinesAfter    []int
	AppErrors          int // ERROR lines in the apps' logs
	Proxy              faultproxy.Stats
	NA                 string // why the scenario did not run
}

// mustBeZero lists the figures that must be 0, by column name.
func (m *metrics) mustBeZero() map[string]int64 {
	return map[string]int64{
		"lost increments":      m.LostIncrements,
		"phantom increments":   m.PhantomIncrements,
		"spurious logouts":     int64(m.SpuriousLogouts),
		"5xx other than 503":   int64(m.Other5xx),
		"Set-Cookie on failed": int64(m.SetCookieOnFailure),
		"token_reuse events":   int64(m.TokenReuse),
		"stuck clients":        int64(m.StuckClients),
	}
}

func (m *metrics) failed() bool {
	for _, v := range m.mustBeZero() {
		if v != 0 {
			return true
		}
	}
	return false
}

// Incident kinds, as the report names them.
const (
	kindSpuriousLogout   = "spurious logout"
	kindLostIncrement    = "lost increment"
	kindPhantomIncrement = "phantom increment"
	kindOther5xx         = "5xx other than 503"
	kindSetCookieFailed  = "Set-Cookie on a failed response"
	kindStuck            = "stuck client"
)

// maxExamples bounds the incidents kept per kind as evidence.
const maxExamples = 4

// recorder collects one scenario's figures from every client goroutine.
type recorder struct {
	mu        sync.Mutex
	m         metrics
	examples  map[string][]string
	counts    map[string]int
	restoreAt time.Time
	firstOK   map[string]time.Time // app -> first success touching the database after the restore
	begin     time.Time
}

func newRecorder() *recorder {
	return &recorder{m: metrics{Status: map[int]int{}}, examples: map[string][]string{}, counts: map[string]int{},
		firstOK: map[string]time.Time{}, begin: time.Now()}
}

func (r *recorder) add(f func(*metrics)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.m)
}

func (r *recorder) incident(kind string, c *client, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[kind]++
	if len(r.examples[kind]) < maxExamples {
		r.examples[kind] = append(r.examples[kind], fmt.Sprintf("t+%.1fs client %d: %s",
			time.Since(r.begin).Seconds(), c.id, text))
	}
}

// restored marks the moment a fault ended; recovery is measured from it.
func (r *recorder) restored() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restoreAt = time.Now()
}

// response records one request's outcome.
func (r *recorder) response(c *client, o op, res *browser.Response) {
	r.mu.Lock()
	r.m.Requests++
	r.m.Status[res.Status]++
	if !r.restoreAt.IsZero() && res.OK() && res.Sent != "" && o.touchesDB() && res.End.After(r.restoreAt) {
		if _, seen := r.firstOK[res.Base]; !seen {
			r.firstOK[res.Base] = res.End
		}
	}
	r.mu.Unlock()
	if res.Status >= 500 && res.Status != http.StatusServiceUnavailable {
		r.add(func(m *metrics) { m.Other5xx++ })
		r.incident(kindOther5xx, c, fmt.Sprintf("%s %s answered %d", res.Method, res.Path, res.Status))
	}
	if res.Status != 0 && res.Failed() && len(res.SetCookie) > 0 {
		r.add(func(m *metrics) { m.SetCookieOnFailure++ })
		r.incident(kindSetCookieFailed, c, fmt.Sprintf("%s %s answered %d with Set-Cookie %s (it carried %s)",
			res.Method, res.Path, res.Status, strings.Join(res.SetCookie, " | "), browser.Short(res.Sent)))
	}
}

// recovery computes the recovery figures once the scenario is over.
func (r *recorder) recovery(apps int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.restoreAt.IsZero() || len(r.firstOK) == 0 {
		return
	}
	var first, last time.Time
	for _, t := range r.firstOK {
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	r.m.Recovered = true
	r.m.Recovery = first.Sub(r.restoreAt)
	if len(r.firstOK) == apps {
		r.m.AllAppsRecovery = last.Sub(r.restoreAt)
	} else {
		r.m.AllAppsRecovery = -1
	}
}

// env is one scenario's world: the proxy, the apps and the clients.
type env struct {
	cfg       config
	proxy     *faultproxy.Proxy
	apps      []*app
	transport *http.Transport
	hc        *http.Client
	rec       *recorder
	clients   []*client
	inspect   *inspector
}

// result is one scenario's outcome for the report.
type result struct {
	scenario *scenario
	m        metrics
	examples map[string][]string
	counts   map[string]int
	events   map[string]int
	errors   map[string]int // the apps' ERROR lines by message
	duration time.Duration
}

// runScenario starts fresh apps on a fresh collection, warms every client up, runs the scenario, checks
// every client once more after the fault and stops the apps.
func runScenario(cfg config, bin string, proxy *faultproxy.Proxy, db *mongo.Database, sc *scenario, run int) (*result, error) {
	start := time.Now()
	proxy.Pass()
	transport := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second}
	defer transport.CloseIdleConnections()
	e := &env{cfg: cfg, proxy: proxy, transport: transport, hc: &http.Client{Transport: transport}, rec: newRecorder()}
	coll := fmt.Sprintf("s%d_%s", run, strings.ReplaceAll(sc.name, "-", "_"))
	e.inspect = &inspector{coll: db.Collection(coll)}
	for i := range cfg.apps {
		ac := appConfig{name: fmt.Sprintf("app%d", i+1), uri: "mongodb://" + proxy.Addr() + "/", db: db.Name(), coll: coll,
			tokenTTL: cfg.tokenTTL, timeout: cfg.timeout}
		if cfg.logDir != "" {
			ac.logFile = filepath.Join(cfg.logDir, sc.name+"-"+ac.name+".log")
		}
		if sc.skew != nil {
			ac.clockSkew = sc.skew(i, cfg.apps)
		}
		a, err := startApp(bin, ac)
		if err != nil {
			e.stopApps()
			return nil, err
		}
		e.apps = append(e.apps, a)
	}
	defer e.stopApps()

	res := &result{scenario: sc}
	if sc.needsClock {
		ok, err := e.apps[0].clockSeam(e.hc)
		if err != nil {
			return nil, err
		}
		if !ok {
			res.m.NA = "n/a: the library has no Options.Clock, so app processes cannot run skewed clocks"
			return res, nil
		}
	}

	clients := cfg.clients
	if sc.clients > 0 {
		clients = min(clients, sc.clients)
	}
	for i := range clients {
		c := &client{id: i + 1, b: browser.New(i+1, e.hc), e: e, rng: rand.New(rand.NewPCG(uint64(run), uint64(i)))}
		e.clients = append(e.clients, c)
	}
	// Warm-up: every browser gets a session (one lone request), the apps' pools fill.
	e.forClients(context.Background(), func(ctx context.Context, c *client) {
		for c.b.Empty() || c.acked == 0 {
			c.batch(ctx, op{kind: opIncr, path: "/incr?k=n"})
		}
	})
	before, err := e.goroutines()
	if err != nil {
		return nil, err
	}
	e.rec = newRecorder() // the figures count the scenario, not the warm-up

	sc.run(e)

	proxy.Pass()
	e.rec.recovery(len(e.apps))
	if err := e.waitHealthy(); err != nil {
		return nil, err
	}
	e.finalCheck()
	after, err := e.goroutines()
	if err != nil {
		return nil, err
	}
	e.stopApps()

	e.rec.mu.Lock()
	res.m = e.rec.m
	res.m.GoroutinesBefore, res.m.GoroutinesAfter = before, after
	res.examples, res.counts = e.rec.examples, e.rec.counts
	e.rec.mu.Unlock()
	res.events, res.errors = map[string]int{}, map[string]int{}
	for _, a := range e.apps {
		a.mu.Lock()
		for k, v := range a.events {
			res.events[k] += v
		}
		for k, v := range a.errorMsg {
			res.errors[k] += v
		}
		res.m.AppErrors += a.errors
		a.mu.Unlock()
	}
	res.m.TokenReuse = res.events["token_reuse"]
	res.m.Revoked = res.events["session_revoked"]
	res.duration = time.Since(start)
	return res, nil
}

func (e *env) stopApps() {
	var wg sync.WaitGroup
	for _, a := range e.apps {
		wg.Add(1)
		go func() { defer wg.Done(); a.stop() }()
	}
	wg.Wait()
}

// forClients runs f for every client in parallel and waits.
func (e *env) forClients(ctx context.Context, f func(context.Context, *client)) {
	var wg sync.WaitGroup
	for _, c := range e.clients {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx, c) }()
	}
	wg.Wait()
}

// goroutines returns each app's goroutine count once the browsers' idle connections are closed.
func (e *env) goroutines() ([]int, error) {
	e.transport.CloseIdleConnections()
	time.Sleep(time.Second) // let the servers' connection goroutines end
	counts := make([]int, len(e.apps))
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for i, a := range e.apps {
		n, err := a.goroutines(probe)
		if err != nil {
			return nil, fmt.Errorf("%s: goroutines: %w", a.name, err)
		}
		counts[i] = n
	}
	return counts, nil
}

// waitHealthy waits until every app serves a database request again (a probe browser of its own), for at most
// a minute: the final check must judge the library, not an app that has not reconnected yet.
func (e *env) waitHealthy() error {
	deadline := time.Now().Add(time.Minute)
	for _, a := range e.apps {
		probe := browser.New(0, e.hc)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r1 := probe.Do(ctx, a.base, http.MethodPost, "/incr?k=probe")
			r2 := probe.Do(ctx, a.base, http.MethodGet, "/read")
			cancel()
			if r1.OK() && r2.OK() && r2.Sent != "" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not recover within a minute after the fault (last: %d %v); its log:\n%s",
					a.name, r2.Status, r2.Err, strings.Join(a.logTail(), "\n"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// finalCheck has every client read its session and then increment its counter once more, after the fault and
// the recovery: a client that cannot is stuck; a logged-in one that finds no user was logged out. A 503 is "try
// again later", so a client counts as stuck only when finalAttempts tries in a row, a second apart, all fail;
// and the clients check in small groups, so that their own burst cannot overload the development database.
func (e *env) finalCheck() {
	gate := make(chan struct{}, finalConcurrency)
	e.forClients(context.Background(), func(ctx context.Context, c *client) {
		gate <- struct{}{}
		defer func() { <-gate }()
		for _, o := range []op{{kind: opRead, path: "/read"}, {kind: opIncr, path: "/incr?k=n"}} {
			var last *browser.Response
			for attempt := range finalAttempts {
				if attempt > 0 {
					time.Sleep(time.Second)
				}
				if c.resync && !c.resyncRead(ctx) {
					continue
				}
				if last = c.batch(ctx, o)[0]; last.OK() {
					break
				}
			}
			if last != nil && last.OK() {
				continue
			}
			e.rec.add(func(m *metrics) { m.StuckClients++ })
			if last == nil {
				e.rec.incident(kindStuck, c, fmt.Sprintf("its %d re-reads after the fault all failed", finalAttempts))
				return
			}
			e.rec.incident(kindStuck, c, fmt.Sprintf("its %d final %ss failed, the last with %d (%v) from %s, carrying %s at t%+.1fs%s",
				finalAttempts, o.kind, last.Status, last.Err, last.Base, browser.Short(last.Sent), last.End.Sub(e.rec.begin).Seconds(), c.jarNote(last)))
			return
		}
	})
}

const (
	finalAttempts    = 5
	finalConcurrency = 8
)

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
