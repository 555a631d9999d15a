package mongosession_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// request returns a request that carries b's cookie, as a WebSocket upgrade from that browser would.
func (b *browser) request() *http.Request {
	r := httptest.NewRequest("GET", "/ws", nil)
	if b.cookie != nil {
		r.AddCookie(b.cookie)
	}
	return r
}

func TestLoadAndCommit(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	b := &browser{m: e.mgr}
	b.do(func(s *mongosession.Session) { _ = s.Put("n", 1) })
	cookie := b.cookie.Value
	e.clock.Advance(time.Minute) // the token is due for rotation: a detached commit must not rotate

	e.cmds.Store(0)
	s, err := e.mgr.Load(ctx, b.request())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.cmds.Load(); got != 1 {
		t.Fatalf("Load: %d database commands, want 1 (the read)", got)
	}
	if n, err := s.GetInt("n"); n != 1 || err != nil {
		t.Fatalf("loaded n = %d, %v", n, err)
	}
	if _, err := s.Incr("n", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("from", "websocket"); err != nil {
		t.Fatal(err)
	}
	if got := e.cmds.Load(); got != 1 {
		t.Fatalf("changes before Commit: %d database commands, want still 1", got)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.cmds.Load(); got != 2 {
		t.Fatalf("Commit: %d database commands in all, want 2 (one read, one write)", got)
	}
	// Committed again with nothing new: nothing written.
	if err := s.Commit(ctx); err != nil || e.cmds.Load() != 2 {
		t.Fatalf("second Commit without changes: %v, %d commands", err, e.cmds.Load())
	}
	// No rotation: the document still has the one token, and the browser sees the changes with its cookie.
	var doc struct {
		Tokens []bson.Raw `bson:"tokens"`
	}
	if err := e.coll.FindOne(ctx, bson.D{}).Decode(&doc); err != nil || len(doc.Tokens) != 1 {
		t.Fatalf("tokens after a detached commit: %d, %v; want 1 (no rotation)", len(doc.Tokens), err)
	}
	b.do(func(s *mongosession.Session) {
		n, _ := s.GetInt("n")
		from, _ := s.GetString("from")
		if n != 2 || from != "websocket" {
			t.Fatalf("the browser sees n=%d from=%q", n, from)
		}
	})
	if b.cookie.Value == cookie {
		t.Fatal("the browser's own request did not rotate the due token")
	}

	// Changes that only a cookie could carry are refused at once.
	s, err = e.mgr.Load(ctx, b.request())
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{"Renew": s.Renew(), "Destroy": s.Destroy(), "Promote": s.Promote(),
		"RememberMe": s.RememberMe(true)} {
		if !errors.Is(err, mongosession.ErrHeadersSent) {
			t.Errorf("%s on a loaded session: %v, want ErrHeadersSent", name, err)
		}
	}

	// The middleware commits its own sessions.
	b.do(func(s *mongosession.Session) {
		if err := s.Commit(ctx); err == nil {
			t.Error("Commit of a middleware session succeeded")
		}
	})
}

func TestLoadWithoutSession(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	for name, load := range map[string]func() (*mongosession.Session, error){
		"no cookie": func() (*mongosession.Session, error) { return e.mgr.Load(ctx, httptest.NewRequest("GET", "/", nil)) },
		"unknown cookie": func() (*mongosession.Session, error) {
			return e.mgr.LoadCookie(ctx, "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		},
		"unknown id": func() (*mongosession.Session, error) { return e.mgr.LoadID(ctx, "AAAAAAAAAAAAAAAAAAAAAA") },
		"not a cookie value": func() (*mongosession.Session, error) {
			return e.mgr.LoadCookie(ctx, "x; session=AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		},
	} {
		s, err := load()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Mode() != mongosession.ModeNone {
			t.Errorf("%s: mode %s", name, s.Mode())
		}
		// Creating a session needs a cookie.
		if err := s.Put("a", 1); !errors.Is(err, mongosession.ErrHeadersSent) {
			t.Errorf("%s: Put: %v, want ErrHeadersSent", name, err)
		}
		s.SetUser("ada")
		if err := s.Commit(ctx); !errors.Is(err, mongosession.ErrHeadersSent) {
			t.Errorf("%s: Commit of SetUser: %v, want ErrHeadersSent", name, err)
		}
	}
	if n := e.docCount(bson.D{}); n != 0 {
		t.Fatalf("%d sessions created without a cookie", n)
	}
}

// A long-lived connection keeps the id of the session it loaded and loads by id later: rotations by the
// browser's own requests do not cut it off.
func TestLoadID(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	b := &browser{m: e.mgr}
	b.do(func(s *mongosession.Session) { _ = s.Put("n", 1) })
	first, err := e.mgr.Load(ctx, b.request())
	if err != nil {
		t.Fatal(err)
	}
	id := first.ID()
	for range 4 { // the browser rotates its token past TokensKept
		e.clock.Advance(6 * time.Second)
		b.do(func(s *mongosession.Session) { _, _ = s.Get("n") })
	}
	if old, err := e.mgr.Load(ctx, b.request()); err != nil || old.Mode() != mongosession.ModeDatabase {
		t.Fatalf("the browser's current cookie: %v, %v", old, err)
	}
	s, err := e.mgr.LoadID(ctx, id)
	if err != nil || s.Mode() != mongosession.ModeDatabase {
		t.Fatalf("LoadID: %v, %v", s, err)
	}
	if _, err := s.Incr("n", 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b.do(func(s *mongosession.Session) {
		if n, _ := s.GetInt("n"); n != 11 {
			t.Fatalf("the browser sees n=%d, want 11", n)
		}
	})
	// Logout ends it for the connection too.
	b.do(func(s *mongosession.Session) { _ = s.Destroy() })
	if s, err := e.mgr.LoadID(ctx, id); err != nil || s.Mode() != mongosession.ModeNone {
		t.Fatalf("LoadID after logout: mode %v, %v", s.Mode(), err)
	}
}

// A session renewed (login) or destroyed (logout) while a connection held it: its changes are not stored.
func TestCommitSuperseded(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	b := &browser{m: e.mgr}
	b.do(func(s *mongosession.Session) { _ = s.Put("n", 1) })
	s, err := e.mgr.Load(ctx, b.request())
	if err != nil {
		t.Fatal(err)
	}
	b.do(func(s *mongosession.Session) { _ = s.Renew() })
	_ = s.Put("late", true)
	if err := s.Commit(ctx); !errors.Is(err, mongosession.ErrSuperseded) {
		t.Fatalf("Commit after Renew: %v, want ErrSuperseded", err)
	}
	if n := e.docCount(bson.D{{Key: "data.late", Value: true}}); n != 0 {
		t.Fatal("a superseded commit was stored")
	}
}

func TestLoadCookieMode(t *testing.T) {
	e := newEnv(t, envConfig{opts: cookieOpts()})
	ctx := context.Background()
	b := &browser{m: e.mgr}
	b.do(func(s *mongosession.Session) { _ = s.Put("n", 7) })
	e.cmds.Store(0)
	s, err := e.mgr.LoadCookie(ctx, b.cookie.Value)
	if err != nil || s.Mode() != mongosession.ModeCookie {
		t.Fatalf("LoadCookie of a sealed cookie: %v, %v", s, err)
	}
	if n, err := s.GetInt("n"); n != 7 || err != nil {
		t.Fatalf("n = %d, %v", n, err)
	}
	// A cookie-mode session lives in its cookie: no change can be stored without sending one.
	if err := s.Put("n", 8); !errors.Is(err, mongosession.ErrHeadersSent) {
		t.Fatalf("Put: %v, want ErrHeadersSent", err)
	}
	s.SetUser("ada") // would move it to the database, under a new cookie
	if err := s.Commit(ctx); !errors.Is(err, mongosession.ErrHeadersSent) {
		t.Fatalf("Commit of SetUser: %v, want ErrHeadersSent", err)
	}
	if n := e.cmds.Load(); n != 0 {
		t.Fatalf("%d database commands for a cookie-mode session", n)
	}
}

func TestLoadDatabaseDown(t *testing.T) {
	p, uri := newProxiedURI(t)
	e := newEnv(t, envConfig{uri: uri, timeout: 300 * time.Millisecond,
		opts: mongosession.Options{Timeout: 300 * time.Millisecond}})
	ctx := context.Background()
	b := &browser{m: e.mgr}
	b.do(func(s *mongosession.Session) { _ = s.Put("n", 1) })
	s, err := e.mgr.Load(ctx, b.request())
	if err != nil {
		t.Fatal(err)
	}
	id := s.ID()
	_ = s.Put("n", 2)
	p.stop()
	if err := s.Commit(ctx); err == nil || errors.Is(err, mongosession.ErrSuperseded) {
		t.Fatalf("Commit with the database down: %v", err)
	}
	if _, err := e.mgr.Load(ctx, b.request()); err == nil {
		t.Fatal("Load with the database down succeeded")
	}
	if _, err := e.mgr.LoadID(ctx, id); err == nil {
		t.Fatal("LoadID with the database down succeeded")
	}
}
