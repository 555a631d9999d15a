package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mongosession/mongosession"
)

// stats prints the counts and the age spread of the sessions in collection (named db.collection) as of now.
func stats(ctx context.Context, store *mongosession.MongoStore, collection string, now time.Time, stdout io.Writer) error {
	st, err := store.Stats(ctx, now)
	if err != nil {
		return err
	}
	tw := newTable(stdout)
	fmt.Fprintf(tw, "collection\t%s\n", collection)
	fmt.Fprintf(tw, "live sessions\t%d\n", st.Live)
	fmt.Fprintf(tw, "linked to a user\t%d\n", st.WithUser)
	fmt.Fprintf(tw, "expired, not yet removed\t%d\n", st.Expired)
	ages := []struct {
		label string
		age   time.Duration
	}{{"min", st.Ages.Min}, {"median", st.Ages.Median}, {"p90", st.Ages.P90}, {"max", st.Ages.Max}}
	for _, a := range ages {
		shown := "-"
		if st.Ages.N > 0 {
			shown = a.age.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "age %s\t%s\n", a.label, shown)
	}
	return tw.Flush()
}
