package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongosession/mongosession/bench"
	"github.com/mongosession/mongosession/devdb"
)

// cell is one measurement: one contender, one route, one round.
// Its fields are the JSON that -raw writes and -replay reads: renaming one orphans saved results.
type cell struct {
	Backend, Route, Contender string
	Round                     int
	Requests, Non2xx          int64
	Seconds                   float64
	P50, P99                  time.Duration
	Cmds                      int64
	ByName                    map[string]int64
}

func (c cell) rps() float64 { return float64(c.Requests) / c.Seconds }

func (c cell) cmdsPerReq() float64 {
	if c.Requests == 0 {
		return math.NaN()
	}
	return float64(c.Cmds) / float64(c.Requests)
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
	if err := checkDocShape(ctx, cs["mongosession"].db); err != nil {
		return err
	}

	for round := range cfg.rounds {
		for _, route := range cfg.routes {
			order := []string{"mongosession", "scs", "raw-same", "raw-id"}
			if route == bench.RouteUntouched {
				order = append(order, "bare")
			} else {
				order = append(order, "raw-min") // untouched does no database work: no document shape to compare
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
					name, c.rps(), c.P50, c.P99, c.Non2xx, c.cmdsPerReq())
				rep.cells = append(rep.cells, c)
			}
		}
	}
	if cfg.fieldDuration > 0 {
		file := ""
		if backend == devdb.BackendSQLite {
			file = sqliteFileOf(dir, cs["raw-min"].db.Name())
		}
		if err := fieldCosts(ctx, cfg, cs["raw-min"].db, backend, file, rep); err != nil {
			return fmt.Errorf("fields: %w", err)
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
	res.Backend, res.Route, res.Contender, res.Round = backend, route, c.name, round
	res.Cmds = c.cmds.Load() - before
	res.ByName = map[string]int64{}
	for k, v := range c.snapshot() {
		if d := v - beforeByName[k]; d > 0 {
			res.ByName[k] = d
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
	res := cell{Requests: int64(len(lat)), Non2xx: non2xx.Load(), Seconds: elapsed}
	if record && len(lat) > 0 {
		slices.Sort(lat)
		res.P50, res.P99 = quantile(lat, 0.50), quantile(lat, 0.99)
	}
	return res, nil
}
