package main

import (
	"context"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongosession/mongosession"
)

func purge(ctx context.Context, coll *mongo.Collection, batch int, stdout io.Writer) error {
	store, err := openStore(ctx, coll, mongosession.WithPurgeBatch(batch))
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := store.Purge(ctx)
	if err != nil {
		return fmt.Errorf("deleted %d expired %s, then: %w", n, plural(n), err)
	}
	fmt.Fprintf(stdout, "deleted %d expired %s\n", n, plural(n))
	return nil
}
