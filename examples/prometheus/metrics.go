package main

import (
	"time"

	"github.com/mongosession/mongosession"
	"github.com/prometheus/client_golang/prometheus"
)

// sessionMetrics registers the session metrics with reg and returns the mongosession.Metrics that feeds them:
//
//	mongosession_events_total{event="load|commit|create|rotate|renew|destroy|move|reuse|revoke"}
//	mongosession_errors_total{kind="outage|superseded|invalid|late"}
//	mongosession_load_duration_seconds, mongosession_commit_duration_seconds (histograms)
func sessionMetrics(reg prometheus.Registerer) mongosession.Metrics {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mongosession_events_total",
		Help: "Events of the sessions' life: database reads, commits, creations, token rotations, renewals, ...",
	}, []string{"event"})
	errors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mongosession_errors_total",
		Help: "Failed session loads and commits, and requests with an invalid session cookie, by kind.",
	}, []string{"kind"})
	// Database round trips: from well under a millisecond to the 2 s Options.Timeout.
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 13)
	loads := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mongosession_load_duration_seconds", Help: "Database reads of a session.", Buckets: buckets,
	})
	commits := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "mongosession_commit_duration_seconds", Help: "Commits that had work to do.", Buckets: buckets,
	})
	reg.MustRegister(events, errors, loads, commits)
	// Every label value is known: create the series now, so that they read 0 rather than missing.
	for _, e := range []mongosession.MetricEvent{mongosession.MetricLoad, mongosession.MetricCommit,
		mongosession.MetricCreate, mongosession.MetricRotate, mongosession.MetricRenew, mongosession.MetricDestroy,
		mongosession.MetricMove, mongosession.MetricReuse, mongosession.MetricRevoke} {
		events.WithLabelValues(string(e))
	}
	for _, k := range []mongosession.ErrorKind{mongosession.ErrorOutage, mongosession.ErrorSuperseded,
		mongosession.ErrorInvalid, mongosession.ErrorLate} {
		errors.WithLabelValues(string(k))
	}
	return mongosession.Metrics{
		Event:          func(e mongosession.MetricEvent) { events.WithLabelValues(string(e)).Inc() },
		Error:          func(k mongosession.ErrorKind) { errors.WithLabelValues(string(k)).Inc() },
		LoadDuration:   func(d time.Duration) { loads.Observe(d.Seconds()) },
		CommitDuration: func(d time.Duration) { commits.Observe(d.Seconds()) },
	}
}
