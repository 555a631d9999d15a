package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mongosession/mongosession"
)

const usage = `Usage: mongosession [global flags] <command> [flags]

Commands:
  purge [--batch N]        delete sessions that expired more than 24 h ago (a margin for
                           servers whose clocks run fast), in batches of N (default 1000);
                           prints how many were deleted
  stats                    count live sessions, those linked to a user and expired ones
                           not yet removed; age spread (min, median, p90, max) of live ones
  list --user ID [--show-ids]
                           list the user's live sessions, one per line after a header:
                           SESSION (the hash that security events such as token_reuse
                           name), created, last seen, expires, remote address, user agent;
                           --show-ids adds the raw session ids (the cookie's first half)
  revoke --user ID [--except SESSION ...]
                           delete every session of the user except the listed ones
  revoke --user ID --session SESSION
                           delete one session of the user
  revoke --session ID      delete one session by its raw id
                           (revoke prints how many sessions were deleted)

  SESSION is a session hash as list prints it, or a raw id. A hash is one-way: it is
  matched against the user's live sessions only (an indexed query), so it needs --user.

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
	session string // a raw id, or with user also a session hash
	except  listFlag
	showIDs bool
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
		fs.BoolVar(&c.showIDs, "show-ids", false, "add the raw session ids")
	case "revoke":
		fs.StringVar(&c.user, "user", "", "user id")
		fs.StringVar(&c.session, "session", "", "session hash or id")
		fs.Var(&c.except, "except", "session hash or id to keep (repeatable)")
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
	// An empty --user or --session (say, from an unset shell variable) must not widen what revoke deletes.
	var empty error
	fs.Visit(func(f *flag.Flag) {
		if (f.Name == "user" || f.Name == "session") && f.Value.String() == "" && empty == nil {
			empty = usagef("%s: --%s needs a value", c.name, f.Name)
		}
	})
	if empty != nil {
		return nil, empty
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
		case c.user == "" && c.session == "":
			return nil, usagef("revoke: give --user, --session or both")
		case c.user == "" && isSessionHash(c.session):
			return nil, usagef("revoke: %s is a session hash: give the user too (--user ID --session HASH); "+
				"hashes are one-way and only the user's sessions are looked up", c.session)
		case c.session != "" && len(c.except) > 0:
			return nil, usagef("revoke: --except goes with --user alone, not with --session")
		}
		for _, ref := range c.except {
			if ref == "" {
				return nil, usagef("revoke: --except needs a session hash or id")
			}
		}
	}
	return c, nil
}

// isSessionHash reports whether ref has the shape of mongosession.SessionHash: hex digits, as many as a hash
// has. A session id never has that shape (its length differs).
func isSessionHash(ref string) bool {
	if len(ref) != len(mongosession.SessionHash("")) {
		return false
	}
	for _, r := range ref {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
