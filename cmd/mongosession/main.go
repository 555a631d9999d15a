// Command mongosession administers the sessions that package mongosession keeps in MongoDB.
//
// Usage:
//
//	mongosession [global flags] <command> [flags]
//
// Commands:
//
//	purge                   delete sessions that expired more than 24 h ago (a margin for application
//	                        servers whose clocks run fast), in batches; prints how many were deleted
//	      --batch N           sessions per delete batch (default 1000)
//	stats                   live sessions, those linked to a user, expired ones not yet removed,
//	                        and the age spread (min, median, p90, max) of the live ones
//	list --user ID [--show-ids]
//	                        the user's live sessions, one per line after a header; the SESSION column is
//	                        mongosession.SessionHash of the id, the name security events (token_reuse) use;
//	                        --show-ids adds the raw ids
//	revoke --user ID [--except SESSION ...]
//	                        delete every session of the user except the listed ones
//	revoke --user ID --session SESSION
//	                        delete one session of the user
//	revoke --session ID     delete one session by its raw id
//
// SESSION is a hash (as list prints it and events name it) or a raw id. A hash is one-way, so it is resolved
// among the user's live sessions (an indexed query), never by reading the whole collection: a hash needs
// --user. An --except that names no live session of the user is an error and nothing is deleted.
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
// Every command opens the collection through mongosession.NewMongoStore, which (like the application does at
// startup) ensures the collection's indexes exist, and works through the store's and Manager's methods: the
// document's field names are the library's business.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
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
		fmt.Fprintf(stderr, "mongosession: %s\nRun 'mongosession -h' for usage.\n", errorLine(err))
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	client, err := connect(ctx, g)
	if err != nil {
		fmt.Fprintf(stderr, "mongosession: %s\n", errorLine(err))
		return 1
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer dcancel()
		_ = client.Disconnect(dctx)
	}()
	coll := client.Database(g.db).Collection(g.coll)
	if err := checkCollection(ctx, coll); err != nil {
		fmt.Fprintf(stderr, "mongosession: %s\n", errorLine(explain(ctx, g, err)))
		return 1
	}

	if err := execute(ctx, g, c, coll, stdout); err != nil {
		fmt.Fprintf(stderr, "mongosession: %s: %s\n", c.name, errorLine(explain(ctx, g, err)))
		return 1
	}
	return 0
}

// execute opens the store on the (existing) collection and runs the command c.
func execute(ctx context.Context, g *globals, c *command, coll *mongo.Collection, stdout io.Writer) error {
	store, err := openStore(ctx, coll, c.batch)
	if err != nil {
		return err
	}
	defer store.Close()
	switch c.name {
	case "purge":
		return purge(ctx, store, stdout)
	case "stats":
		return stats(ctx, store, g.db+"."+g.coll, time.Now(), stdout)
	case "list":
		return list(ctx, store, c, stdout)
	case "revoke":
		return revoke(ctx, store, c, stdout)
	}
	return fmt.Errorf("no command %q", c.name) // parse lets none other through
}

// explain turns the deadline of the whole command into words.
func explain(ctx context.Context, g *globals, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %v (--timeout): %w", g.timeout, err)
	}
	return err
}
