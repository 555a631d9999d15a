package devdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// start runs a server for one test and connects a driver with default options.
func start(tb testing.TB, backend string) (*Server, *mongo.Database) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	srv, err := Start(ctx, Config{Dir: tb.TempDir(), Backend: backend})
	if err != nil {
		tb.Fatalf("Start(%s): %v", backend, err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	if !strings.HasPrefix(srv.URI(), "mongodb://127.0.0.1:") {
		tb.Fatalf("URI() = %q", srv.URI())
	}

	// Deliberately no directConnection or other options: plain URI must work.
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	if err := client.Ping(ctx, nil); err != nil {
		tb.Fatalf("ping: %v", err)
	}
	return srv, client.Database("devdbtest")
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// testInc: FerretDB alone loses most of these updates (about 68 of 800 kept).
func testInc(t *testing.T, db *mongo.Database) {
	ctx := ctxT(t)
	coll := db.Collection("inc")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "counter"}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}

	const workers, perWorker = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "counter"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var doc struct {
		N int `bson:"n"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "counter"}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.N != workers*perWorker {
		t.Fatalf("n = %d after %d concurrent $inc, want %d", doc.N, workers*perWorker, workers*perWorker)
	}
}

func TestConcurrentInc(t *testing.T) {
	_, db := start(t, BackendSQLite)
	testInc(t, db)
}

// TestCompareAndSet: FerretDB alone lets two of these win.
func TestCompareAndSet(t *testing.T) {
	_, db := start(t, BackendSQLite)
	ctx := ctxT(t)
	coll := db.Collection("cas")

	const rounds, racers = 10, 16
	for round := range rounds {
		id := fmt.Sprintf("doc%d", round)
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "v", Value: 0}}); err != nil {
			t.Fatal(err)
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			winners  int64
			firstErr error
		)
		startGate := make(chan struct{})
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-startGate
				res, err := coll.UpdateOne(ctx,
					bson.D{{Key: "_id", Value: id}, {Key: "v", Value: 0}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 1}}}})
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if res != nil {
					winners += res.ModifiedCount
				}
			}()
		}
		close(startGate)
		wg.Wait()
		if firstErr != nil {
			t.Fatal(firstErr)
		}
		if winners != 1 {
			t.Fatalf("round %d: %d compare-and-set winners, want exactly 1", round, winners)
		}
	}
}

// TestBulkUpdate: a multi-statement update command passes the front as one command.
func TestBulkUpdate(t *testing.T) {
	_, db := start(t, BackendSQLite)
	ctx := ctxT(t)
	coll := db.Collection("bulk")
	if _, err := coll.InsertMany(ctx, []any{
		bson.D{{Key: "_id", Value: "a"}, {Key: "n", Value: 1}},
		bson.D{{Key: "_id", Value: "b"}, {Key: "n", Value: 2}},
	}); err != nil {
		t.Fatal(err)
	}
	res, err := coll.BulkWrite(ctx, []mongo.WriteModel{
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: "a"}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 10}}}}),
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: "b"}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 20}}}}),
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: "missing"}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 30}}}}),
	}, options.BulkWrite().SetOrdered(true))
	if err != nil {
		t.Fatal(err)
	}
	if res.MatchedCount != 2 || res.ModifiedCount != 2 {
		t.Fatalf("BulkWrite matched %d modified %d, want 2 and 2", res.MatchedCount, res.ModifiedCount)
	}
	for id, want := range map[string]int{"a": 10, "b": 20} {
		var doc struct {
			N int `bson:"n"`
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc.N != want {
			t.Errorf("%s.n = %d, want %d", id, doc.N, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	_, db := start(t, BackendSQLite)
	ctx := ctxT(t)
	coll := db.Collection("rt")

	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "s1"}, {Key: "data", Value: "hello"}}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID   string `bson:"_id"`
		Data string `bson:"data"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "s1"}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != "s1" || doc.Data != "hello" {
		t.Fatalf("FindOne = %+v", doc)
	}
	res, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "s1"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.DeletedCount != 1 {
		t.Fatalf("DeletedCount = %d, want 1", res.DeletedCount)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "s1"}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatalf("FindOne after delete: %v, want ErrNoDocuments", err)
	}
}

// TestUnacknowledgedWrite: w:0 sends OP_MSG with moreToCome; FerretDB replies
// anyway and the front must swallow that reply, or the connection desyncs.
func TestUnacknowledgedWrite(t *testing.T) {
	_, db := start(t, BackendSQLite)
	ctx := ctxT(t)
	w0 := db.Collection("w0", options.Collection().SetWriteConcern(writeconcern.Unacknowledged()))
	for i := range 5 {
		if _, err := w0.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	coll := db.Collection("w0")
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := coll.CountDocuments(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("count = %d, want 5", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The connections still work in order after the swallowed replies.
	if err := db.Client().Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 5 {
		t.Fatalf("count = %d, %v", n, err)
	}
}

// TestTTLIndexUnsupported records FerretDB 1.24.2's answer to a TTL index,
// which the library has to detect: command error code 238 "NotImplemented",
// message `Index option "expireAfterSeconds" is not implemented yet`.
func TestTTLIndexUnsupported(t *testing.T) {
	_, db := start(t, BackendSQLite)
	ctx := ctxT(t)
	_, err := db.Collection("ttl").Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "expiresAt", Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(0),
	})
	var ce mongo.CommandError
	if !errors.As(err, &ce) {
		t.Fatalf("createIndexes with expireAfterSeconds: %v (%T), want a CommandError", err, err)
	}
	t.Logf("createIndexes with expireAfterSeconds: code %d name %q message %q", ce.Code, ce.Name, ce.Message)
	if ce.Code != 238 || ce.Name != "NotImplemented" {
		t.Fatalf("got code %d %q, want 238 NotImplemented", ce.Code, ce.Name)
	}
}

func TestCloseIdempotent(t *testing.T) {
	srv, err := Start(ctxT(t), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPostgreSQLInc runs the $inc test on a private PostgreSQL. It needs the
// server binaries; it fails (not skips) without them so CI cannot silently lose it.
func TestPostgreSQLInc(t *testing.T) {
	if _, err := findPostgresBin(); err != nil {
		t.Fatalf("%v", err)
	}
	_, db := start(t, BackendPostgreSQL)
	testInc(t, db)
}

// BenchmarkUpdate2000 measures one $inc by _id in a collection of 2,000
// documents (plus replace and find for comparison) per backend. The _id values
// are strings like session IDs: FerretDB's SQLite backend pushes a filter
// {_id: <string or ObjectID>} down to SQL, but scans the collection for any
// other filter and for update/findAndModify/delete.
func BenchmarkUpdate2000(b *testing.B) {
	for _, backend := range []string{BackendSQLite, BackendPostgreSQL} {
		b.Run(backend, func(b *testing.B) {
			_, db := start(b, backend)
			ctx := ctxT(b)
			coll := db.Collection("bench")
			const n = 2000
			docs := make([]any, n)
			pad := strings.Repeat("x", 200)
			for i := range docs {
				docs[i] = bson.D{{Key: "_id", Value: benchID(i)}, {Key: "n", Value: 0}, {Key: "pad", Value: pad}}
			}
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				b.Fatal(err)
			}

			b.Run("update", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: benchID(i % n)}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
						b.Fatal(err)
					}
					i += 7
				}
			})
			b.Run("replace", func(b *testing.B) {
				i := 0
				for b.Loop() {
					id := benchID(i % n)
					if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "_id", Value: id}, {Key: "n", Value: i}, {Key: "pad", Value: pad}}); err != nil {
						b.Fatal(err)
					}
					i += 7
				}
			})
			b.Run("find", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: benchID(i % n)}}).Err(); err != nil {
						b.Fatal(err)
					}
					i += 7
				}
			})
		})
	}
}

func benchID(i int) string { return fmt.Sprintf("session-%06d", i) }
