package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPickWaitsForTheRetirementToAge: the copy replayed is at least kept rotations old and was retired
// (the browser got the cookie kept rotations newer) at least replayAfter ago; until then pick says why not.
func TestPickWaitsForTheRetirementToAge(t *testing.T) {
	const kept = 3
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newCookieCopies()
	for i := range kept {
		c.remember("s", fmt.Sprint("v", i), start.Add(time.Duration(i)*time.Second))
	}
	c.remember("s", "v1", start.Add(time.Hour)) // seen again: keeps its first time
	if rc, ok := c.pick("s", kept, start.Add(time.Hour)); ok || rc.rotations != kept-1 {
		t.Fatalf("with %d copies: pick = %+v, %v; want not ok, %d rotations", kept, rc, ok, kept-1)
	}
	if note := c.note("s", kept, time.Second, start.Add(time.Hour)); !strings.Contains(note, "1 more time(s)") {
		t.Errorf("note = %q, want it to ask for 1 more reload", note)
	}

	retired := start.Add(10 * time.Second) // v3 retires v0
	c.remember("s", "v3", retired)
	rc, ok := c.pick("s", kept, retired.Add(2*time.Second))
	if !ok || rc.value != "v0" || rc.ready() || rc.rotations != kept {
		t.Fatalf("2 s after the retirement: pick = %+v, %v; want v0, not ready", rc, ok)
	}
	if note := c.note("s", kept, time.Second, retired.Add(2*time.Second)); !strings.Contains(note, "not reported") {
		t.Errorf("note = %q, want it to say a replay now is not reported", note)
	}

	c.remember("s", "v4", retired.Add(4*time.Second)) // retires v1, more recently than v0
	rc, ok = c.pick("s", kept, retired.Add(replayAfter))
	if !ok || rc.value != "v0" || !rc.ready() || rc.retiredAgo != replayAfter {
		t.Fatalf("replayAfter after v0's retirement: pick = %+v, %v; want v0, ready", rc, ok)
	}
	rc, _ = c.pick("s", kept, retired.Add(4*time.Second+replayAfter))
	if rc.value != "v1" || !rc.ready() {
		t.Fatalf("once v1's retirement aged too: pick = %+v; want the newer v1", rc)
	}
	if note := c.note("s", kept, time.Second, retired.Add(time.Minute)); note != "" {
		t.Errorf("note = %q once a copy is ready, want none", note)
	}
}
