package mongosession

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/mongosession/mongosession/internal/store"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

func testCollection(t *testing.T) *mongo.Collection {
	t.Helper()
	client, err := mongo.Connect(ClientOptions(TestURI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	coll := client.Database("mongosession_test").Collection(fmt.Sprintf("internal_%d", time.Now().UnixNano()))
	t.Cleanup(func() { _ = coll.Drop(context.Background()) })
	return coll
}

// ttlAnswer makes the server's answer to the TTL index request whatever the test needs.
func ttlAnswer(answer error) func(context.Context, *mongo.Collection) error {
	return func(context.Context, *mongo.Collection) error { return answer }
}

var errNoTTL = mongo.CommandError{Code: 238, Name: "NotImplemented", Message: "expireAfterSeconds"}

func TestStoreUsesTTLIndexWhenServerHasOne(t *testing.T) {
	s, err := NewMongoStore(context.Background(), testCollection(t),
		StoreOptions{PurgeInterval: time.Millisecond, createTTLIndex: ttlAnswer(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !s.UsesTTLIndex() {
		t.Fatal("TTL index accepted, but the store runs a purge")
	}
	done := make(chan struct{})
	go func() { _ = s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs although no purge goroutine should run")
	}
}

func insertExpiring(t *testing.T, coll *mongo.Collection, id string, expires time.Time) {
	t.Helper()
	if _, err := coll.InsertOne(context.Background(), bson.D{{Key: fieldID, Value: id}, {Key: fieldExpires, Value: expires}}); err != nil {
		t.Fatal(err)
	}
}

// TestStorePurgesWhenServerHasNoTTL: the background purge removes what expired more than PurgeMargin ago, and
// only that. The store's clock runs 25 h ahead, so sessions that expired a minute ago are past the margin.
func TestStorePurgesWhenServerHasNoTTL(t *testing.T) {
	ctx := context.Background()
	coll := testCollection(t)
	now := time.Now()
	for i := range 12 {
		exp := now.Add(-time.Minute)
		if i >= 10 {
			exp = now.Add(2 * time.Hour) // expired by the fast clock, but not by more than the margin
		}
		insertExpiring(t, coll, fmt.Sprint("s", i), exp)
	}
	passes := make(chan int64, 100)
	s, err := NewMongoStore(ctx, coll, StoreOptions{PurgeInterval: time.Millisecond, PurgeBatch: 3,
		Clock: func() time.Time { return time.Now().Add(25 * time.Hour) }, createTTLIndex: ttlAnswer(errNoTTL),
		afterPurge: func(n int64, err error) {
			if err != nil {
				t.Error(err)
			}
			passes <- n
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.UsesTTLIndex() {
		t.Fatal("server refused TTL, store claims to use it")
	}
	if n := <-passes; n != 10 {
		t.Fatalf("first background pass deleted %d, want 10", n)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{}); n != 2 {
		t.Fatalf("background purge left %d documents, want the 2 within the margin", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPurgeMarginToleratesFastClocks: an application server whose clock is 3 h fast deletes nothing that is
// live for the others (the default margin is 24 h); one whose clock is right deletes what expired a day ago.
func TestPurgeMarginToleratesFastClocks(t *testing.T) {
	ctx := context.Background()
	coll := testCollection(t)
	now := time.Now()
	insertExpiring(t, coll, "live-for-an-hour", now.Add(time.Hour))
	insertExpiring(t, coll, "expired-a-minute-ago", now.Add(-time.Minute))
	insertExpiring(t, coll, "expired-two-days-ago", now.Add(-48*time.Hour))
	fast, err := NewMongoStore(ctx, coll, StoreOptions{PurgeInterval: time.Hour, createTTLIndex: ttlAnswer(errNoTTL),
		Clock: func() time.Time { return time.Now().Add(3 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	if n, err := fast.Purge(ctx); err != nil || n != 1 {
		t.Fatalf("Purge with a clock 3 h fast = %d, %v; want only the session expired two days ago", n, err)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: fieldID, Value: "live-for-an-hour"}}); n != 1 {
		t.Fatal("a fast clock deleted a live session")
	}
}

func TestPurgeBatches(t *testing.T) {
	ctx := context.Background()
	coll := testCollection(t)
	s, err := NewMongoStore(ctx, coll, StoreOptions{PurgeInterval: time.Hour, PurgeBatch: 4, PurgeMargin: time.Millisecond,
		createTTLIndex: ttlAnswer(errNoTTL)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 10 {
		insertExpiring(t, coll, fmt.Sprint("x", i), time.Now().Add(-time.Second))
	}
	insertExpiring(t, coll, "live", time.Now().Add(time.Hour))
	n, err := s.Purge(ctx)
	if err != nil || n != 10 {
		t.Fatalf("Purge = %d, %v; want 10, nil", n, err)
	}
	if left, _ := coll.CountDocuments(ctx, bson.D{}); left != 1 {
		t.Fatalf("%d documents left, want 1", left)
	}
}

func TestStoreRefusesOtherIndexErrors(t *testing.T) {
	if _, err := NewMongoStore(context.Background(), testCollection(t),
		StoreOptions{createTTLIndex: ttlAnswer(mongo.CommandError{Code: 13, Name: "Unauthorized"})}); err == nil {
		t.Fatal("an Unauthorized answer must be an error, not a silent fallback")
	}
}

// TestStoreReadsFromThePrimary: whatever the client's read preference, the store reads from the primary (a
// secondary can return a token list from before a rotation).
func TestStoreReadsFromThePrimary(t *testing.T) {
	client, err := mongo.Connect(ClientOptions(TestURI).SetReadPreference(readpref.SecondaryPreferred()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	coll := client.Database("mongosession_test").Collection(fmt.Sprintf("readpref_%d", time.Now().UnixNano()))
	defer coll.Drop(context.Background())
	if readMode(coll) != readpref.SecondaryPreferredMode {
		t.Fatal("test setup: the collection should inherit secondaryPreferred")
	}
	s, err := NewMongoStore(context.Background(), coll, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := readMode(s.coll); got != readpref.PrimaryMode {
		t.Fatalf("store reads with %v, want primary", got)
	}
}

// readMode returns the read preference mode a collection reads with (the driver keeps it unexported).
func readMode(c *mongo.Collection) readpref.Mode {
	rp := reflect.ValueOf(c).Elem().FieldByName("readPreference")
	if rp.IsNil() {
		return readpref.PrimaryMode
	}
	return readpref.Mode(rp.Elem().FieldByName("mode").Uint())
}

// TestLoadChecksTokenAndExpiry: Load filters by _id alone and checks the token and the expiry itself; a wrong
// token or an expired session is Missing, a retired token Retired (with its retirement time).
func TestLoadChecksTokenAndExpiry(t *testing.T) {
	ctx := context.Background()
	s, err := NewMongoStore(ctx, testCollection(t), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().Truncate(time.Millisecond)
	good, old, gone, other := hashToken("good"), hashToken("old"), hashToken("gone"), hashToken("other")
	rec := &store.Record{ID: "load-check", Tokens: []store.Token{{Hash: old, At: now}, {Hash: good, At: now}},
		Retired: []store.Token{{Hash: gone, At: now.Add(-time.Minute)}},
		Created: now, Absolute: now.Add(2 * time.Hour), Expires: now.Add(time.Hour)}
	if err := s.Insert(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   string
		hash []byte
		now  time.Time
		want store.Status
	}{
		{"newest token", rec.ID, good, now, store.Found},
		{"older accepted token", rec.ID, old, now, store.Found},
		{"retired token", rec.ID, gone, now, store.Retired},
		{"unknown token", rec.ID, other, now, store.Missing},
		{"no token", rec.ID, nil, now, store.Missing},
		{"unknown id", "nope", good, now, store.Missing},
		{"expired (deadline reached)", rec.ID, good, now.Add(time.Hour), store.Missing},
	} {
		got, err := s.Load(ctx, tc.id, tc.hash, tc.now)
		switch {
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case got.Status != tc.want:
			t.Errorf("%s: Load = %v, want %v", tc.name, got.Status, tc.want)
		case tc.want == store.Found && got.Record.ID != rec.ID:
			t.Errorf("%s: Load returned %q", tc.name, got.Record.ID)
		case tc.want == store.Retired && !got.RetiredAt.Equal(now.Add(-time.Minute)):
			t.Errorf("%s: retired at %v", tc.name, got.RetiredAt)
		}
	}
}
