package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mongosession/mongosession"
)

// purge deletes expired sessions in batches of the store's purge batch (--batch).
func purge(ctx context.Context, store *mongosession.MongoStore, stdout io.Writer) error {
	n, err := store.Purge(ctx)
	if err != nil {
		return fmt.Errorf("deleted %d expired %s, then: %w", n, plural(n), err)
	}
	fmt.Fprintf(stdout, "deleted %d expired %s\n", n, plural(n))
	return nil
}
