package testdb

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestStartPing(t *testing.T) {
	uri, stop, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	// A second user shares the same server.
	uri2, stop2, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	stop2()
	if uri2 != uri {
		t.Errorf("second Start: %q, want shared %q", uri2, uri)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatalf("ping %s: %v", uri, err)
	}
	coll := client.Database("testdb").Collection("t")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
}
