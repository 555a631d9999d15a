package mongosession

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func testCollection(t *testing.T) *mongo.Collection {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(TestURI))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	coll := client.Database("mongosession_test").Collection(fmt.Sprintf("internal_%d", time.Now().UnixNano()))
	t.Cleanup(func() { _ = coll.Drop(context.Background()) })
	return coll
}

// fakeTTL makes the server's answer to the TTL index request whatever the test needs.
func fakeTTL(t *testing.T, answer error) {
	old := createTTLIndex
	createTTLIndex = func(context.Context, *mongo.Collection) error { return answer }
	t.Cleanup(func() { createTTLIndex = old })
}

func TestStoreUsesTTLIndexWhenServerHasOne(t *testing.T) {
	fakeTTL(t, nil)
	s, err := NewMongoStore(context.Background(), testCollection(t), WithPurgeInterval(time.Millisecond))
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

func TestStorePurgesWhenServerHasNoTTL(t *testing.T) {
	fakeTTL(t, mongo.CommandError{Code: 238, Name: "NotImplemented", Message: "expireAfterSeconds"})
	ctx := context.Background()
	coll := testCollection(t)
	s, err := NewMongoStore(ctx, coll, WithPurgeInterval(50*time.Millisecond), WithPurgeBatch(3))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.UsesTTLIndex() {
		t.Fatal("server refused TTL, store claims to use it")
	}
	now := time.Now()
	for i := range 12 {
		exp := now.Add(-time.Minute)
		if i >= 10 {
			exp = now.Add(time.Hour)
		}
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprint("s", i)}, {Key: "expires", Value: exp}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := coll.CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background purge left %d documents, want the 2 live ones", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPurgeBatches(t *testing.T) {
	fakeTTL(t, mongo.CommandError{Code: 238, Name: "NotImplemented"})
	ctx := context.Background()
	coll := testCollection(t)
	s, err := NewMongoStore(ctx, coll, WithPurgeInterval(time.Hour), WithPurgeBatch(4))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 10 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprint("x", i)}, {Key: "expires", Value: time.Now().Add(-time.Second)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "live"}, {Key: "expires", Value: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Purge(ctx)
	if err != nil || n != 10 {
		t.Fatalf("Purge = %d, %v; want 10, nil", n, err)
	}
	if left, _ := coll.CountDocuments(ctx, bson.D{}); left != 1 {
		t.Fatalf("%d documents left, want 1", left)
	}
}

func TestStoreRefusesOtherIndexErrors(t *testing.T) {
	fakeTTL(t, mongo.CommandError{Code: 13, Name: "Unauthorized"})
	if _, err := NewMongoStore(context.Background(), testCollection(t)); err == nil {
		t.Fatal("an Unauthorized answer must be an error, not a silent fallback")
	}
}

// TestLoadChecksTokenAndExpiry: Load filters by _id alone and checks the token and the expiry itself; a wrong
// token, a retired one or an expired session must still be ErrNotFound.
func TestLoadChecksTokenAndExpiry(t *testing.T) {
	ctx := context.Background()
	s, err := NewMongoStore(ctx, testCollection(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().Truncate(time.Millisecond)
	good, old, other := hashToken("good"), hashToken("old"), hashToken("other")
	rec := &Record{ID: "load-check", Tokens: []Token{{Hash: old, Issued: now}, {Hash: good, Issued: now}},
		Created: now, Seen: now, Idle: now.Add(time.Hour), Absolute: now.Add(2 * time.Hour), Version: 1}
	if err := s.Insert(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   string
		hash []byte
		now  time.Time
		ok   bool
	}{
		{"newest token", rec.ID, good, now, true},
		{"older accepted token", rec.ID, old, now, true},
		{"unknown token", rec.ID, other, now, false},
		{"no token", rec.ID, nil, now, false},
		{"unknown id", "nope", good, now, false},
		{"expired (idle deadline reached)", rec.ID, good, now.Add(time.Hour), false},
	} {
		got, err := s.Load(ctx, tc.id, tc.hash, tc.now)
		switch {
		case tc.ok && (err != nil || got.ID != rec.ID):
			t.Errorf("%s: Load = %v, %v; want the session", tc.name, got, err)
		case !tc.ok && err != ErrNotFound:
			t.Errorf("%s: Load = %v, %v; want ErrNotFound", tc.name, got, err)
		}
	}
}
