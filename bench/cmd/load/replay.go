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
	FieldDuration  time.Duration
	Command        string
	Started        time.Time
	Elapsed        time.Duration
	Micro          string
	Cells          []cell // exported fields: the JSON form is the measurement itself
	Growth         []growthCell
	Fields         []fieldCell
}

func (r *report) saveRaw(path string) error {
	out := rawReport{Backends: r.cfg.backends, Clients: r.cfg.clients, Duration: r.cfg.duration, Warmup: r.cfg.warmup,
		Rounds: r.cfg.rounds, GrowthDuration: r.cfg.growthDuration, GrowthBudget: r.cfg.growthBudget,
		FieldDuration: r.cfg.fieldDuration, Fields: r.fields,
		Command: r.cfg.command, Started: r.started, Elapsed: r.elapsed, Micro: r.microText, Cells: r.cells,
		Growth: r.growth}
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
	cfg.fieldDuration = in.FieldDuration
	rep := &report{cfg: cfg, started: in.Started, elapsed: in.Elapsed, microText: in.Micro, cells: in.Cells,
		growth: in.Growth, fields: in.Fields}
	return writeReport(rep, cfg.out)
}
