package mongosession_test

import (
	"bytes"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
)

// counter is a Metrics that counts.
type counter struct {
	mu               sync.Mutex
	n                map[string]int
	loads, commits   int
	negativeDuration bool
}

func (c *counter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
}

func (c *counter) metrics() mongosession.Metrics {
	timed := func(n *int) func(time.Duration) {
		return func(d time.Duration) {
			c.mu.Lock()
			defer c.mu.Unlock()
			*n++
			c.negativeDuration = c.negativeDuration || d < 0
		}
	}
	return mongosession.Metrics{
		Event:          func(e mongosession.MetricEvent) { c.add(string(e)) },
		Error:          func(k mongosession.ErrorKind) { c.add("error " + string(k)) },
		LoadDuration:   timed(&c.loads),
		CommitDuration: timed(&c.commits),
	}
}

// take returns the counts since the last take.
func (c *counter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	if n == nil {
		n = map[string]int{}
	}
	return n
}

func (c *counter) expect(t *testing.T, step string, want map[string]int) {
	t.Helper()
	if got := c.take(); !maps.Equal(got, want) {
		t.Errorf("%s: metrics %v, want %v", step, got, want)
	}
}

func TestMetricsAndLifecycleLog(t *testing.T) {
	var c counter
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnv(t, envConfig{opts: mongosession.Options{Metrics: c.metrics(), Logger: logger,
		CookieKeys: [][]byte{testKey1}, StartInCookie: true}})
	b := &browser{m: e.mgr}
	put := func(s *mongosession.Session) { _ = s.Put("a", 1) }
	read := func(s *mongosession.Session) { _, _ = s.Get("a") }

	b.do(put)
	c.expect(t, "new cookie-mode session", map[string]int{"create": 1, "commit": 1})
	other := &browser{m: e.mgr}
	other.do(put)
	other.do(func(s *mongosession.Session) { _ = s.Renew() })
	c.expect(t, "cookie-mode session renewed", map[string]int{"create": 1, "commit": 2, "move": 1, "renew": 1})
	b.do(func(s *mongosession.Session) { _ = s.Promote() })
	c.expect(t, "Promote", map[string]int{"move": 1, "commit": 1})
	b.do(read)
	c.expect(t, "read with a fresh token", map[string]int{"load": 1})
	b.do(func(*mongosession.Session) {})
	c.expect(t, "untouched", map[string]int{})
	e.clock.Advance(6 * time.Second)
	b.do(read)
	c.expect(t, "read with a due token", map[string]int{"load": 1, "commit": 1, "rotate": 1})
	beforeLogin := *b.cookie
	b.do(func(s *mongosession.Session) { _ = s.Renew() })
	c.expect(t, "Renew", map[string]int{"load": 1, "commit": 1, "renew": 1})

	// An outdated cookie's write is refused (409); its read counts as no error.
	old := &browser{m: e.mgr, cookie: &beforeLogin}
	if rec := old.do(func(s *mongosession.Session) { _, _ = s.Get("a"); _ = s.Put("b", 2) }); rec.Code != http.StatusConflict {
		t.Fatalf("outdated cookie: status %d", rec.Code)
	}
	c.expect(t, "outdated cookie", map[string]int{"load": 1, "commit": 1, "error superseded": 1})

	for _, v := range []string{"garbage", "c1.AAAA", "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		stranger := &browser{m: e.mgr, cookie: &http.Cookie{Name: e.mgr.Options().CookieName, Value: v}}
		stranger.do(read)
	}
	c.expect(t, "invalid cookies", map[string]int{"error invalid": 3, "load": 1}) // only the well-formed one is read

	id := ""
	b.do(func(s *mongosession.Session) { id = s.ID(); _ = s.Destroy() })
	c.expect(t, "Destroy", map[string]int{"load": 1, "commit": 1, "destroy": 1})

	if c.loads == 0 || c.commits == 0 || c.negativeDuration {
		t.Errorf("durations: %d loads, %d commits observed (negative: %v)", c.loads, c.commits, c.negativeDuration)
	}

	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	for _, want := range []string{"session created", "moved to the database", "why=Promote", "token rotated",
		"session renewed", "session destroyed", "session=" + mongosession.SessionHash(id)} {
		if !strings.Contains(out, want) {
			t.Errorf("the Debug log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, id) {
		t.Errorf("the log names a session id:\n%s", out)
	}
}

func TestMetricsOutageAndReuse(t *testing.T) {
	var c counter
	p, uri := newProxiedURI(t)
	e := newEnv(t, envConfig{uri: uri, timeout: 300 * time.Millisecond, opts: mongosession.Options{
		Metrics: c.metrics(), Timeout: 300 * time.Millisecond, TokenTTL: time.Second}})
	b := &browser{m: e.mgr}
	b.do(func(s *mongosession.Session) { _ = s.Put("a", 1) })
	first := *b.cookie
	for range 3 { // rotate the first token away
		e.clock.Advance(2 * time.Second)
		b.do(func(s *mongosession.Session) { _, _ = s.Get("a") })
	}
	e.clock.Advance(10 * time.Second) // long after its retirement: a replay
	c.take()
	(&browser{m: e.mgr, cookie: &first}).do(func(s *mongosession.Session) { _, _ = s.Get("a") })
	c.expect(t, "replayed token", map[string]int{"load": 1, "reuse": 1, "revoke": 1})

	p.stop()
	rec := b.do(func(s *mongosession.Session) { _, _ = s.Get("a") })
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("database down: status %d", rec.Code)
	}
	c.expect(t, "database down", map[string]int{"load": 1, "error outage": 1})
}

// A change that needs a cookie after the response started cannot be stored: counted as late.
func TestMetricsLateChange(t *testing.T) {
	var c counter
	m, err := mongosession.New(memStore(), mongosession.Options{Metrics: c.metrics()})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		mongosession.FromContext(r.Context()).SetUser("ada") // a new session, after the headers
	})).ServeHTTP(httptest.NewRecorder(), req)
	c.expect(t, "SetUser after the headers", map[string]int{"commit": 1, "error late": 1})
}
