package main

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/mongosession/mongosession/reliability/browser"
)

func testClient() *client {
	e := &env{rec: newRecorder()}
	return &client{id: 1, b: browser.New(1, http.DefaultClient), e: e, rng: rand.New(rand.NewPCG(1, 1))}
}

func ok(user string, n int64) *browser.Response {
	return &browser.Response{Status: 200, HasReply: true, Reply: browser.Reply{OK: true, User: user, N: n, SID: "s"},
		Start: time.Now(), End: time.Now()}
}

func status(code int) *browser.Response { return &browser.Response{Status: code} }

var (
	read   = op{kind: opRead, path: "/read"}
	incr   = op{kind: opIncr, path: "/incr?k=n"}
	login  = op{kind: opLogin, path: "/login?user=u"}
	logout = op{kind: opLogout, path: "/logout"}
)

func TestAccountingCountsALossOnce(t *testing.T) {
	c := testClient()
	c.account([]op{incr, incr}, []*browser.Response{ok("", 1), ok("", 2)})
	c.account([]op{incr}, []*browser.Response{ok("", 3)})
	if c.acked != 3 || c.attempted != 3 {
		t.Fatalf("acked %d attempted %d, want 3 3", c.acked, c.attempted)
	}
	c.account([]op{read}, []*browser.Response{ok("", 1)})
	c.account([]op{read}, []*browser.Response{ok("", 1)})
	if m := c.e.rec.m; m.LostIncrements != 2 || m.PhantomIncrements != 0 {
		t.Fatalf("lost %d phantom %d, want 2 0", m.LostIncrements, m.PhantomIncrements)
	}
}

func TestAccountingIncrementSeesItsOwnIncrement(t *testing.T) {
	c := testClient()
	c.account([]op{incr}, []*browser.Response{ok("", 1)})
	// Two parallel increments: each sees at least acked+1; the slower one may not see the other.
	c.account([]op{incr, incr}, []*browser.Response{ok("", 2), ok("", 2)})
	if m := c.e.rec.m; m.LostIncrements != 0 {
		t.Fatalf("lost %d, want 0", m.LostIncrements)
	}
	c.account([]op{incr}, []*browser.Response{ok("", 3)}) // stored 2 < 3 acknowledged, plus its own
	if m := c.e.rec.m; m.LostIncrements != 1 {
		t.Fatalf("lost %d, want 1", m.LostIncrements)
	}
}

func TestAccountingFailedIncrementsBoundTheCounterOnly(t *testing.T) {
	c := testClient()
	c.account([]op{incr, incr}, []*browser.Response{ok("", 1), status(503)}) // the 503 one may be applied
	c.account([]op{read}, []*browser.Response{ok("", 2)})
	c.account([]op{read}, []*browser.Response{ok("", 3)}) // more than ever sent
	if m := c.e.rec.m; m.LostIncrements != 0 || m.PhantomIncrements != 1 {
		t.Fatalf("lost %d phantom %d, want 0 1", m.LostIncrements, m.PhantomIncrements)
	}
}

func TestAccountingSpuriousLogout(t *testing.T) {
	c := testClient()
	c.account([]op{login}, []*browser.Response{ok("u", 0)})
	if !c.loggedIn {
		t.Fatal("not logged in after a 200 login")
	}
	// Requests in the login's own batch may carry the older cookie: not checked.
	c.account([]op{login, read}, []*browser.Response{ok("u", 0), ok("", 0)})
	if c.e.rec.m.SpuriousLogouts != 0 {
		t.Fatal("a request of the login's batch was counted")
	}
	c.account([]op{read, read}, []*browser.Response{ok("", 0), ok("", 0)})
	if c.e.rec.m.SpuriousLogouts != 1 || !c.resync {
		t.Fatalf("spurious %d resync %v, want 1 true", c.e.rec.m.SpuriousLogouts, c.resync)
	}
}

func TestAccountingLogoutAndUnknownOutcomes(t *testing.T) {
	c := testClient()
	c.account([]op{login}, []*browser.Response{ok("u", 0)})
	c.account([]op{incr}, []*browser.Response{ok("u", 1)})
	c.account([]op{logout}, []*browser.Response{ok("", 0)})
	if c.loggedIn || c.acked != 0 || c.resync {
		t.Fatalf("after logout: logged in %v acked %d resync %v", c.loggedIn, c.acked, c.resync)
	}
	c.account([]op{read}, []*browser.Response{ok("", 0)})
	c.account([]op{login}, []*browser.Response{status(503)})
	if !c.resync {
		t.Fatal("a failed login did not ask for a re-read")
	}
	c.account([]op{read}, []*browser.Response{ok("", 0)}) // unknown state: not checked
	if m := c.e.rec.m; m.SpuriousLogouts != 0 || m.LostIncrements != 0 {
		t.Fatalf("counted while the state was unknown: %+v", m)
	}
}
