package mongosession_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/memstore"
	"github.com/mongosession/mongosession/internal/store"
	"github.com/mongosession/mongosession/internal/store/storetest"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The storage contract, checked for both stores.

func TestMongoStoreKeepsTheContract(t *testing.T) {
	client, err := mongo.Connect(mongosession.ClientOptions(mongosession.TestURI))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	storetest.Run(t, func(t *testing.T) store.Store {
		coll := client.Database("mongosession_test").Collection(fmt.Sprintf("contract_%d", time.Now().UnixNano()))
		s, err := mongosession.NewMongoStore(context.Background(), coll, mongosession.StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(); _ = coll.Drop(context.Background()) })
		return s
	})
}

func TestMemStoreKeepsTheContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memstore.New() })
}
