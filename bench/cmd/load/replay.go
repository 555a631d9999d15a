package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

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
