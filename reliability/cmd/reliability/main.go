// Command reliability runs the reliability suite: the embedded database, a fault proxy in front of it,
// several app processes (cmd/app) using the library, and many browsers with their own cookie jars, through
// named scenarios (steady traffic, logins amid parallel requests, slow readers, WebSocket reconnects, late
// acknowledgements, a commit that cannot apply, a database outage, a black hole, skewed clocks).
//
// It prints a table, writes it with the evidence to -out (RELIABILITY.md), and exits with status 1 if any
// figure that must be 0 is not (lost increments, spurious logouts, 5xx other than 503, Set-Cookie on a
// failed response, token_reuse events, ...), 2 if the harness itself failed.
//
//	go run ./cmd/reliability -out ../RELIABILITY.md    # the full run, a few minutes
//	go run ./cmd/reliability -smoke                    # a short run for CI
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/devdb"
	"github.com/mongosession/mongosession/reliability/faultproxy"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// config are the run's settings.
type config struct {
	smoke          bool
	clients        int
	apps           int
	tokenTTL       time.Duration // the apps' Options.TokenTTL
	tokensKept     int           // the apps' Options.TokensKept (the library's default)
	timeout        time.Duration // the apps' Options.Timeout
	steady         time.Duration // length of the fault-free scenarios
	outage         time.Duration // length of a database outage or black hole
	recoveryWindow time.Duration // traffic after a fault before the final check
	thinkMin       time.Duration
	thinkMax       time.Duration
	only           *regexp.Regexp
	out            string
	backend        string
	logDir         string
}

func main() {
	var cfg config
	smoke := flag.Bool("smoke", false, "a short run for CI: fewer clients, a few seconds per scenario, TokenTTL 1 s")
	clients := flag.Int("clients", 0, "browsers (default 64, smoke 16)")
	flag.IntVar(&cfg.apps, "apps", 3, "app processes")
	only := flag.String("run", "", "run only the scenarios whose names match this `regexp`")
	flag.StringVar(&cfg.out, "out", "", "write the report to this `file` (RELIABILITY.md); empty: print only")
	flag.StringVar(&cfg.logDir, "logs", "", "keep a copy of every app's log in this `folder`")
	flag.StringVar(&cfg.backend, "backend", devdb.BackendSQLite, "devdb backend: sqlite or postgresql")
	flag.Parse()

	cfg.smoke = *smoke
	cfg.tokensKept = mongosession.DefaultTokensKept
	cfg.timeout = mongosession.DefaultTimeout
	if cfg.smoke {
		cfg.clients, cfg.tokenTTL = 16, time.Second
		cfg.steady, cfg.outage, cfg.recoveryWindow = 4*time.Second, 3*time.Second, 3*time.Second
		cfg.thinkMin, cfg.thinkMax = 50*time.Millisecond, 200*time.Millisecond
	} else {
		cfg.clients, cfg.tokenTTL = 64, mongosession.DefaultTokenTTL
		cfg.steady, cfg.outage, cfg.recoveryWindow = 30*time.Second, 10*time.Second, 8*time.Second
		cfg.thinkMin, cfg.thinkMax = 150*time.Millisecond, 600*time.Millisecond
	}
	if *clients > 0 {
		cfg.clients = *clients
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fmt.Fprintln(os.Stderr, "reliability: -run:", err)
			os.Exit(2)
		}
		cfg.only = re
	}
	results, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(2)
	}
	table := renderTable(results)
	fmt.Print(table)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(renderReport(cfg, results, reportArgs())), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "reliability:", err)
			os.Exit(2)
		}
		fmt.Println("report written to", cfg.out)
	}
	for _, r := range results {
		if r.m.failed() {
			fmt.Println("FAIL: a figure that must be 0 is not (see the table)")
			os.Exit(1)
		}
	}
	fmt.Println("PASS: every figure that must be 0 is 0")
}

// reportArgs is the command line for the report, without the flags that only say where files go.
func reportArgs() string {
	var args []string
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "logs" {
			args = append(args, "-"+f.Name+" "+f.Value.String())
		}
	})
	return strings.Join(args, " ")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "reliability: "+format+"\n", args...)
}

func run(cfg config) ([]*result, error) {
	tmp, err := os.MkdirTemp("", "mongosession-reliability-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	logf("building the app")
	bin, err := buildApp(tmp)
	if err != nil {
		return nil, err
	}
	logf("starting the development database (%s)", cfg.backend)
	db, err := devdb.Start(context.Background(), devdb.Config{Dir: filepath.Join(tmp, "db"), Backend: cfg.backend})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	dbAddr := strings.TrimSuffix(strings.TrimPrefix(db.URI(), "mongodb://"), "/")
	proxy, err := faultproxy.Start("127.0.0.1:0", dbAddr)
	if err != nil {
		return nil, err
	}
	defer proxy.Close()

	// The inspector reads session documents directly, bypassing the proxy, for the evidence.
	direct, err := mongo.Connect(options.Client().ApplyURI(db.URI()))
	if err != nil {
		return nil, err
	}
	defer direct.Disconnect(context.Background())

	if cfg.logDir != "" {
		if err := os.MkdirAll(cfg.logDir, 0o755); err != nil {
			return nil, err
		}
	}

	var results []*result
	for i, sc := range scenarios(cfg) {
		if cfg.only != nil && !cfg.only.MatchString(sc.name) {
			continue
		}
		logf("scenario %s: %d clients, %d apps", sc.name, cfg.clients, cfg.apps)
		before := proxy.Stats()
		r, err := runScenario(cfg, bin, proxy, direct.Database("reliability"), sc, i+1)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", sc.name, err)
		}
		after := proxy.Stats()
		r.m.Proxy = faultproxy.Stats{Accepted: after.Accepted - before.Accepted, Refused: after.Refused - before.Refused,
			Dropped: after.Dropped - before.Dropped, Delayed: after.Delayed - before.Delayed, Held: after.Held - before.Held}
		logf("scenario %s done in %v: %s", sc.name, r.duration.Round(time.Second), r.summary())
		results = append(results, r)
	}
	return results, nil
}
