package mongosession_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// clock is the tests' time: it moves only when a test advances it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().Truncate(time.Millisecond)} }

// Now is the clock seam (Options.Clock, StoreOptions.Clock).
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves time forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is one test's world: its own collection, a store, a manager and a real HTTP server, and a clock that
// moves only when the test advances it.
type env struct {
	t      *testing.T
	clock  *clock
	coll   *mongo.Collection
	store  *mongosession.MongoStore
	mgr    *mongosession.Manager
	srv    *httptest.Server
	cmds   *atomic.Int64
	names  *sync.Map // command names seen, for failure messages
	client *http.Client
}

// notCounted are the driver's handshake and monitoring commands: not the session's work.
var notCounted = map[string]bool{"hello": true, "isMaster": true, "ismaster": true, "ping": true,
	"saslStart": true, "saslContinue": true, "buildInfo": true, "endSessions": true, "createIndexes": true}

type envConfig struct {
	opts    mongosession.Options
	uri     string // default mongosession.TestURI
	handler func(e *env) http.Handler
	timeout time.Duration // server selection timeout
	// onCommand sees every command the session's work sends (not the driver's own handshakes).
	onCommand func(name string, cmd bson.Raw)
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), cmds: new(atomic.Int64), names: new(sync.Map)}
	uri := cfg.uri
	if uri == "" {
		uri = mongosession.TestURI
	}
	co := mongosession.ClientOptions(uri).SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, ev *event.CommandStartedEvent) {
			if !notCounted[ev.CommandName] {
				e.cmds.Add(1)
				e.names.Store(ev.CommandName, true)
				if cfg.onCommand != nil {
					cfg.onCommand(ev.CommandName, ev.Command)
				}
			}
		},
	})
	if cfg.timeout > 0 {
		co.SetServerSelectionTimeout(cfg.timeout).SetConnectTimeout(cfg.timeout)
	}
	client, err := mongo.Connect(co)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	e.coll = client.Database("mongosession_test").Collection(fmt.Sprintf("%s_%d", name, time.Now().UnixNano()))
	ctx := context.Background()
	e.store, err = mongosession.NewMongoStore(ctx, e.coll, mongosession.StoreOptions{Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.store.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.coll.Drop(ctx)
	})
	opts := cfg.opts
	opts.InsecureCookie = true // httptest serves plain http; the jar would not send a Secure cookie
	if opts.Clock == nil {
		opts.Clock = e.clock.Now
	}
	e.mgr, err = mongosession.New(e.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.handler
	if h == nil {
		h = routes
	}
	e.srv = httptest.NewServer(e.mgr.Middleware(h(e)))
	t.Cleanup(e.srv.Close)
	e.client = e.newClient()
	return e
}

// in returns e bound to t (a subtest's), for helpers that fail the test.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (e *env) newClient() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// routes are the test application: each writes "ok <value>" or "err <error>".
func routes(e *env) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			fmt.Fprint(w, "err ", err)
			return
		}
		fmt.Fprint(w, "ok ", v)
	}
	mux.HandleFunc("/untouched", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := mongosession.FromContext(r.Context()).Incr("visits", 1)
		reply(w, n, err)
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		v, err := mongosession.FromContext(r.Context()).Get(r.FormValue("k"))
		reply(w, v, err)
	})
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		reply(w, "", mongosession.FromContext(r.Context()).Put(r.FormValue("k"), r.FormValue("v")))
	})
	mux.HandleFunc("/readput", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		if _, err := s.Get("visits"); err != nil {
			reply(w, nil, err)
			return
		}
		reply(w, "", s.Put(r.FormValue("k"), r.FormValue("v")))
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		reply(w, "", mongosession.FromContext(r.Context()).Renew())
	})
	mux.HandleFunc("/destroy", func(w http.ResponseWriter, r *http.Request) {
		reply(w, "", mongosession.FromContext(r.Context()).Destroy())
	})
	return mux
}

// do sends one request with c and returns status, body and the Set-Cookie header.
func (e *env) do(c *http.Client, path string, hdr ...string) (int, string, string) {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header.Get("Set-Cookie")
}

// get is do with the env's own client, failing the test on a non-200 status.
func (e *env) get(path string) string {
	e.t.Helper()
	code, body, _ := e.do(e.client, path)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: status %d, body %q", path, code, body)
	}
	return body
}

// count returns how many database commands one request to path makes.
func (e *env) count(c *http.Client, path string) int64 {
	e.t.Helper()
	n, _ := e.countBody(c, path)
	return n
}

// countBody is count that also returns the body.
func (e *env) countBody(c *http.Client, path string) (int64, string) {
	e.t.Helper()
	e.cmds.Store(0)
	code, body, _ := e.do(c, path)
	if code != http.StatusOK || strings.HasPrefix(body, "err") {
		e.t.Fatalf("GET %s: %d %q", path, code, body)
	}
	return e.cmds.Load(), body
}

// cookie returns the value of the session cookie the env's client holds.
func (e *env) cookie() string {
	name := e.mgr.Options().CookieName
	return sessionCookie(e.client.Jar.Cookies(mustURL(e.srv.URL)), func(n string) bool { return n == name })
}

// sessionCookie returns the value of the first cookie whose name matches.
func sessionCookie(cookies []*http.Cookie, match func(name string) bool) string {
	for _, c := range cookies {
		if match(c.Name) {
			return c.Value
		}
	}
	return ""
}

func (e *env) docCount(filter bson.D) int64 {
	e.t.Helper()
	n, err := e.coll.CountDocuments(context.Background(), filter)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// proxy is a TCP forwarder in front of the database that can inject faults: take the database away, answer
// nothing (a black hole), or hold replies back.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	hole   bool          // black hole: accept, forward nothing
	delay  time.Duration // hold each reply back this long
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			hole := p.hole
			p.mu.Unlock()
			if hole {
				go func() { _, _ = io.Copy(io.Discard, c) }() // never answered, even after the hole closes
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, u)
			p.mu.Unlock()
			go p.pump(u, c, false)
			go p.pump(c, u, true)
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// pump copies src to dst, dropping what passes during a black hole and delaying replies when asked to.
func (p *proxy) pump(dst, src net.Conn, replies bool) {
	defer dst.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			hole, delay := p.hole, p.delay
			p.mu.Unlock()
			if replies && delay > 0 {
				time.Sleep(delay) // the fault itself: a database that answers late
			}
			if !hole {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// blackHole makes the database accept connections and answer nothing (on) or answer again (off).
func (p *proxy) blackHole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hole = on
}

// delayReplies holds every reply from the database back by d (0: none).
func (p *proxy) delayReplies(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// newProxiedURI returns a proxy in front of the test database and a URI that reaches the database through it.
func newProxiedURI(t *testing.T) (*proxy, string) {
	u, err := url.Parse(mongosession.TestURI)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	q := u.Query()
	q.Set("directConnection", "true")
	u.RawQuery = q.Encode()
	return p, u.String()
}

// stop refuses new connections and cuts the open ones: the database is gone.
func (p *proxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
