package main

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/mongosession/mongosession"
)

// list prints the user's live sessions, oldest first. A session is named by its hash (SESSION), the form in
// which security events name it; --show-ids adds the raw id.
func list(ctx context.Context, store *mongosession.MongoStore, c *command, stdout io.Writer) error {
	mgr, err := newManager(store)
	if err != nil {
		return err
	}
	infos, err := mgr.Sessions(ctx, c.user)
	if err != nil {
		return err
	}
	sort.Slice(infos, func(i, j int) bool {
		if !infos[i].Created.Equal(infos[j].Created) {
			return infos[i].Created.Before(infos[j].Created)
		}
		return infos[i].ID < infos[j].ID
	})
	tw := newTable(stdout)
	id := func(s mongosession.SessionInfo) string {
		if c.showIDs {
			return "\t" + printable(s.ID)
		}
		return ""
	}
	fmt.Fprintf(tw, "SESSION%s\tCREATED\tLAST SEEN\tEXPIRES\tREMOTE ADDR\tUSER AGENT\n",
		id(mongosession.SessionInfo{ID: "ID"}))
	for _, s := range infos {
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\n", mongosession.SessionHash(s.ID), id(s), timestamp(s.Created),
			timestamp(s.LastSeen), timestamp(s.Expires), printable(s.RemoteAddr), printable(s.UserAgent))
	}
	return tw.Flush()
}
