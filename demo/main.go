// Command demo is a small web app showing mongosession at work, with the embedded development database:
// where the session lives (an encrypted cookie, then MongoDB), its data, the cookie's fingerprint changing as
// the token rotates, log in (SetUser + Renew) and log out (Destroy), "your devices" (Manager.Sessions, revoke
// one or all others) and the security events of the session, with a button that replays an old copy of the
// cookie as a thief would: refused, reported, and the session revoked, which logs the thief and the real
// browser out. Run it with `make demo` and open http://127.0.0.1:8080.
//
// Anonymous visitors start in cookie mode (no database work at all); logging in, or "Move to MongoDB"
// (Promote), moves the session to the database. The cookie key is random for each start (development only),
// so cookie-mode sessions do not survive a restart of the demo; database sessions do.
//
// Flags: -addr (default 127.0.0.1:8080), -dir (the embedded database's folder), -uri (use this MongoDB
// instead of the embedded database), -token-ttl (default 5s).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/devdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run starts the demo with the command-line arguments args and serves until ctx is done. It prints the
// database's URI, then "listening on http://ADDR" once the listener is bound.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:8080", "listen `address`")
	dir := flags.String("dir", filepath.Join(os.TempDir(), "mongosession-demo"), "embedded database `folder`")
	uri := flags.String("uri", "", "MongoDB `URI` to use instead of the embedded database")
	tokenTTL := flags.Duration("token-ttl", mongosession.DefaultTokenTTL, "how long a token stays fresh")
	if err := flags.Parse(args); err != nil {
		return err
	}

	if *uri == "" {
		db, err := devdb.Start(ctx, devdb.Config{Dir: *dir})
		if err != nil {
			return err
		}
		defer db.Close()
		*uri = db.URI()
	}
	a, err := newApp(ctx, appConfig{URI: *uri, TokenTTL: *tokenTTL})
	if err != nil {
		return err
	}
	defer a.Close()
	shown := redactURI(*uri)
	fmt.Fprintf(stdout, "database: %s (database %q, collection %q)\n", shown, a.cfg.Database, a.cfg.Collection)
	fmt.Fprintf(stdout, "  inspect: go run ./cmd/mongosession --uri %s --db %s stats\n", shown, a.cfg.Database)

	// Bound before saying so: "listening" means a browser can connect now.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
