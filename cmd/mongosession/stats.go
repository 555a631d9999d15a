package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ageSpread holds the spread of the ages of live sessions.
type ageSpread struct {
	Min, Median, P90, Max time.Duration
}

// spread returns the nearest-rank min, median, 90th percentile and max of ages; ok is false without ages.
func spread(ages []time.Duration) (s ageSpread, ok bool) {
	if len(ages) == 0 {
		return s, false
	}
	sorted := append([]time.Duration(nil), ages...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	rank := func(p float64) time.Duration {
		// nearest rank: the smallest value with at least p of the values at or below it
		i := int(p*float64(len(sorted))+0.999999999) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(sorted) {
			i = len(sorted) - 1
		}
		return sorted[i]
	}
	return ageSpread{Min: sorted[0], Median: rank(0.5), P90: rank(0.9), Max: sorted[len(sorted)-1]}, true
}

func stats(ctx context.Context, coll *mongo.Collection, now time.Time, stdout io.Writer) error {
	live := bson.D{{Key: "expires", Value: bson.D{{Key: "$gt", Value: now}}}}
	nLive, err := coll.CountDocuments(ctx, live)
	if err != nil {
		return fmt.Errorf("count live sessions: %w", err)
	}
	nUser, err := coll.CountDocuments(ctx, bson.D{
		{Key: "user", Value: bson.D{{Key: "$exists", Value: true}, {Key: "$ne", Value: ""}}},
		live[0],
	})
	if err != nil {
		return fmt.Errorf("count sessions linked to a user: %w", err)
	}
	nExpired, err := coll.CountDocuments(ctx, bson.D{{Key: "expires", Value: bson.D{{Key: "$lte", Value: now}}}})
	if err != nil {
		return fmt.Errorf("count expired sessions: %w", err)
	}
	cur, err := coll.Find(ctx, live, options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "created", Value: 1}}))
	if err != nil {
		return fmt.Errorf("scan live sessions: %w", err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = cur.Close(cctx)
		ccancel()
	}()
	var ages []time.Duration
	for cur.Next(ctx) {
		var d struct {
			Created time.Time `bson:"created"`
		}
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("scan live sessions: %w", err)
		}
		if d.Created.IsZero() {
			continue // not a session document of this library
		}
		ages = append(ages, now.Sub(d.Created))
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("scan live sessions: %w", err)
	}

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "collection\t%s.%s\n", coll.Database().Name(), coll.Name())
	fmt.Fprintf(tw, "live sessions\t%d\n", nLive)
	fmt.Fprintf(tw, "linked to a user\t%d\n", nUser)
	fmt.Fprintf(tw, "expired, not yet removed\t%d\n", nExpired)
	age := func(d time.Duration) string { return d.Round(time.Second).String() }
	if s, ok := spread(ages); ok {
		fmt.Fprintf(tw, "age min\t%s\n", age(s.Min))
		fmt.Fprintf(tw, "age median\t%s\n", age(s.Median))
		fmt.Fprintf(tw, "age p90\t%s\n", age(s.P90))
		fmt.Fprintf(tw, "age max\t%s\n", age(s.Max))
	} else {
		for _, l := range []string{"min", "median", "p90", "max"} {
			fmt.Fprintf(tw, "age %s\t-\n", l)
		}
	}
	return tw.Flush()
}
