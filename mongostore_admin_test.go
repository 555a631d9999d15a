package mongosession_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// insertSession stores a document with the fields Stats reads (user only when not nil), for sessions of a
// chosen age or already expired, which the library does not create on demand.
func insertSession(t *testing.T, e *env, id string, user *string, created, expires time.Time) {
	t.Helper()
	doc := bson.D{{Key: "_id", Value: id}, {Key: "created", Value: created}, {Key: "expires", Value: expires}}
	if user != nil {
		doc = append(doc, bson.E{Key: "user", Value: *user})
	}
	if _, err := e.coll.InsertOne(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
}

func TestStoreStats(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond) // BSON dates hold milliseconds: ages come back exact
	u, empty := "ada", ""
	for i := 10; i >= 1; i-- { // live, ages 1 to 10 minutes; out of order on purpose
		var user *string
		switch {
		case i%2 == 1:
			user = &u
		case i == 2:
			user = &empty // an empty user links to nobody
		}
		insertSession(t, e, fmt.Sprint("live-", i), user, now.Add(-time.Duration(i)*time.Minute), now.Add(time.Hour))
	}
	// A renewed session's tombstone has no creation time: it is not a session.
	if _, err := e.coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "no-created"}, {Key: "expires", Value: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	insertSession(t, e, "expired-now", &u, now.Add(-3*time.Hour), now) // expires at now: expired
	insertSession(t, e, "expired-earlier", nil, now.Add(-3*time.Hour), now.Add(-time.Minute))

	e.cmds.Store(0)
	st, err := e.store.Stats(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := mongosession.StoreStats{Live: 10, WithUser: 5, Expired: 2, Ages: mongosession.AgeSpread{N: 10,
		Min: time.Minute, Median: 5 * time.Minute, P90: 9 * time.Minute, Max: 10 * time.Minute}}
	if st != want {
		t.Errorf("Stats = %+v\nwant    %+v", st, want)
	}
	if n := e.cmds.Load(); n != 2 {
		t.Errorf("Stats made %d commands, want 2 (a count and a scan)", n)
	}

	// Two hours later everything has expired: no ages to spread.
	st, err = e.store.Stats(ctx, now.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := (mongosession.StoreStats{Expired: 12}); st != want {
		t.Errorf("Stats two hours later = %+v, want %+v", st, want)
	}
	if n := e.docCount(bson.D{}); n != 13 {
		t.Errorf("Stats changed the collection: %d documents, want 13", n)
	}
}

// TestStoreStatsOfLibrarySessions: Stats reads the documents the library writes.
func TestStoreStatsOfLibrarySessions(t *testing.T) {
	e := newEnv(t, envConfig{handler: loginRoutes})
	ctx := context.Background()
	e.get("/login?u=ada")
	e.do(e.newClient(), "/put?k=cart&v=apples") // a session of nobody
	st, err := e.store.Stats(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Live != 2 || st.WithUser != 1 || st.Expired != 0 || st.Ages.N != 2 || st.Ages.Max > time.Minute || st.Ages.Min < 0 {
		t.Errorf("Stats = %+v; want 2 live, 1 with a user, none expired, 2 young ages", st)
	}
	st, err = e.store.Stats(ctx, time.Now().Add(e.mgr.Options().Lifetime+time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := (mongosession.StoreStats{Expired: 2}); st != want {
		t.Errorf("Stats after the lifetime = %+v, want %+v", st, want)
	}
}

// loginRoutes adds /login?u=USER (links the session to USER) to the test application.
func loginRoutes(e *env) http.Handler {
	inner := routes(e)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			s := mongosession.FromContext(r.Context())
			s.SetUser(r.FormValue("u"))
			if err := s.Put("cart", "apples"); err != nil {
				fmt.Fprint(w, "err ", err)
				return
			}
			fmt.Fprint(w, "ok")
			return
		}
		inner.ServeHTTP(w, r)
	})
}

func TestDeleteReportsExistence(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	e.get("/put?k=cart&v=apples")
	id, _, _ := strings.Cut(e.cookie(), ".")
	other := e.newClient()
	e.do(other, "/put?k=cart&v=pears")

	existed, err := e.store.Delete(ctx, id)
	if err != nil || !existed {
		t.Fatalf("Delete(live) = %v, %v; want true", existed, err)
	}
	if got := e.get("/get?k=cart"); got != "ok <nil>" {
		t.Errorf("the revoked session still reads %q", got)
	}
	if _, got, _ := e.do(other, "/get?k=cart"); got != "ok pears" {
		t.Errorf("another session was touched: %q", got)
	}
	existed, err = e.store.Delete(ctx, id)
	if err != nil || existed {
		t.Errorf("Delete again = %v, %v; want false", existed, err)
	}
	if existed, err := e.store.Delete(ctx, "no-such-session"); err != nil || existed {
		t.Errorf("Delete(unknown) = %v, %v; want false", existed, err)
	}
	// An expired session not yet removed is still there to delete.
	insertSession(t, e, "expired", nil, time.Now().Add(-3*time.Hour), time.Now().Add(-time.Minute))
	if existed, err := e.store.Delete(ctx, "expired"); err != nil || !existed {
		t.Errorf("Delete(expired) = %v, %v; want true", existed, err)
	}
	if n := e.docCount(bson.D{}); n != 1 {
		t.Errorf("%d documents left, want the other session's", n)
	}
}
