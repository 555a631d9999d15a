// Command load is mongosession's HTTP load benchmark. It starts the embedded development database (FerretDB
// 1.24.2 on SQLite and/or on a private PostgreSQL, see package devdb) and one loopback HTTP server per
// contender:
//
//	bare          the untouched route without any session middleware (ceiling)
//	mongosession  this library, default options (rotation every 5 s)
//	scs           alexedwards/scs v2 over MongoDB (bench.SCSMongoStore, index on token)
//	raw-same      hand-written handlers, raw driver, mongosession's filters ({_id, tokens.h, expires > now})
//	raw-id        hand-written handlers, raw driver, plain {_id} filters
//
// The raw contenders' collections get the same index on expires as mongosession's (see expiresIndex).
//
// and drives each route (untouched, read, incr, write, new) with K concurrent clients, each with its own
// cookie jar. Contenders take turns in an order that rotates every round, each cell on a fresh collection.
// It reports req/s, p50, p99, non-2xx responses and database commands per request (counted by a driver
// command monitor; handshake and monitoring commands excluded), medians over the rounds and ratios within
// each round. A growth phase then measures mongosession's read and write paths on bulk-loaded collections.
//
// With -out, it writes the Markdown report there (bench/RESULTS.md in `make bench`) and appends the file
// named by -notes.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/bench"
	"github.com/mongosession/mongosession/devdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

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
	out, notes      string
	micro, growthMD string
	raw             string
	dir             string
	command         string
}

func main() {
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
	flag.StringVar(&cfg.out, "out", "", "write the Markdown report to this file (default: stdout)")
	flag.StringVar(&cfg.notes, "notes", "", "Markdown file appended to the report (the analysis)")
	flag.StringVar(&cfg.micro, "micro", "", "output of `go test -bench` (several -count) to tabulate in the report")
	flag.StringVar(&cfg.growthMD, "growth-report", "", "Markdown file with a full-size growth run (make bench-growth) to include in the report")
	flag.StringVar(&cfg.dir, "dir", defaultDir(), "parent `folder` of the databases' files (default /dev/shm when it exists: no disk stalls)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (servers, FerretDB and clients) to this `file`")
	rawOut := flag.String("raw", "", "also write every measurement as JSON to this `file` (for -replay)")
	replay := flag.String("replay", "", "write the report from a -raw JSON `file` instead of measuring (the analysis and micro text may change)")
	smoke := flag.Bool("smoke", false, "tiny run for CI: sqlite only, 4 clients, 50 ms cells, 1 round, growth 200")
	flag.Parse()
	if *smoke {
		*backends, cfg.clients, cfg.duration, cfg.warmup, cfg.rounds = "sqlite", 4, 50*time.Millisecond, 0, 1
		*growth, cfg.growthDuration = "200", 50*time.Millisecond
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
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *replay != "" {
		if err := replayReport(*replay, cfg); err != nil {
			fatal(err)
		}
		return
	}
	cfg.raw = *rawOut
	if err := run(cfg); err != nil {
		pprof.StopCPUProfile()
		fatal(err)
	}
}

// defaultDir is /dev/shm when it exists (a tmpfs: the benchmark measures the database's work, not the disk's
// fsync stalls), otherwise the system's temporary folder.
func defaultDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
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

// contender is one HTTP server with its own driver client, whose commands are counted.
type contender struct {
	name    string
	client  *mongo.Client
	db      *mongo.Database
	cmds    atomic.Int64
	byName  sync.Map // command name → *atomic.Int64
	handler atomic.Pointer[http.Handler]
	url     string
	srv     *http.Server
	tr      *http.Transport
	// build makes the contender's handler over a fresh collection; close releases it.
	build func(ctx context.Context, coll *mongo.Collection) (h http.Handler, close func(), err error)
}

// ignored are the handshake and monitoring commands that do not count as session work.
var ignored = map[string]bool{"hello": true, "isMaster": true, "ismaster": true, "ping": true, "saslStart": true,
	"saslContinue": true, "endSessions": true, "buildInfo": true, "getLastError": true}

func newContender(ctx context.Context, uri, name string, clients int) (*contender, error) {
	c := &contender{name: name}
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if ignored[e.CommandName] {
			return
		}
		c.cmds.Add(1)
		v, _ := c.byName.LoadOrStore(e.CommandName, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetMonitor(mon))
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx, nil); err != nil {
		return nil, err
	}
	c.client, c.db = client, client.Database("bench")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.url = "http://" + ln.Addr().String()
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*c.handler.Load()).ServeHTTP(w, r)
	}), ReadHeaderTimeout: time.Minute}
	go func() { _ = c.srv.Serve(ln) }()
	c.tr = &http.Transport{MaxIdleConns: 4 * clients, MaxIdleConnsPerHost: 2 * clients, DisableCompression: true}
	return c, nil
}

func (c *contender) close() {
	_ = c.srv.Close()
	c.tr.CloseIdleConnections()
	_ = c.client.Disconnect(context.Background())
}

// commandNames returns "find 1.00, update 1.00" style counts per request since before.
func (c *contender) snapshot() map[string]int64 {
	m := map[string]int64{}
	c.byName.Range(func(k, v any) bool {
		m[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return m
}

var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func builders() map[string]func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
	return map[string]func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error){
		"bare": func(context.Context, *mongo.Collection) (http.Handler, func(), error) {
			return bench.Bare(), func() {}, nil
		},
		"mongosession": func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
			st, err := mongosession.NewMongoStore(ctx, coll)
			if err != nil {
				return nil, nil, err
			}
			m, err := mongosession.New(st, mongosession.Options{InsecureCookie: true, Logger: quietLog})
			if err != nil {
				return nil, nil, err
			}
			return bench.Mongosession(m), func() { _ = st.Close() }, nil
		},
		"scs": func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
			st, err := bench.NewSCSMongoStore(ctx, coll)
			if err != nil {
				return nil, nil, err
			}
			sm := scs.New()
			sm.Store = st
			sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
			return bench.SCS(sm), func() {}, nil
		},
		"raw-same": func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
			return bench.Raw(coll, bench.FilterSame), func() {}, expiresIndex(ctx, coll)
		},
		"raw-id": func(ctx context.Context, coll *mongo.Collection) (http.Handler, func(), error) {
			return bench.Raw(coll, bench.FilterID), func() {}, expiresIndex(ctx, coll)
		},
	}
}

// expiresIndex gives a raw contender's collection the index mongosession's store creates (where the server
// has no TTL index, FerretDB 1.x among them), so that both maintain the same indexes on every write.
func expiresIndex(ctx context.Context, coll *mongo.Collection) error {
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "expires", Value: 1}},
		Options: options.Index().SetName("expires")})
	return err
}

// contenderNames in report order.
var contenderNames = []string{"mongosession", "scs", "raw-same", "raw-id", "bare"}

// cell is one measurement: one contender, one route, one round.
type cell struct {
	backend, route, contender string
	round                     int
	requests, non2xx          int64
	seconds                   float64
	p50, p99                  time.Duration
	cmds                      int64
	byName                    map[string]int64
}

func (c cell) rps() float64 { return float64(c.requests) / c.seconds }
func (c cell) cmdsPerReq() float64 {
	if c.requests == 0 {
		return math.NaN()
	}
	return float64(c.cmds) / float64(c.requests)
}

func runBackend(cfg config, backend string, rep *report) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp(cfg.dir, "mongosession-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf("%s: starting the development database", backend)
	srv, err := devdb.Start(ctx, devdb.Config{Dir: dir, Backend: backend})
	if err != nil {
		return err
	}
	defer srv.Close()

	builds := builders()
	cs := map[string]*contender{}
	for _, name := range contenderNames {
		c, err := newContender(ctx, srv.URI(), name, cfg.clients)
		if err != nil {
			return err
		}
		defer c.close()
		c.build = builds[name]
		cs[name] = c
	}

	for round := range cfg.rounds {
		for _, route := range cfg.routes {
			order := []string{"mongosession", "scs", "raw-same", "raw-id"}
			if route == bench.RouteUntouched {
				order = append(order, "bare")
			}
			k := round % len(order)
			order = append(order[k:], order[:k]...)
			for _, name := range order {
				if cfg.only != nil && !cfg.only[name] {
					continue
				}
				c, err := measure(ctx, cfg, cs[name], backend, route, round)
				if err != nil {
					return fmt.Errorf("%s %s: %w", name, route, err)
				}
				logf("%s r%d %-9s %-12s %8.0f req/s p50 %-8v p99 %-8v non-2xx %d cmds/req %.2f", backend, round, route,
					name, c.rps(), c.p50, c.p99, c.non2xx, c.cmdsPerReq())
				rep.cells = append(rep.cells, c)
			}
		}
	}
	if len(cfg.growth) > 0 {
		if err := growth(ctx, cfg, cs["mongosession"], backend, rep); err != nil {
			return fmt.Errorf("growth: %w", err)
		}
	}
	return nil
}

// clientsFor returns K http clients; with jars unless the route is new (a new session on every request).
func clientsFor(c *contender, k int, jars bool) []*http.Client {
	out := make([]*http.Client, k)
	for i := range out {
		out[i] = &http.Client{Transport: c.tr, Timeout: 2 * time.Minute}
		if jars {
			out[i].Jar, _ = cookiejar.New(nil)
		}
	}
	return out
}

func get(cl *http.Client, url string) (int, error) {
	resp, err := cl.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// measure runs one cell on a fresh collection, which it drops afterwards.
func measure(ctx context.Context, cfg config, c *contender, backend, route string, round int) (cell, error) {
	coll := c.db.Collection(fmt.Sprintf("%s_%s_%d", strings.ReplaceAll(c.name, "-", "_"), route, round))
	_ = coll.Drop(ctx)
	h, closeH, err := c.build(ctx, coll)
	if err != nil {
		return cell{}, err
	}
	defer func() {
		closeH()
		_ = coll.Drop(ctx)
	}()
	c.handler.Store(&h)

	clients := clientsFor(c, cfg.clients, route != bench.RouteNew)
	if route != bench.RouteNew && c.name != "bare" {
		for _, cl := range clients {
			if code, err := get(cl, c.url+bench.SeedPath); err != nil || code != http.StatusOK {
				return cell{}, fmt.Errorf("seed: status %d, %v", code, err)
			}
		}
	}
	url := c.url + "/" + route
	if cfg.warmup > 0 {
		if _, err := drive(clients, url, cfg.warmup, false); err != nil {
			return cell{}, err
		}
	}
	before, beforeByName := c.cmds.Load(), c.snapshot()
	res, err := drive(clients, url, cfg.duration, true)
	if err != nil {
		return cell{}, err
	}
	res.backend, res.route, res.contender, res.round = backend, route, c.name, round
	res.cmds = c.cmds.Load() - before
	res.byName = map[string]int64{}
	for k, v := range c.snapshot() {
		if d := v - beforeByName[k]; d > 0 {
			res.byName[k] = d
		}
	}
	return res, nil
}

// drive runs every client in a closed loop for d and waits for all of them.
func drive(clients []*http.Client, url string, d time.Duration, record bool) (cell, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		lat      []time.Duration
		non2xx   atomic.Int64
		firstErr error
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				code, err := get(cl, url)
				if err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
				if code < 200 || code > 299 {
					non2xx.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if firstErr != nil {
		return cell{}, firstErr
	}
	res := cell{requests: int64(len(lat)), non2xx: non2xx.Load(), seconds: elapsed}
	if record && len(lat) > 0 {
		slices.Sort(lat)
		res.p50, res.p99 = quantile(lat, 0.50), quantile(lat, 0.99)
	}
	return res, nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// growthCell is one measurement of the growth phase.
type growthCell struct {
	backend         string
	target, loaded  int
	loadTime        time.Duration
	who, route      string
	requests        int64
	non2xx          int64
	mean, p50, p99  time.Duration
	cmdsPerReq      float64
	budgetExhausted bool
}

// growth bulk-loads collections of each size and measures mongosession's read and write paths on them with
// one client (per-request latency: the front serializes commands, so one client shows the server's cost).
func growth(ctx context.Context, cfg config, c *contender, backend string, rep *report) error {
	for _, n := range cfg.growth {
		coll := c.db.Collection(fmt.Sprintf("growth_%d", n))
		_ = coll.Drop(ctx)
		// The background purge is measured on its own below, not left to land in the middle of a cell.
		st, err := mongosession.NewMongoStore(ctx, coll, mongosession.WithPurgeInterval(24*time.Hour))
		if err != nil {
			return err
		}
		logf("%s growth: loading %d documents", backend, n)
		t0 := time.Now()
		loaded, err := bulkLoad(ctx, coll, n, cfg.growthBudget)
		if err != nil {
			return err
		}
		loadTime := time.Since(t0)
		logf("%s growth: loaded %d documents in %v", backend, loaded, loadTime.Round(time.Millisecond))
		// Updates scan the whole collection on FerretDB/SQLite: give them time rather than fail.
		m, err := mongosession.New(st, mongosession.Options{InsecureCookie: true, Logger: quietLog, Timeout: 10 * time.Minute})
		if err != nil {
			return err
		}
		for _, who := range []string{"mongosession", "raw-id"} {
			h := bench.Mongosession(m)
			if who == "raw-id" {
				h = bench.Raw(coll, bench.FilterID)
			}
			c.handler.Store(&h)
			clients := clientsFor(c, 1, true)
			if code, err := get(clients[0], c.url+bench.SeedPath); err != nil || code != http.StatusOK {
				return fmt.Errorf("seed: status %d, %v", code, err)
			}
			for _, route := range []string{bench.RouteRead, bench.RouteWrite} {
				before := c.cmds.Load()
				var lat []time.Duration
				var non2xx int64
				start := time.Now()
				// At least growthDuration and 3 requests, but give up after 30 s once one request is done:
				// on FerretDB a request can take seconds at a million documents.
				for (time.Since(start) < cfg.growthDuration || len(lat) < 3) && (time.Since(start) < 30*time.Second || len(lat) == 0) {
					t := time.Now()
					code, err := get(clients[0], c.url+"/"+route)
					if err != nil {
						return err
					}
					lat = append(lat, time.Since(t))
					if code < 200 || code > 299 {
						non2xx++
					}
				}
				var sum time.Duration
				for _, d := range lat {
					sum += d
				}
				slices.Sort(lat)
				g := growthCell{backend: backend, target: n, loaded: loaded, loadTime: loadTime, who: who, route: route,
					requests: int64(len(lat)), non2xx: non2xx, mean: sum / time.Duration(len(lat)),
					p50: quantile(lat, 0.5), p99: quantile(lat, 0.99),
					cmdsPerReq: float64(c.cmds.Load()-before) / float64(len(lat)), budgetExhausted: loaded < n}
				logf("%s growth %d docs %-12s %-5s mean %v p50 %v p99 %v (%d requests, %.2f cmds/req)", backend, g.loaded,
					who, route, g.mean, g.p50, g.p99, g.requests, g.cmdsPerReq)
				rep.growth = append(rep.growth, g)
			}
		}
		// One pass of the background purge that runs every minute where the server has no TTL index
		// (FerretDB 1.x): nothing has expired, so this is the cost of finding that out.
		t0 = time.Now()
		before := c.cmds.Load()
		if _, err := st.Purge(ctx); err != nil {
			return err
		}
		g := growthCell{backend: backend, target: n, loaded: loaded, loadTime: loadTime, who: "mongosession", route: "purge pass",
			requests: 1, mean: time.Since(t0), cmdsPerReq: float64(c.cmds.Load() - before), budgetExhausted: loaded < n}
		g.p50, g.p99 = g.mean, g.mean
		logf("%s growth %d docs purge pass %v", backend, g.loaded, g.mean)
		rep.growth = append(rep.growth, g)
		_ = st.Close()
		_ = coll.Drop(ctx)
	}
	return nil
}

// bulkLoad inserts up to n live session documents of mongosession's shape with InsertMany batches, stopping
// when budget is spent. It returns how many it inserted.
func bulkLoad(ctx context.Context, coll *mongo.Collection, n int, budget time.Duration) (int, error) {
	const batch = 5000
	start := time.Now()
	now := time.Now()
	docs := make([]any, 0, batch)
	loaded := 0
	for loaded < n && time.Since(start) < budget {
		docs = docs[:0]
		for i := 0; i < batch && loaded+len(docs) < n; i++ {
			id := fmt.Sprintf("bulk%018d", loaded+len(docs)) // 22 characters, like a real id
			docs = append(docs, bench.NewDoc(id, make([]byte, 32), now))
		}
		if _, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return loaded, err
		}
		loaded += len(docs)
	}
	return loaded, nil
}

// report collects every measurement and writes the Markdown.
type report struct {
	cfg     config
	started time.Time
	elapsed time.Duration
	cells   []cell
	growth  []growthCell

	microText string // go test -bench output
}

func (r *report) find(backend, route, contender string) []cell {
	var out []cell
	for _, c := range r.cells {
		if c.backend == backend && c.route == route && c.contender == contender {
			out = append(out, c)
		}
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDur(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// spread is (max-min)/median in percent.
func spread(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	return (slices.Max(xs) - slices.Min(xs)) / median(xs) * 100
}

// ratios returns, per round, a's req/s over b's.
func (r *report) ratios(backend, route, a, b string) []float64 {
	ca, cb := r.find(backend, route, a), r.find(backend, route, b)
	var out []float64
	for _, x := range ca {
		for _, y := range cb {
			if x.round == y.round && y.rps() > 0 {
				out = append(out, x.rps()/y.rps())
			}
		}
	}
	return out
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}

func fmtRatio(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	s := fmt.Sprintf("%.2f×", median(xs))
	if len(xs) > 1 {
		s += fmt.Sprintf(" (%.2f–%.2f)", slices.Min(xs), slices.Max(xs))
	}
	return s
}

// target is one of issue 5's targets for mongosession.
type target struct {
	route, what, other string
	min                float64 // ratio target (req/s of mongosession over other), or
	cmds               float64 // commands per request at most (when other == "")
}

var targets = []target{
	{bench.RouteUntouched, "commands/request = 0", "", 0, 0},
	{bench.RouteRead, "commands/request = 1", "", 0, 1},
	{bench.RouteIncr, "commands/request ≤ 2", "", 0, 2},
	{bench.RouteWrite, "commands/request = 1", "", 0, 1},
	{bench.RouteNew, "commands/request = 1", "", 0, 1},
	{bench.RouteUntouched, "≥ 0.9× bare", "bare", 0.9, 0},
	{bench.RouteUntouched, "≥ 10× scs", "scs", 10, 0},
	{bench.RouteWrite, "≥ 1.8× scs", "scs", 1.8, 0},
	{bench.RouteRead, "≥ 1.0× scs", "scs", 1.0, 0},
	{bench.RouteIncr, "≥ 1.0× scs", "scs", 1.0, 0},
	{bench.RouteNew, "≥ 1.0× scs", "scs", 1.0, 0},
}

func init() {
	for _, route := range bench.Routes {
		for _, raw := range []string{"raw-same", "raw-id"} {
			targets = append(targets, target{route, "≥ 0.95× " + raw, raw, 0.95, 0})
		}
	}
}

func goVersion() string {
	out, err := exec.Command("go", "version").Output()
	if err != nil {
		return runtime.Version() + " (go version failed: " + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func (r *report) write(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	cfg := r.cfg
	growthOnly := len(r.cells) == 0
	if growthOnly {
		p("## Growth at full size (`make bench-growth`)\n\n")
		p("Generated by `make bench-growth` (bench/GROWTH.md, included in RESULTS.md by `make bench`): too slow for the 10-minute `make bench` on FerretDB.\n\n")
	} else {
		p("# mongosession benchmark results\n\n")
		p("Generated by `make bench` (bench/cmd/load and the micro benchmarks); do not edit by hand — the analysis at the end comes from bench/ANALYSIS.md.\n\n")
	}
	p("- Date: %s (load program ran %v)\n", r.started.UTC().Format("2006-01-02 15:04 UTC"), r.elapsed.Round(time.Second))
	p("- Machine: %s, %d CPUs (GOMAXPROCS %d), %s\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), goVersion())
	if strings.Contains(cfg.command, "-micro") {
		p("- Command: `make bench` in the repository root: `go test -run '^$' -bench . -benchmem -count 5 -benchtime 300ms . > $micro`, then `%s` (both in bench/)\n", cfg.command)
	} else {
		p("- Command: `%s` (from bench/)\n", cfg.command)
	}
	p("- Database: FerretDB 1.24.2 behind devdb's serializing front (one command at a time), in the same process as the HTTP servers and the clients (all on loopback, sharing the CPUs).\n")
	if !growthOnly {
		p("- HTTP load: %d clients per contender, each with its own cookie jar; %v measured after %v warm-up per cell; %d rounds; contender order rotates every round; every cell on a fresh collection.\n", cfg.clients, cfg.duration, cfg.warmup, cfg.rounds)
		p("- Numbers: medians over the rounds; ratios are computed within each round (same moment, same machine state) and quoted as median (min–max). Spread = (max−min)/median of req/s.\n")
	}
	p("\n")

	if !growthOnly {
		r.writeTargets(p) // the headline: every target of issue 5 with its verdict
	}
	if r.microText != "" {
		writeMicro(&b, r.microText)
	}

	for _, backend := range cfg.backends {
		if growthOnly {
			break
		}
		p("## HTTP load, FerretDB on %s\n\n", backendName(backend))
		p("| route | contender | req/s (median) | spread | p50 | p99 | non-2xx | commands/request | commands |\n")
		p("|---|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, route := range bench.Routes {
			for _, name := range contenderNames {
				cells := r.find(backend, route, name)
				if len(cells) == 0 {
					continue
				}
				var rps, cpr []float64
				var p50, p99 []time.Duration
				var non2xx int64
				names := map[string]int64{}
				var reqs int64
				for _, c := range cells {
					rps, cpr = append(rps, c.rps()), append(cpr, c.cmdsPerReq())
					p50, p99 = append(p50, c.p50), append(p99, c.p99)
					non2xx += c.non2xx
					reqs += c.requests
					for k, v := range c.byName {
						names[k] += v
					}
				}
				var parts []string
				for _, k := range slices.Sorted(func(yield func(string) bool) {
					for k := range names {
						if !yield(k) {
							return
						}
					}
				}) {
					parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(names[k])/float64(reqs)))
				}
				sp := fmt.Sprintf("%.0f%%", spread(rps))
				if spread(rps) > 20 {
					sp += " (wide)"
				}
				p("| %s | %s | %.0f | %s | %s | %s | %d | %.2f | %s |\n", route, name, median(rps), sp,
					fmtDur(medianDur(p50)), fmtDur(medianDur(p99)), non2xx, median(cpr), strings.Join(parts, ", "))
			}
		}
		p("\nRatios of mongosession's req/s, within each round:\n\n")
		p("| route | ÷ scs | ÷ raw-same | ÷ raw-id | ÷ bare |\n|---|---:|---:|---:|---:|\n")
		for _, route := range bench.Routes {
			p("| %s | %s | %s | %s | %s |\n", route, fmtRatio(r.ratios(backend, route, "mongosession", "scs")),
				fmtRatio(r.ratios(backend, route, "mongosession", "raw-same")),
				fmtRatio(r.ratios(backend, route, "mongosession", "raw-id")),
				fmtRatio(r.ratios(backend, route, "mongosession", "bare")))
		}
		p("\n")
	}

	if len(r.growth) > 0 {
		if !growthOnly {
			p("## Growth: mongosession's read and write paths as the collection grows\n\n")
		}
		p("One client, sequential requests (the front serializes commands, so this is the server's cost per request); each cell at least %v and 3 requests. Documents bulk-loaded with InsertMany (5,000 per command) in mongosession's shape; load budget %v per collection.\n\n", cfg.growthDuration, cfg.growthBudget)
		p("| backend | documents | load time | contender | route | requests | mean | p50 | p99 | commands/request | non-2xx |\n")
		p("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, g := range r.growth {
			docs := strconv.Itoa(g.loaded)
			if g.budgetExhausted {
				docs += fmt.Sprintf(" (of %d: load budget spent)", g.target)
			}
			p("| %s | %s | %s | %s | %s | %d | %s | %s | %s | %.2f | %d |\n", backendName(g.backend), docs,
				fmtDur(g.loadTime), g.who, g.route, g.requests, fmtDur(g.mean), fmtDur(g.p50), fmtDur(g.p99), g.cmdsPerReq, g.non2xx)
		}
		p("\n")
	}

	if cfg.growthMD != "" {
		if g, err := os.ReadFile(cfg.growthMD); err == nil {
			b.Write(g)
			p("\n")
		} else if !os.IsNotExist(err) {
			return err
		}
	}

	if cfg.notes != "" {
		micro, err := os.ReadFile(cfg.notes)
		if err != nil {
			return err
		}
		b.Write(micro)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func backendName(b string) string {
	switch b {
	case devdb.BackendSQLite:
		return "SQLite"
	case devdb.BackendPostgreSQL:
		return "PostgreSQL"
	}
	return b
}

// writeMicro tabulates `go test -bench -benchmem` output: the median of every metric over the runs.
func writeMicro(b *strings.Builder, data string) {
	type metrics struct{ ns, bytes, allocs []float64 }
	var order []string
	runs := map[string]*metrics{}
	var header []string
	for _, line := range strings.Split(data, "\n") {
		if strings.HasPrefix(line, "cpu:") || strings.HasPrefix(line, "goos:") || strings.HasPrefix(line, "goarch:") {
			header = append(header, strings.TrimSpace(line))
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		m := runs[name]
		if m == nil {
			m = &metrics{}
			runs[name] = m
			order = append(order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				m.ns = append(m.ns, v)
			case "B/op":
				m.bytes = append(m.bytes, v)
			case "allocs/op":
				m.allocs = append(m.allocs, v)
			}
		}
	}
	nruns := 0
	for _, m := range runs {
		nruns = max(nruns, len(m.ns))
	}
	fmt.Fprintf(b, "## Micro benchmarks (in memory, no network)\n\n")
	fmt.Fprintf(b, "`go test -run '^$' -bench . -benchmem` in bench/ (%s): one request through middleware and handler, httptest-free "+
		"(a reused request and a header-only ResponseWriter). mongosession over its memstore with rotation off "+
		"(TokenTTL 100 years; BenchmarkRotation has it on every request), scs v2.9.0 over its memstore (gob codec, its default). "+
		"Medians of %d runs.\n\n", strings.Join(header, ", "), nruns)
	fmt.Fprintf(b, "| benchmark | ns/op | spread | B/op | allocs/op |\n|---|---:|---:|---:|---:|\n")
	for _, name := range order {
		m := runs[name]
		fmt.Fprintf(b, "| %s | %.0f | %.0f%% | %.0f | %.0f |\n", strings.TrimPrefix(name, "Benchmark"), median(m.ns),
			spread(m.ns), median(m.bytes), median(m.allocs))
	}
	ratio := func(route string) string {
		a, c := runs["BenchmarkMiddleware/"+route+"/mongosession"], runs["BenchmarkMiddleware/"+route+"/scs"]
		if a == nil || c == nil {
			return "–"
		}
		return fmt.Sprintf("%.2f×", median(a.ns)/median(c.ns))
	}
	fmt.Fprintf(b, "\nmongosession's ns/op over scs's: untouched %s, read %s, incr %s, write %s, new %s.\n\n",
		ratio("untouched"), ratio("read"), ratio("incr"), ratio("write"), ratio("new"))
}

// writeTargets writes the table of issue 5's targets with the verdict per backend.
func (r *report) writeTargets(p func(string, ...any)) {
	cfg := r.cfg
	p("## Targets (issue 5): the headline\n\n")
	p("mongosession's req/s over each contender's, median of the per-round ratios (min–max); commands per request from the driver's command monitor. Details and the reasons for every miss below.\n\n")
	p("| route | target |")
	for _, backend := range cfg.backends {
		p(" %s |", backendName(backend))
	}
	p("\n|---|---|")
	for range cfg.backends {
		p("---|")
	}
	p("\n")
	for _, t := range targets {
		p("| %s | %s |", t.route, t.what)
		for _, backend := range cfg.backends {
			if t.other == "" {
				var cpr []float64
				for _, c := range r.find(backend, t.route, "mongosession") {
					cpr = append(cpr, c.cmdsPerReq())
				}
				v := median(cpr)
				ok := v <= t.cmds+0.05 && (t.route == bench.RouteIncr || v >= t.cmds-0.05)
				p(" %s %.2f |", verdict(ok), v)
				continue
			}
			rs := r.ratios(backend, t.route, "mongosession", t.other)
			if len(rs) == 0 {
				p(" – |")
				continue
			}
			p(" %s %s |", verdict(median(rs) >= t.min), fmtRatio(rs))
		}
		p("\n")
	}
	p("\n")

}

// rawReport is the JSON form of a report: every measurement and the settings the Markdown quotes.
type rawReport struct {
	Backends       []string
	Clients        int
	Duration       time.Duration
	Warmup         time.Duration
	Rounds         int
	GrowthDuration time.Duration
	GrowthBudget   time.Duration
	Command        string
	Started        time.Time
	Elapsed        time.Duration
	Micro          string
	Cells          []rawCell
	Growth         []rawGrowth
}

type rawCell struct {
	Backend, Route, Contender string
	Round                     int
	Requests, Non2xx          int64
	Seconds                   float64
	P50, P99                  time.Duration
	Cmds                      int64
	ByName                    map[string]int64
}

type rawGrowth struct {
	Backend         string
	Target, Loaded  int
	LoadTime        time.Duration
	Who, Route      string
	Requests        int64
	Non2xx          int64
	Mean, P50, P99  time.Duration
	CmdsPerReq      float64
	BudgetExhausted bool
}

func (r *report) saveRaw(path string) error {
	out := rawReport{Backends: r.cfg.backends, Clients: r.cfg.clients, Duration: r.cfg.duration, Warmup: r.cfg.warmup,
		Rounds: r.cfg.rounds, GrowthDuration: r.cfg.growthDuration, GrowthBudget: r.cfg.growthBudget,
		Command: r.cfg.command, Started: r.started, Elapsed: r.elapsed, Micro: r.microText}
	for _, c := range r.cells {
		out.Cells = append(out.Cells, rawCell{c.backend, c.route, c.contender, c.round, c.requests, c.non2xx, c.seconds,
			c.p50, c.p99, c.cmds, c.byName})
	}
	for _, g := range r.growth {
		out.Growth = append(out.Growth, rawGrowth{g.backend, g.target, g.loaded, g.loadTime, g.who, g.route, g.requests,
			g.non2xx, g.mean, g.p50, g.p99, g.cmdsPerReq, g.budgetExhausted})
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// replayReport writes the Markdown report of a saved run; -out, -notes and -growth-report come from cfg.
func replayReport(path string, cfg config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var in rawReport
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	cfg.backends, cfg.clients, cfg.duration, cfg.warmup, cfg.rounds = in.Backends, in.Clients, in.Duration, in.Warmup, in.Rounds
	cfg.growthDuration, cfg.growthBudget, cfg.command = in.GrowthDuration, in.GrowthBudget, in.Command
	rep := &report{cfg: cfg, started: in.Started, elapsed: in.Elapsed, microText: in.Micro}
	for _, c := range in.Cells {
		rep.cells = append(rep.cells, cell{c.Backend, c.Route, c.Contender, c.Round, c.Requests, c.Non2xx, c.Seconds,
			c.P50, c.P99, c.Cmds, c.ByName})
	}
	for _, g := range in.Growth {
		rep.growth = append(rep.growth, growthCell{g.Backend, g.Target, g.Loaded, g.LoadTime, g.Who, g.Route, g.Requests,
			g.Non2xx, g.Mean, g.P50, g.P99, g.CmdsPerReq, g.BudgetExhausted})
	}
	return writeReport(rep, cfg.out)
}

// writeReport writes the report to the file out, or to stdout when out is empty.
func writeReport(rep *report, out string) error {
	if out == "" {
		return rep.write(os.Stdout)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := rep.write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
