package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

func list(ctx context.Context, coll *mongo.Collection, user string, stdout io.Writer) error {
	mgr, closeStore, err := openManager(ctx, coll)
	if err != nil {
		return err
	}
	defer closeStore()
	infos, err := mgr.Sessions(ctx, user)
	if err != nil {
		return err
	}
	sort.Slice(infos, func(i, j int) bool {
		if !infos[i].Created.Equal(infos[j].Created) {
			return infos[i].Created.Before(infos[j].Created)
		}
		return infos[i].ID < infos[j].ID
	})
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tLAST SEEN\tEXPIRES\tREMOTE ADDR\tUSER AGENT")
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, s := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(s.ID), ts(s.Created), ts(s.LastSeen), ts(s.Expires),
			printable(s.RemoteAddr), printable(s.UserAgent))
	}
	return tw.Flush()
}
