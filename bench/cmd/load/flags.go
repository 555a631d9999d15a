package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mongosession/mongosession/bench"
)

// config is the command line.
type config struct {
	backends        []string
	routes          []string
	only            map[string]bool
	clients         int
	duration        time.Duration
	warmup          time.Duration
	rounds          int
	growth          []int
	growthDuration  time.Duration
	growthBudget    time.Duration
	fieldDuration   time.Duration // per shape, operation and round in the field phase (0: skip it)
	out, notes      string
	micro, growthMD string
	raw             string
	dir             string
	command         string
	cpuprofile      string // CPU profile of the whole run
	replay          string // a -raw file to write the report from, instead of measuring
}

// parseFlags reads the command line into a config.
func parseFlags() config {
	var cfg config
	backends := flag.String("backends", "sqlite,postgresql", "comma-separated FerretDB backends: sqlite, postgresql")
	only := flag.String("contenders", "", "comma-separated contenders to measure (default: all)")
	routes := flag.String("routes", strings.Join(bench.Routes, ","), "comma-separated routes to measure")
	flag.IntVar(&cfg.clients, "clients", 16, "concurrent clients (K), each with its own cookie jar")
	flag.DurationVar(&cfg.duration, "duration", 1500*time.Millisecond, "measured time per contender, route and round")
	flag.DurationVar(&cfg.warmup, "warmup", 300*time.Millisecond, "unmeasured warm-up before each measurement")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds (repeat runs; the contender order rotates every round)")
	growth := flag.String("growth", "1000,1000000", "comma-separated collection sizes for the growth phase (empty: skip)")
	flag.DurationVar(&cfg.growthDuration, "growth-duration", 2*time.Second, "measured time per growth cell (at least 3 requests)")
	flag.DurationVar(&cfg.growthBudget, "growth-load-budget", 3*time.Minute, "longest bulk load per collection; the size reached is reported")
	flag.DurationVar(&cfg.fieldDuration, "field-duration", 200*time.Millisecond, "measured time per document shape, operation and round in the field phase (0: skip the phase)")
	flag.StringVar(&cfg.out, "out", "", "write the Markdown report to this file (default: stdout)")
	flag.StringVar(&cfg.notes, "notes", "", "Markdown file appended to the report (the analysis)")
	flag.StringVar(&cfg.micro, "micro", "", "output of `go test -bench` (several -count) to tabulate in the report")
	flag.StringVar(&cfg.growthMD, "growth-report", "", "Markdown file with a full-size growth run (make bench-growth) to include in the report")
	flag.StringVar(&cfg.dir, "dir", defaultDir(), "parent `folder` of the databases' files (default /dev/shm when it exists: no disk stalls)")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run (servers, FerretDB and clients) to this `file`")
	flag.StringVar(&cfg.raw, "raw", "", "also write every measurement as JSON to this `file` (for -replay)")
	flag.StringVar(&cfg.replay, "replay", "", "write the report from a -raw JSON `file` instead of measuring (the analysis and micro text may change)")
	smoke := flag.Bool("smoke", false, "tiny run for CI: sqlite only, 4 clients, 50 ms cells, 1 round, growth 200")
	flag.Parse()
	if *smoke {
		*backends, cfg.clients, cfg.duration, cfg.warmup, cfg.rounds = "sqlite", 4, 50*time.Millisecond, 0, 1
		*growth, cfg.growthDuration, cfg.fieldDuration = "200", 50*time.Millisecond, 10*time.Millisecond
	}
	cfg.backends = strings.Split(*backends, ",")
	for _, r := range strings.Split(*routes, ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.routes = append(cfg.routes, r)
		}
	}
	if *only != "" {
		cfg.only = map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			cfg.only[n] = true
		}
	}
	for _, s := range strings.Split(*growth, ",") {
		if s = strings.TrimSpace(s); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				fatal(fmt.Errorf("-growth: bad size %q", s))
			}
			cfg.growth = append(cfg.growth, n)
		}
	}
	args := make([]string, len(os.Args)-1)
	for i, a := range os.Args[1:] {
		if i > 0 && (os.Args[i] == "-micro" || os.Args[i] == "--micro") {
			a = "$micro" // a temporary file of make bench
		}
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			a = "'" + a + "'"
		}
		args[i] = a
	}
	cfg.command = "go run ./cmd/load " + strings.Join(args, " ")
	return cfg
}

// defaultDir is /dev/shm when it exists (a tmpfs: the benchmark measures the database's work, not the disk's
// fsync stalls), otherwise the system's temporary folder.
func defaultDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}
