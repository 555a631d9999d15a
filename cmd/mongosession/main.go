// Command mongosession administers the sessions that package mongosession keeps in MongoDB.
//
// Usage:
//
//	mongosession [global flags] <command> [flags]
//
// Commands:
//
//	purge                   delete expired sessions in batches; prints how many were deleted
//	      --batch N           sessions per delete batch (default 1000)
//	stats                   live sessions, those linked to a user, expired ones not yet removed,
//	                        and the age spread (min, median, p90, max) of the live ones
//	list --user ID          the user's live sessions, one per line after a header
//	revoke --user ID [--except SESSIONID ...]
//	                        delete every session of the user except the listed ones
//	revoke --session ID     delete one session
//
// Global flags (accepted before or after the command name):
//
//	--uri URI               MongoDB connection string (default $MONGOSESSION_URI, else mongodb://127.0.0.1:27017)
//	--db NAME               database (default "app")
//	--collection NAME       sessions collection (default "sessions")
//	--timeout DURATION      deadline of the whole command, also the server selection and connect
//	                        timeout (default 10s)
//
// The server is pinged before any work, so a bad URI, an unreachable server or a missing collection gives one
// line on stderr, prefixed "mongosession: ", and exit status 1 within the timeout. Usage errors exit with 2.
//
// purge, list and revoke --user open the collection through mongosession.NewMongoStore, which (like the
// application does at startup) ensures the collection's indexes exist.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{uri: defaultURI, db: "app", coll: "sessions", timeout: 10 * time.Second}
	if env := os.Getenv(EnvURI); env != "" {
		g.uri = env
	}
	c, err := parse(args, g)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mongosession: %s\nRun 'mongosession -h' for usage.\n", oneLine(err.Error()))
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	client, err := connect(ctx, g)
	if err != nil {
		fmt.Fprintf(stderr, "mongosession: %s\n", oneLine(err.Error()))
		return 1
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer dcancel()
		_ = client.Disconnect(dctx)
	}()
	coll := client.Database(g.db).Collection(g.coll)
	if err := checkCollection(ctx, coll); err != nil {
		fmt.Fprintf(stderr, "mongosession: %s\n", oneLine(explain(ctx, g, err).Error()))
		return 1
	}

	switch c.name {
	case "purge":
		err = purge(ctx, coll, c.batch, stdout)
	case "stats":
		err = stats(ctx, coll, time.Now(), stdout)
	case "list":
		err = list(ctx, coll, c.user, stdout)
	case "revoke":
		err = revoke(ctx, coll, c, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mongosession: %s: %s\n", c.name, oneLine(explain(ctx, g, err).Error()))
		return 1
	}
	return 0
}

// explain turns the deadline of the whole command into words.
func explain(ctx context.Context, g *globals, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %v (--timeout): %w", g.timeout, err)
	}
	return err
}
