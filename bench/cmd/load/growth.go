package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/bench"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// growthCell is one measurement of the growth phase.
// Its fields are the JSON that -raw writes and -replay reads: renaming one orphans saved results.
type growthCell struct {
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

// growth bulk-loads collections of each size and measures mongosession's read and write paths on them with
// one client (per-request latency: the front serializes commands, so one client shows the server's cost).
func growth(ctx context.Context, cfg config, c *contender, backend string, rep *report) error {
	for _, n := range cfg.growth {
		coll := c.db.Collection(fmt.Sprintf("growth_%d", n))
		_ = coll.Drop(ctx)
		// The background purge is measured on its own below, not left to land in the middle of a cell.
		st, err := mongosession.NewMongoStore(ctx, coll, mongosession.StoreOptions{PurgeInterval: 24 * time.Hour})
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
				g := growthCell{Backend: backend, Target: n, Loaded: loaded, LoadTime: loadTime, Who: who, Route: route,
					Requests: int64(len(lat)), Non2xx: non2xx, Mean: sum / time.Duration(len(lat)),
					P50: quantile(lat, 0.5), P99: quantile(lat, 0.99),
					CmdsPerReq: float64(c.cmds.Load()-before) / float64(len(lat)), BudgetExhausted: loaded < n}
				logf("%s growth %d docs %-12s %-5s mean %v p50 %v p99 %v (%d requests, %.2f cmds/req)", backend, g.Loaded,
					who, route, g.Mean, g.P50, g.P99, g.Requests, g.CmdsPerReq)
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
		g := growthCell{Backend: backend, Target: n, Loaded: loaded, LoadTime: loadTime, Who: "mongosession", Route: "purge pass",
			Requests: 1, Mean: time.Since(t0), CmdsPerReq: float64(c.cmds.Load() - before), BudgetExhausted: loaded < n}
		g.P50, g.P99 = g.Mean, g.Mean
		logf("%s growth %d docs purge pass %v", backend, g.Loaded, g.Mean)
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
