// Package routertest is the scenario every router adapter's test runs, against a real database: the
// development database that the library's tests use (or $MONGOSESSION_TEST_URI).
//
// It is internal to the library module, which is already a dependency of every adapter module (internal
// packages are importable by import path: github.com/mongosession/mongosession/adapters/... may), and it
// imports no router: the routers stay in the adapter modules.
package routertest

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/testdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// CounterPath is the route every router under test serves with GET: add 1 to the session's counter (Count)
// and answer its new value as decimal text, written the router's own way.
const CounterPath = "/count"

// Count adds 1 to the counter of the request's session and returns the value this request sees.
func Count(r *http.Request) (int64, error) {
	return mongosession.FromContext(r.Context()).Incr("count", 1)
}

// clock is the Managers' time: it moves only when a scenario advances it (Options.Clock).
var clock struct {
	mu  sync.Mutex
	now time.Time
}

func now() time.Time {
	clock.mu.Lock()
	defer clock.mu.Unlock()
	if clock.now.IsZero() {
		clock.now = time.Now()
	}
	return clock.now
}

// Run serves build(mgr) with a Manager on a fresh collection and checks, as a browser would see it:
// the cookie arrives on the first response, the counter survives reloads, a rotated token reaches the client
// and works, and all of it is one session document (a router that lets the headers out before the commit
// leaves one orphan document per request and no cookie).
func Run(t *testing.T, build func(mgr *mongosession.Manager) http.Handler) {
	t.Helper()
	mgr, coll := NewManager(t)
	srv := httptest.NewServer(build(mgr))
	t.Cleanup(srv.Close)
	c := &client{t: t, url: srv.URL + CounterPath}

	set := c.get(1)
	if set == nil {
		t.Fatal("first response: no session cookie")
	}
	c.cookie = set
	WantDocuments(t, coll, 1)

	for want := int64(2); want <= 4; want++ {
		if set := c.get(want); set != nil {
			c.cookie = set // the token went stale on a slow machine: a rotation, which is fine here
		}
	}
	WantDocuments(t, coll, 1)

	advance(mongosession.DefaultTokenTTL)
	before := c.cookie.Value
	set = c.get(5)
	if set == nil {
		t.Fatal("request with a stale token: no new cookie (the rotation did not reach the client)")
	}
	if set.Value == before {
		t.Fatal("request with a stale token: the cookie did not change")
	}
	if id(set.Value) != id(before) {
		t.Fatalf("rotation changed the session id: %q, was %q", id(set.Value), id(before))
	}
	c.cookie = set
	c.get(6) // the rotated cookie works
	WantDocuments(t, coll, 1)
}

// advance makes time pass for the Managers.
func advance(d time.Duration) {
	now()
	clock.mu.Lock()
	clock.now = clock.now.Add(d)
	clock.mu.Unlock()
}

// Main runs the tests of a package that uses this one, then stops the database they shared:
//
//	func TestMain(m *testing.M) { os.Exit(routertest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.stop != nil {
		db.stop()
	}
	return code
}

// db is the database shared by the tests of one test binary, started by the first NewManager.
var db struct {
	mu   sync.Mutex
	uri  string
	stop func()
	err  error
}

func databaseURI() (string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.uri == "" && db.err == nil {
		db.uri, db.stop, db.err = testdb.Start()
	}
	return db.uri, db.err
}

// NewManager connects to the test database and returns a Manager (plain-http cookie, the shared clock) on a
// collection of its own, dropped at the end of the test.
func NewManager(t *testing.T) (*mongosession.Manager, *mongo.Collection) {
	t.Helper()
	uri, err := databaseURI()
	if err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(mongosession.ClientOptions(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })

	ctx := t.Context()
	coll := client.Database("routertest").Collection("sessions_" + rand.Text())
	t.Cleanup(func() { _ = coll.Drop(context.Background()) })
	store, err := mongosession.NewMongoStore(ctx, coll, mongosession.StoreOptions{Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	mgr, err := mongosession.New(store, mongosession.Options{
		InsecureCookie: true, // httptest serves plain http
		Clock:          now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return mgr, coll
}

// client is a browser reduced to one cookie, so that every Set-Cookie is seen.
type client struct {
	t      *testing.T
	url    string
	cookie *http.Cookie
}

// get requests the counter, checks that it answers want, and returns the session cookie the response set
// (nil if none). A response may set at most one cookie.
func (c *client) get(want int64) *http.Cookie {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), http.MethodGet, c.url, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.cookie != nil {
		req.AddCookie(&http.Cookie{Name: c.cookie.Name, Value: c.cookie.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		c.t.Fatal(err)
	}
	got := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK || got != strconv.FormatInt(want, 10) {
		c.t.Fatalf("GET %s: %d %q, want 200 %q", CounterPath, resp.StatusCode, got, fmt.Sprint(want))
	}
	cookies := resp.Cookies()
	switch len(cookies) {
	case 0:
		return nil
	case 1:
		if cookies[0].Value == "" || cookies[0].MaxAge < 0 {
			c.t.Fatalf("GET %s: the response deletes the session cookie: %s", CounterPath, resp.Header.Get("Set-Cookie"))
		}
		return cookies[0]
	default:
		c.t.Fatalf("GET %s: %d cookies set, want at most one: %q", CounterPath, len(cookies), resp.Header.Values("Set-Cookie"))
		return nil
	}
}

// id is the session id part of a cookie value "<id>.<token>".
func id(cookieValue string) string {
	id, _, _ := strings.Cut(cookieValue, ".")
	return id
}

// WantDocuments fails the test unless coll holds want documents.
func WantDocuments(t *testing.T, coll *mongo.Collection, want int64) {
	t.Helper()
	n, err := coll.CountDocuments(t.Context(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("%d session documents, want %d", n, want)
	}
}
