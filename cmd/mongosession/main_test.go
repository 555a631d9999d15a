package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/testdb"
)

var (
	testURI    string
	testClient *mongo.Client
)

const testDB = "mongosession_cli_test"

func TestMain(m *testing.M) {
	uri, stop, err := testdb.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the test database:", err)
		os.Exit(1)
	}
	testURI = uri
	testClient, err = mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "cannot connect to the test database:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = testClient.Disconnect(context.Background())
	stop()
	os.Exit(code)
}

// env is one test's collection, with a Manager and an HTTP server in front of it.
type env struct {
	t    *testing.T
	coll *mongo.Collection
	mgr  *mongosession.Manager
	srv  *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, mongosession.Options{})
}

// newEnvWith is newEnv with opts for the Manager (plain http and client info always on).
func newEnvWith(t *testing.T, opts mongosession.Options) *env {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_")) + "_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := &env{t: t, coll: testClient.Database(testDB).Collection(name)}
	store, err := mongosession.NewMongoStore(ctx, e.coll, mongosession.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	opts.InsecureCookie, opts.RecordClientInfo = true, true
	e.mgr, err = mongosession.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		if u := r.URL.Query().Get("user"); u != "" {
			s.SetUser(u)
		}
		if err := s.Put("cart", "3 apples"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		s := mongosession.FromContext(r.Context())
		u, err := s.User()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %s", s.ID(), u)
	})
	e.srv = httptest.NewServer(e.mgr.Middleware(mux))
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.coll.Drop(ctx)
	})
	return e
}

// client is one browser.
type client struct {
	e *env
	c *http.Client
}

func (e *env) browser() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &client{e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (c *client) get(path string) string {
	c.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.e.srv.URL+path, nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("User-Agent", "cli-test-browser/1.0")
	resp, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.e.t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return string(body)
}

// login creates a session through the library (linked to user unless it is "") and returns its id.
func (e *env) login(user string) (string, *client) {
	e.t.Helper()
	c := e.browser()
	c.get("/login?user=" + user)
	id, u := c.whoami()
	if id == "" || u != user {
		e.t.Fatalf("after login as %q: whoami = %q %q", user, id, u)
	}
	return id, c
}

func (c *client) whoami() (id, user string) {
	c.e.t.Helper()
	id, user, _ = strings.Cut(c.get("/whoami"), " ")
	return id, user
}

// insert stores a session document in the shape MongoStore writes, for expired or old sessions that the
// library cannot create on demand.
func (e *env) insert(id, user string, created, expires time.Time) {
	e.t.Helper()
	doc := bson.D{
		{Key: "_id", Value: id},
		{Key: "tokens", Value: bson.A{bson.D{{Key: "h", Value: []byte("not-a-real-token-hash-0123456789")}, {Key: "at", Value: created}}}},
		{Key: "newest", Value: []byte("not-a-real-token-hash-0123456789")},
		{Key: "retired", Value: bson.A{}},
		{Key: "data", Value: bson.D{}},
		{Key: "created", Value: created},
		{Key: "seen", Value: created},
		{Key: "idle", Value: expires},
		{Key: "absolute", Value: expires},
		{Key: "expires", Value: expires},
		{Key: "v", Value: int64(1)},
	}
	if user != "" {
		doc = append(doc, bson.E{Key: "user", Value: user})
	}
	if _, err := e.coll.InsertOne(context.Background(), doc); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) ids(filter bson.D) []string {
	e.t.Helper()
	cur, err := e.coll.Find(context.Background(), filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		e.t.Fatal(err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(context.Background(), &docs); err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

// cli runs the command with --uri, --db and --collection of e put after the command's own arguments.
func (e *env) cli(args ...string) (code int, stdout, stderr string) {
	e.t.Helper()
	args = append(args, "--uri", testURI, "--db", testDB, "--collection", e.coll.Name())
	return runCLI(e.t, args...)
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	t.Logf("mongosession %s → %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

// field returns the value of the stats line that starts with label.
func field(t *testing.T, out, label string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, label); ok && strings.HasPrefix(rest, "  ") {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no %q line in:\n%s", label, out)
	return ""
}

func TestStats(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.login("u1")
	e.login("u2")
	e.login("") // live, no user
	e.insert("old-1h", "u3", now.Add(-time.Hour), now.Add(time.Hour))
	e.insert("old-3h", "", now.Add(-3*time.Hour), now.Add(time.Hour))
	e.insert("expired-1", "u1", now.Add(-5*time.Hour), now.Add(-time.Minute))
	e.insert("expired-2", "", now.Add(-5*time.Hour), now.Add(-time.Second))

	// Global flags before the command this time.
	code, out, errOut := runCLI(t, "--uri", testURI, "--db", testDB, "--collection", e.coll.Name(), "stats")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for label, want := range map[string]string{
		"live sessions":            "5",
		"linked to a user":         "3",
		"expired, not yet removed": "2",
		"age min":                  "0s",
		"age median":               "0s", // ages 0,0,0,1h,3h: nearest rank 3 of 5
		"age p90":                  "3h0m0s",
		"age max":                  "3h0m0s",
	} {
		if got := field(t, out, label); got != want {
			t.Errorf("%s = %q, want %q", label, got, want)
		}
	}
	// stats only reads.
	if n, _ := e.coll.CountDocuments(context.Background(), bson.D{}); n != 7 {
		t.Errorf("stats changed the collection: %d documents, want 7", n)
	}
}

func TestStatsEmpty(t *testing.T) {
	e := newEnv(t)
	code, out, _ := e.cli("stats")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if field(t, out, "live sessions") != "0" || field(t, out, "age median") != "-" {
		t.Errorf("unexpected output for an empty collection:\n%s", out)
	}
}

func TestListUser(t *testing.T) {
	e := newEnv(t)
	a, _ := e.login("u1")
	b, _ := e.login("u1")
	other, _ := e.login("u2")
	anon, _ := e.login("")
	e.insert("expired-of-u1", "u1", time.Now().Add(-3*time.Hour), time.Now().Add(-time.Minute))

	code, out, errOut := e.cli("list", "--user", "u1")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and 2 sessions, got %d lines:\n%s", len(lines), out)
	}
	for _, h := range []string{"SESSION", "CREATED", "LAST SEEN", "EXPIRES", "REMOTE ADDR", "USER AGENT"} {
		if !strings.Contains(lines[0], h) {
			t.Errorf("header %q lacks %q", lines[0], h)
		}
	}
	if strings.Contains(out, a) || strings.Contains(out, b) {
		t.Errorf("list shows raw session ids without --show-ids:\n%s", out)
	}
	got := map[string]bool{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("short line %q", l)
		}
		got[f[0]] = true
		for _, ts := range f[1:4] {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				t.Errorf("line %q: %q is not a time: %v", l, ts, err)
			}
		}
		if f[4] != "127.0.0.1" || !strings.HasSuffix(l, "cli-test-browser/1.0") {
			t.Errorf("line %q: want remote 127.0.0.1 and the browser's user agent", l)
		}
	}
	hash := mongosession.SessionHash
	if !got[hash(a)] || !got[hash(b)] || got[hash(other)] || got[hash(anon)] || got[hash("expired-of-u1")] {
		t.Errorf("listed %v; want exactly the hashes of %s and %s", got, a, b)
	}

	// --show-ids adds the raw id after the hash.
	code, out, _ = e.cli("list", "--user", "u1", "--show-ids")
	lines = strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "SESSION") || strings.Fields(lines[0])[1] != "ID" {
		t.Fatalf("list --show-ids: exit %d, output:\n%s", code, out)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); f[0] != hash(f[1]) || (f[1] != a && f[1] != b) {
			t.Errorf("list --show-ids line %q: want the hash, then the id of %s or %s", l, a, b)
		}
	}

	// A user without sessions: the header alone.
	code, out, _ = e.cli("list", "--user", "nobody")
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("list --user nobody: exit %d, output %q", code, out)
	}
}

// TestRevokeUserExcept: --except takes hashes (as list prints them) and raw ids; one that names no live
// session of the user stops the command before it deletes anything (it would log out the session meant to
// be kept).
func TestRevokeUserExcept(t *testing.T) {
	e := newEnv(t)
	a, ca := e.login("u1")
	keep, ckeep := e.login("u1")
	keepByID, _ := e.login("u1")
	c, cc := e.login("u1")
	other, _ := e.login("u2")

	code, out, errOut := e.cli("revoke", "--user", "u1", "--except", mongosession.SessionHash(keep),
		"--except", mongosession.SessionHash(other))
	if code != 1 || out != "" || !oneErrorLine(errOut) || !strings.Contains(errOut, mongosession.SessionHash(other)) {
		t.Errorf("--except naming another user's session: exit %d, stdout %q, stderr %q; want 1 and a message",
			code, out, errOut)
	}
	if n := len(e.ids(bson.D{})); n != 5 {
		t.Fatalf("the refused revoke deleted sessions: %d left, want 5", n)
	}

	code, out, errOut = e.cli("revoke", "--user", "u1", "--except", mongosession.SessionHash(keep), "--except", keepByID)
	if code != 0 || errOut != "" || out != "deleted 2 sessions\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	left := e.ids(bson.D{})
	if len(left) != 3 || !contains(left, keep) || !contains(left, keepByID) || !contains(left, other) {
		t.Errorf("after revoke: sessions %v; want %s and %s (excepted) and %s (other user)", left, keep, keepByID, other)
	}
	// The revoked browsers are logged out, the excepted one is not.
	for _, br := range []*client{ca, cc} {
		if _, u := br.whoami(); u != "" {
			t.Errorf("a revoked browser is still user %q", u)
		}
	}
	if id, u := ckeep.whoami(); id != keep || u != "u1" {
		t.Errorf("the excepted browser: %q %q, want %q u1", id, u, keep)
	}
	if contains(left, a) || contains(left, c) {
		t.Errorf("revoked sessions are still stored: %v", left)
	}

	// Everywhere, this time.
	code, out, _ = e.cli("revoke", "--user", "u1")
	if code != 0 || out != "deleted 2 sessions\n" {
		t.Errorf("revoke --user u1: exit %d, stdout %q", code, out)
	}
	if left := e.ids(bson.D{}); len(left) != 1 || left[0] != other {
		t.Errorf("after revoking all of u1: %v, want [%s]", left, other)
	}
}

func TestRevokeSession(t *testing.T) {
	e := newEnv(t)
	victim, cv := e.login("u1")
	other, _ := e.login("u1")

	code, out, errOut := e.cli("revoke", "--session", victim)
	if code != 0 || errOut != "" || out != "deleted 1 session\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if left := e.ids(bson.D{}); len(left) != 1 || left[0] != other {
		t.Errorf("after revoke: %v, want [%s]", left, other)
	}
	if _, u := cv.whoami(); u != "" {
		t.Errorf("the revoked browser is still user %q", u)
	}
	// Again: nothing left to delete, which is no error.
	code, out, _ = e.cli("revoke", "--session", victim)
	if code != 0 || out != "deleted 0 sessions\n" {
		t.Errorf("second revoke: exit %d, stdout %q", code, out)
	}
}

// TestRevokeUserSession: with --user, --session takes the hash that list prints (in either case) or the
// raw id, and deletes only a session of that user.
func TestRevokeUserSession(t *testing.T) {
	e := newEnv(t)
	byHash, cByHash := e.login("u1")
	byID, _ := e.login("u1")
	byUpper, _ := e.login("u1")
	kept, cKept := e.login("u1")
	others, _ := e.login("u2")

	for _, tc := range []struct {
		user, ref, out string
	}{
		{"u1", mongosession.SessionHash(byHash), "deleted 1 session\n"},
		{"u1", byID, "deleted 1 session\n"},
		{"u1", strings.ToUpper(mongosession.SessionHash(byUpper)), "deleted 1 session\n"},
		{"u1", mongosession.SessionHash(byHash), "deleted 0 sessions\n"}, // already gone
		{"u1", mongosession.SessionHash(others), "deleted 0 sessions\n"}, // not u1's: untouched
		{"u1", others, "deleted 0 sessions\n"},
		{"u3", mongosession.SessionHash(kept), "deleted 0 sessions\n"},
	} {
		code, out, errOut := e.cli("revoke", "--user", tc.user, "--session", tc.ref)
		if code != 0 || errOut != "" || out != tc.out {
			t.Errorf("revoke --user %s --session %s: exit %d, stdout %q, stderr %q; want %q", tc.user, tc.ref, code,
				out, errOut, tc.out)
		}
	}
	if left := e.ids(bson.D{}); len(left) != 2 || !contains(left, kept) || !contains(left, others) {
		t.Errorf("sessions left %v; want %s and %s", left, kept, others)
	}
	if _, u := cByHash.whoami(); u != "" {
		t.Errorf("the session revoked by hash is still user %q", u)
	}
	if id, u := cKept.whoami(); id != kept || u != "u1" {
		t.Errorf("the kept session: %q %q", id, u)
	}
}

// TestFollowEvent: the session a token_reuse event names is the one list shows under SESSION, and revoke
// takes that name.
func TestFollowEvent(t *testing.T) {
	var mu sync.Mutex
	var events []mongosession.SecurityEvent
	// Every read rotates the token and only the two newest are accepted: two rotations retire a cookie. The
	// clock jumps before the replay, so that the retired token is not one of a request already in flight.
	var jump atomic.Int64
	e := newEnvWith(t, mongosession.Options{TokenTTL: time.Nanosecond, TokensKept: 2, KeepSessionOnReuse: true,
		Clock: func() time.Time { return time.Now().Add(time.Duration(jump.Load())) },
		OnSecurityEvent: func(ev mongosession.SecurityEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
		}})
	victim, browser := e.login("u1")
	e.login("u1") // another device of the same user
	stolen := browser.cookie()
	for range 2 {
		before := browser.cookie()
		if id, _ := browser.whoami(); id != victim || browser.cookie() == before {
			t.Fatal("the read did not rotate the token")
		}
	}
	jump.Store(int64(time.Minute))
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", "session="+stolen)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	if len(events) != 1 || events[0].Kind != mongosession.EventTokenReuse {
		mu.Unlock()
		t.Fatalf("events %+v, want one token_reuse", events)
	}
	named := events[0].Session
	mu.Unlock()

	code, out, _ := e.cli("list", "--user", "u1")
	if code != 0 || strings.Count(out, named) != 1 {
		t.Fatalf("the event names %s; list shows:\n%s", named, out)
	}
	code, out, errOut := e.cli("revoke", "--user", "u1", "--session", named)
	if code != 0 || out != "deleted 1 session\n" {
		t.Fatalf("revoke by the event's name: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, u := browser.whoami(); u != "" {
		t.Errorf("the session the event named is still user %q", u)
	}
	if code, out, _ = e.cli("list", "--user", "u1"); code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("want the other device's session left:\n%s", out)
	}
}

// cookie returns the value of the session cookie the browser holds.
func (c *client) cookie() string {
	u, err := url.Parse(c.e.srv.URL)
	if err != nil {
		c.e.t.Fatal(err)
	}
	for _, ck := range c.c.Jar.Cookies(u) {
		if ck.Name == "session" {
			return ck.Value
		}
	}
	return ""
}

func TestPurge(t *testing.T) {
	e := newEnv(t)
	live1, _ := e.login("u1")
	live2, _ := e.login("")
	now := time.Now()
	for i := range 5 { // expired more than the purge margin (24 h) ago
		e.insert(fmt.Sprintf("expired-%d", i), "u1", now.Add(-50*time.Hour), now.Add(-25*time.Hour-time.Duration(i+1)*time.Minute))
	}
	// Expired a minute ago: a server whose clock runs fast would call it expired while it is live elsewhere.
	recent := "expired-a-minute-ago"
	e.insert(recent, "u1", now.Add(-3*time.Hour), now.Add(-time.Minute))

	// --batch 2 makes three batches (2, 2, 1).
	code, out, errOut := e.cli("purge", "--batch", "2")
	if code != 0 || errOut != "" || out != "deleted 5 expired sessions\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if left := e.ids(bson.D{}); len(left) != 3 || !contains(left, live1) || !contains(left, live2) || !contains(left, recent) {
		t.Errorf("after purge: %v, want the live %s and %s, and %s (within the margin)", left, live1, live2, recent)
	}
	code, out, _ = e.cli("purge")
	if code != 0 || out != "deleted 0 expired sessions\n" {
		t.Errorf("second purge: exit %d, stdout %q", code, out)
	}
}

func TestEnvURI(t *testing.T) {
	e := newEnv(t)
	e.login("u1")
	t.Setenv(EnvURI, testURI)
	code, out, errOut := runCLI(t, "stats", "--db", testDB, "--collection", e.coll.Name())
	if code != 0 || errOut != "" || field(t, out, "live sessions") != "1" {
		t.Errorf("with $%s: exit %d, stderr %q", EnvURI, code, errOut)
	}
	// --uri wins over the environment.
	code, _, _ = runCLI(t, "--uri", "nope://x", "stats")
	if code != 1 {
		t.Errorf("--uri nope://x with $%s set: exit %d, want 1", EnvURI, code)
	}
}

func TestMissingCollection(t *testing.T) {
	name := "does_not_exist_" + hex.EncodeToString([]byte(t.Name()))[:8]
	for _, cmd := range [][]string{{"stats"}, {"purge"}, {"list", "--user", "u1"}, {"revoke", "--user", "u1"}} {
		code, out, errOut := runCLI(t, append(cmd, "--uri", testURI, "--db", testDB, "--collection", name)...)
		if code != 1 || out != "" || !oneErrorLine(errOut) || !strings.Contains(errOut, "does not exist") {
			t.Errorf("%v on a missing collection: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
		}
	}
	names, err := testClient.Database(testDB).ListCollectionNames(context.Background(), bson.D{{Key: "name", Value: name}})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("the commands created the collection %s", name)
	}
}

func oneErrorLine(s string) bool {
	return strings.HasPrefix(s, "mongosession: ") && strings.HasSuffix(s, "\n") && strings.Count(s, "\n") == 1
}

func TestBadURI(t *testing.T) {
	for _, uri := range []string{"nope://x", "mongodb://", "mongodb://127.0.0.1:99999"} {
		start := time.Now()
		code, out, errOut := runCLI(t, "--uri", uri, "stats")
		if code != 1 || out != "" || !oneErrorLine(errOut) {
			t.Errorf("--uri %s: exit %d, stdout %q, stderr %q; want 1 and one line on stderr", uri, code, out, errOut)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("--uri %s took %v", uri, d)
		}
	}
}

func TestUnreachableServer(t *testing.T) {
	for _, cmd := range [][]string{{"stats"}, {"purge"}, {"list", "--user", "u1"}, {"revoke", "--session", "x"}} {
		t.Run(cmd[0], func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			code, out, errOut := runCLI(t, append([]string{"--uri", "mongodb://127.0.0.1:1", "--timeout", "2s"}, cmd...)...)
			elapsed := time.Since(start)
			if code != 1 || out != "" || !oneErrorLine(errOut) || !strings.Contains(errOut, "127.0.0.1:1") {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and one line naming the server", code, out, errOut)
			}
			if elapsed > 15*time.Second { // a "never hangs" check; the deadline is 2 s
				t.Errorf("took %v with --timeout 2s", elapsed)
			}
		})
	}
}

// TestSilentServer: a server that accepts connections but never answers (a hung proxy, a wrong port on
// another service) must not hang the command either.
func TestSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	start := time.Now()
	code, out, errOut := runCLI(t, "--uri", "mongodb://"+ln.Addr().String(), "--timeout", "2s", "stats")
	elapsed := time.Since(start)
	if code != 1 || out != "" || !oneErrorLine(errOut) {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1 and one line", code, out, errOut)
	}
	if elapsed > 15*time.Second {
		t.Errorf("took %v with --timeout 2s", elapsed)
	}
}

func TestUsageErrors(t *testing.T) {
	// An unreachable server: a usage error must be reported before any connection attempt.
	base := []string{"--uri", "mongodb://127.0.0.1:1", "--timeout", "5s"}
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"--bogus", "stats"},
		{"stats", "--bogus"},
		{"stats", "extra"},
		{"list"},
		{"list", "--user"},
		{"revoke"},
		{"revoke", "--session", mongosession.SessionHash("s1")}, // a hash needs --user
		{"revoke", "--session", ""},
		{"revoke", "--user", "", "--session", "s1"},
		{"revoke", "--user", "u1", "--session", ""},
		{"revoke", "--user", "u1", "--session", "s1", "--except", "s2"},
		{"list", "--user", "u1", "--show-ids=maybe"},
		{"revoke", "--session", "s1", "--except", "s2"},
		{"revoke", "--user", "u1", "--except", ""},
		{"purge", "--batch", "0"},
		{"purge", "--batch", "many"},
		{"--timeout", "0s", "stats"},
		{"--timeout", "soon", "stats"},
		{"stats", "--collection", ""},
	} {
		start := time.Now()
		code, out, errOut := runCLI(t, append(append([]string{}, base...), args...)...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "mongosession: ") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and a message", args, code, out, errOut)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%q: took %v: did it connect before checking the command line?", args, d)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"revoke", "-h"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Usage: mongosession [global flags] <command> [flags]") {
			t.Errorf("%q: exit %d, stderr %q; want the usage on stdout", args, code, errOut)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
