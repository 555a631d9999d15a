package main

import (
	"github.com/mongosession/mongosession/bench"
)

// target is one of mongosession's performance targets: a ratio to another contender or a command budget.
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
	// The price of the session document's fields: a read against the same find by _id of a document holding
	// only {_id, data, expires}.
	targets = append(targets, target{bench.RouteRead, "≥ 0.85× raw-min", "raw-min", 0.85, 0})
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// writeTargets writes the table of the targets with the verdict per backend.
func (r *report) writeTargets(p func(string, ...any)) {
	cfg := r.cfg
	p("## Targets: the headline\n\n")
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
