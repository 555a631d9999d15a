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
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
)

const usage = `Usage: mongosession [global flags] <command> [flags]

Commands:
  purge [--batch N]        delete expired sessions in batches of N (default 1000);
                           prints how many were deleted
  stats                    count live sessions, those linked to a user and expired ones
                           not yet removed; age spread (min, median, p90, max) of live ones
  list --user ID           list the user's live sessions (id, created, last seen, expires,
                           remote address, user agent), one per line after a header
  revoke --user ID [--except SESSIONID ...]
                           delete every session of the user except the listed ones
  revoke --session ID      delete one session
                           (revoke prints how many sessions were deleted)

Global flags, accepted before or after the command name:
  --uri URI                MongoDB connection string
                           (default $MONGOSESSION_URI, else mongodb://127.0.0.1:27017)
  --db NAME                database (default "app")
  --collection NAME        sessions collection (default "sessions")
  --timeout DURATION       deadline of the whole command, also the server selection
                           and connect timeout (default 10s)

Exit status: 0 on success, 1 on a database error (one line on stderr), 2 on a usage error.
`

// EnvURI names the environment variable that supplies the default of --uri.
const EnvURI = "MONGOSESSION_URI"

const defaultURI = "mongodb://127.0.0.1:27017"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globals are the flags every command accepts.
type globals struct {
	uri, db, coll string
	timeout       time.Duration
}

func (g *globals) register(fs *flag.FlagSet) {
	// The current values are the defaults, so that a flag given before the command survives the command's
	// own parse, which registers the same flags again.
	fs.StringVar(&g.uri, "uri", g.uri, "MongoDB connection string")
	fs.StringVar(&g.db, "db", g.db, "database")
	fs.StringVar(&g.coll, "collection", g.coll, "sessions collection")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "deadline of the whole command")
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// command is one parsed command line.
type command struct {
	name    string
	batch   int
	user    string
	session string
	except  listFlag
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

var errHelp = errors.New("help requested")

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, help by printing usage
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	if err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// parse reads the command line into g and the returned command.
func parse(args []string, g *globals) (*command, error) {
	top := newFlagSet("mongosession")
	g.register(top)
	if err := parseFlags(top, args); err != nil {
		return nil, err
	}
	rest := top.Args()
	if len(rest) == 0 {
		return nil, usagef("no command given (purge, stats, list or revoke)")
	}
	c := &command{name: rest[0], batch: 1000}
	fs := newFlagSet(c.name)
	g.register(fs)
	switch c.name {
	case "purge":
		fs.IntVar(&c.batch, "batch", c.batch, "sessions per delete batch")
	case "stats":
	case "list":
		fs.StringVar(&c.user, "user", "", "user id")
	case "revoke":
		fs.StringVar(&c.user, "user", "", "user id")
		fs.StringVar(&c.session, "session", "", "session id")
		fs.Var(&c.except, "except", "session id to keep (repeatable)")
	case "help":
		return nil, errHelp
	default:
		return nil, usagef("unknown command %q (want purge, stats, list or revoke)", c.name)
	}
	if err := parseFlags(fs, rest[1:]); err != nil {
		if ue, ok := err.(usageError); ok {
			return nil, usagef("%s: %s", c.name, ue.msg)
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("%s: unexpected argument %q", c.name, fs.Arg(0))
	}
	switch {
	case g.timeout <= 0:
		return nil, usagef("--timeout must be positive, got %v", g.timeout)
	case g.uri == "":
		return nil, usagef("--uri is empty")
	case g.db == "" || g.coll == "":
		return nil, usagef("--db and --collection must not be empty")
	}
	switch c.name {
	case "purge":
		if c.batch <= 0 {
			return nil, usagef("purge: --batch must be positive, got %d", c.batch)
		}
	case "list":
		if c.user == "" {
			return nil, usagef("list: --user is required")
		}
	case "revoke":
		switch {
		case (c.user == "") == (c.session == ""):
			return nil, usagef("revoke: give exactly one of --user and --session")
		case c.session != "" && len(c.except) > 0:
			return nil, usagef("revoke: --except goes with --user, not --session")
		}
		for _, id := range c.except {
			if id == "" {
				return nil, usagef("revoke: --except needs a session id")
			}
		}
	}
	return c, nil
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

// connect opens a client and pings the server, all within ctx. URI parsing may resolve DNS (mongodb+srv)
// without a deadline of its own, so the whole step runs aside and is abandoned when ctx ends.
func connect(ctx context.Context, g *globals) (*mongo.Client, error) {
	type result struct {
		client *mongo.Client
		err    error
	}
	done := make(chan result, 1)
	go func() {
		// Give up on the server a little before the command's deadline, so that the driver's own
		// explanation (for example "connection refused") wins the race against the bare deadline.
		early := g.timeout / 10
		if early > 500*time.Millisecond {
			early = 500 * time.Millisecond
		}
		pingCtx, pingCancel := context.WithTimeout(ctx, g.timeout-early)
		defer pingCancel()
		opts := options.Client().ApplyURI(g.uri).
			SetServerSelectionTimeout(g.timeout - early).
			SetConnectTimeout(g.timeout).
			SetAppName("mongosession-cli")
		client, err := mongo.Connect(opts)
		if err != nil {
			done <- result{err: fmt.Errorf("invalid --uri: %w", err)}
			return
		}
		if err := client.Ping(pingCtx, nil); err != nil {
			dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
			_ = client.Disconnect(dctx)
			dcancel()
			done <- result{err: fmt.Errorf("cannot reach MongoDB%s within %v: %w", where(g.uri), g.timeout, err)}
			return
		}
		done <- result{client: client}
	}()
	select {
	case r := <-done:
		return r.client, r.err
	case <-ctx.Done():
		go func() { // disconnect whatever arrives late
			if r := <-done; r.client != nil {
				dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
				_ = r.client.Disconnect(dctx)
				dcancel()
			}
		}()
		return nil, fmt.Errorf("cannot reach MongoDB%s: %w", where(g.uri), explain(ctx, g, ctx.Err()))
	}
}

// where names the hosts of uri for error messages, without credentials or options.
func where(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return ""
	}
	return " at " + u.Host
}

// explain turns the deadline of the whole command into words.
func explain(ctx context.Context, g *globals, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %v (--timeout): %w", g.timeout, err)
	}
	return err
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// checkCollection refuses a collection that does not exist: a mistyped --db or --collection must not
// report "0 sessions" or create an empty collection with indexes.
func checkCollection(ctx context.Context, coll *mongo.Collection) error {
	names, err := coll.Database().ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll.Name()}})
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	for _, n := range names {
		if n == coll.Name() {
			return nil
		}
	}
	return fmt.Errorf("collection %s.%s does not exist (check --db and --collection)", coll.Database().Name(),
		coll.Name())
}

// openStore opens the library's store on coll. Its background purge (only on servers without TTL indexes)
// never gets to run during a command; Close stops it.
func openStore(ctx context.Context, coll *mongo.Collection, opts mongosession.StoreOptions) (*mongosession.MongoStore, error) {
	opts.PurgeInterval = 24 * time.Hour
	return mongosession.NewMongoStore(ctx, coll, opts)
}

func purge(ctx context.Context, coll *mongo.Collection, batch int, stdout io.Writer) error {
	store, err := openStore(ctx, coll, mongosession.StoreOptions{PurgeBatch: batch})
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

func plural(n int64) string {
	if n == 1 {
		return "session"
	}
	return "sessions"
}

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

// openManager opens the store (making sure its indexes exist) and a Manager over it.
func openManager(ctx context.Context, coll *mongo.Collection) (*mongosession.Manager, func(), error) {
	store, err := openStore(ctx, coll, mongosession.StoreOptions{})
	if err != nil {
		return nil, nil, err
	}
	mgr, err := mongosession.New(store, mongosession.Options{})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return mgr, func() { store.Close() }, nil
}

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

// printable shows client-supplied text (a User-Agent) safely on a terminal: control characters and tabs
// become '?', and an empty value '-'.
func printable(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

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
