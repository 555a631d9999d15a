// Command devdb runs the embedded development database (FerretDB behind a
// serializing front, see package devdb) until SIGINT or SIGTERM.
//
// The first line of stdout is exactly the MongoDB URI to connect to, e.g.
// "mongodb://127.0.0.1:27017/"; logs go to stderr.
//
// Flags:
//
//	-addr               listen address (default 127.0.0.1:27017; use 127.0.0.1:0 for a free port)
//	-dir                data folder (default ./devdb-data)
//	-backend            sqlite (default) or postgresql
//	-pg-url             PostgreSQL URL for -backend postgresql; if empty, a private
//	                    PostgreSQL is started in <dir>/postgres
//	-exit-on-stdin-eof  also exit when stdin reaches EOF (for parents that keep a pipe open)
//	-v                  log FerretDB's debug messages, and its dumps of failed commands
//
// Without -v it logs at WARN and above, minus FerretDB's dumps of commands that failed (the client gets
// the error; an expected one, such as a TTL index it does not support, is no reason to alarm anyone).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mongosession/mongosession/devdb"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:27017", "listen `address` (127.0.0.1:0 picks a free port)")
	dir := flag.String("dir", "./devdb-data", "data `folder`")
	backend := flag.String("backend", devdb.BackendSQLite, "storage backend: sqlite or postgresql")
	pgURL := flag.String("pg-url", "", "PostgreSQL `URL` for -backend postgresql; empty starts a private PostgreSQL in <dir>/postgres")
	exitOnEOF := flag.Bool("exit-on-stdin-eof", false, "exit when stdin reaches EOF")
	verbose := flag.Bool("v", false, "debug logging")
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := devdb.Start(ctx, devdb.Config{
		Dir:              *dir,
		Addr:             *addr,
		Backend:          *backend,
		PostgreSQLURL:    *pgURL,
		Logger:           logger,
		LogCommandErrors: *verbose,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "devdb:", err)
		os.Exit(1)
	}

	// The URI must be the first line of stdout: parents read it to connect.
	fmt.Println(srv.URI())
	fmt.Fprintf(os.Stderr, "devdb: serving %s (backend %s, data in %s); stop with Ctrl-C\n", srv.URI(), *backend, *dir)

	if *exitOnEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}

	<-ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "devdb: close:", err)
		os.Exit(1)
	}
}
