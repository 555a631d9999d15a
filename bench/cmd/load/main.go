// Command load is mongosession's HTTP load benchmark. It starts the embedded development database (FerretDB
// 1.24.2 on SQLite and/or on a private PostgreSQL, see package devdb) and one loopback HTTP server per
// contender:
//
//	bare          the untouched route without any session middleware (ceiling)
//	mongosession  this library, default options (rotation every 5 s)
//	scs           alexedwards/scs v2 over MongoDB (bench.SCSMongoStore, index on token)
//	raw-same      hand-written handlers, raw driver, mongosession's filters ({_id, tokens.h, expires > now})
//	raw-id        hand-written handlers, raw driver, plain {_id} filters
//	raw-min       as raw-id, over documents holding only {_id, data, expires} (not on untouched)
//
// and drives each route (untouched, read, incr, write, new) with K concurrent clients, each with its own
// cookie jar. Contenders take turns in an order that rotates every round, each cell on a fresh collection.
// The raw contenders' collections get the same index on expires as mongosession's (see expiresIndex).
// It reports req/s, p50, p99, non-2xx responses and database commands per request (counted by a driver
// command monitor; handshake and monitoring commands excluded), medians over the rounds and ratios within
// each round. A field phase then measures what each field of the session document costs a find and an update
// by _id (documents of increasing shape, see fields.go), and a growth phase mongosession's read and write paths
// on bulk-loaded collections.
//
// With -out, it writes the Markdown report there (bench/RESULTS.md in `make bench`) and appends the file
// named by -notes.
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"
)

func main() {
	cfg := parseFlags()
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.replay != "" {
		if err := replayReport(cfg.replay, cfg); err != nil {
			fatal(err)
		}
		return
	}
	if err := run(cfg); err != nil {
		pprof.StopCPUProfile()
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
}

// logf prints progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(cfg config) error {
	started := time.Now()
	rep := &report{cfg: cfg, started: started}
	for _, backend := range cfg.backends {
		if err := runBackend(cfg, backend, rep); err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
	}
	rep.elapsed = time.Since(started)
	if cfg.micro != "" {
		b, err := os.ReadFile(cfg.micro)
		if err != nil {
			return err
		}
		rep.microText = string(b)
	}
	if cfg.raw != "" {
		if err := rep.saveRaw(cfg.raw); err != nil {
			return err
		}
	}
	if err := writeReport(rep, cfg.out); err != nil {
		return err
	}
	logf("done in %v", rep.elapsed.Round(time.Second))
	return nil
}
