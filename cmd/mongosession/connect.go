package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongosession/mongosession"
)

// connect opens a client and pings the server, all within ctx. URI parsing may resolve DNS (mongodb+srv)
// without a deadline of its own, so the whole step runs aside and is abandoned when ctx ends.
func connect(ctx context.Context, g *globals) (*mongo.Client, error) {
	type result struct {
		client *mongo.Client
		err    error
	}
	done := make(chan result, 1)
	go func() {
		// Give up on the server a little before the command's deadline, so that the driver's own
		// explanation (for example "connection refused") wins the race against the bare deadline.
		early := g.timeout / 10
		if early > 500*time.Millisecond {
			early = 500 * time.Millisecond
		}
		pingCtx, pingCancel := context.WithTimeout(ctx, g.timeout-early)
		defer pingCancel()
		opts := mongosession.ClientOptions(g.uri).
			SetServerSelectionTimeout(g.timeout - early).
			SetConnectTimeout(g.timeout).
			SetAppName("mongosession-cli")
		client, err := mongo.Connect(opts)
		if err != nil {
			done <- result{err: fmt.Errorf("invalid --uri: %w", err)}
			return
		}
		if err := client.Ping(pingCtx, nil); err != nil {
			dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
			_ = client.Disconnect(dctx)
			dcancel()
			done <- result{err: fmt.Errorf("cannot reach MongoDB%s within %v: %w", where(g.uri), g.timeout, err)}
			return
		}
		done <- result{client: client}
	}()
	select {
	case r := <-done:
		return r.client, r.err
	case <-ctx.Done():
		go func() { // disconnect whatever arrives late
			if r := <-done; r.client != nil {
				dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
				_ = r.client.Disconnect(dctx)
				dcancel()
			}
		}()
		return nil, fmt.Errorf("cannot reach MongoDB%s: %w", where(g.uri), explain(ctx, g, ctx.Err()))
	}
}

// where names the hosts of uri for error messages, without credentials or options.
func where(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return ""
	}
	return " at " + u.Host
}

// checkCollection refuses a collection that does not exist: a mistyped --db or --collection must not
// report "0 sessions" or create an empty collection with indexes.
func checkCollection(ctx context.Context, coll *mongo.Collection) error {
	names, err := coll.Database().ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll.Name()}})
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	for _, n := range names {
		if n == coll.Name() {
			return nil
		}
	}
	return fmt.Errorf("collection %s.%s does not exist (check --db and --collection)", coll.Database().Name(),
		coll.Name())
}

// openStore opens the library's store on coll, which (like the application does at startup) makes sure the
// collection's indexes exist. Its background purge (only on servers without TTL indexes) never gets to run
// during a command; Close stops it.
func openStore(ctx context.Context, coll *mongo.Collection, purgeBatch int) (*mongosession.MongoStore, error) {
	return mongosession.NewMongoStore(ctx, coll, mongosession.StoreOptions{PurgeInterval: 24 * time.Hour, PurgeBatch: purgeBatch})
}

// newManager returns a Manager over store, for the queries by user that Manager offers.
func newManager(store *mongosession.MongoStore) (*mongosession.Manager, error) {
	return mongosession.New(store, mongosession.Options{})
}
