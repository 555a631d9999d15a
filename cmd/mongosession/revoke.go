package main

import (
	"context"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func revoke(ctx context.Context, coll *mongo.Collection, c *command, stdout io.Writer) error {
	var n int64
	if c.session != "" {
		// Manager.Revoke does not tell whether the session existed: delete by _id here to count it.
		res, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: c.session}})
		if err != nil {
			return err
		}
		n = res.DeletedCount
	} else {
		mgr, closeStore, err := openManager(ctx, coll)
		if err != nil {
			return err
		}
		defer closeStore()
		if n, err = mgr.RevokeUser(ctx, c.user, c.except...); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "deleted %d %s\n", n, plural(n))
	return nil
}
