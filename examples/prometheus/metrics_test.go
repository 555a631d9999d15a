package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSessionMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := sessionMetrics(reg)
	m.Event(mongosession.MetricRotate)
	m.Event(mongosession.MetricRotate)
	m.Error(mongosession.ErrorOutage)
	m.CommitDuration(3 * time.Millisecond)
	want := `
# HELP mongosession_errors_total Failed session loads and commits, and requests with an invalid session cookie, by kind.
# TYPE mongosession_errors_total counter
mongosession_errors_total{kind="invalid"} 0
mongosession_errors_total{kind="late"} 0
mongosession_errors_total{kind="outage"} 1
mongosession_errors_total{kind="superseded"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mongosession_errors_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "mongosession_events_total"); n != 9 {
		t.Fatalf("%d event series, want 9 (all created up front)", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "mongosession_events_total":
			for _, mt := range mf.GetMetric() {
				if mt.GetLabel()[0].GetValue() == "rotate" && mt.GetCounter().GetValue() != 2 {
					t.Errorf("rotate = %v, want 2", mt.GetCounter().GetValue())
				}
			}
		case "mongosession_commit_duration_seconds":
			if h := mf.GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 0.003 {
				t.Errorf("commit histogram: %d samples, sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
}
