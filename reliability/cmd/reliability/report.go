package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// column is one figure of the table.
type column struct {
	name     string
	mustBe0  bool
	value    func(*result) string
	evidence string // the incident kind that explains a non-zero value
}

func count[T int | int64](v T) string { return fmt.Sprint(v) }

var columns = []column{
	{name: "requests", value: func(r *result) string { return count(r.m.Requests) }},
	{name: "2xx/101", value: func(r *result) string { return count(r.ok()) }},
	{name: "503", value: func(r *result) string { return count(r.m.Status[http.StatusServiceUnavailable]) }},
	{name: "other failed", value: func(r *result) string { return count(r.otherFailed()) }},
	{name: "lost increments", mustBe0: true, value: func(r *result) string { return count(r.m.LostIncrements) }, evidence: kindLostIncrement},
	{name: "phantom increments", mustBe0: true, value: func(r *result) string { return count(r.m.PhantomIncrements) }, evidence: kindPhantomIncrement},
	{name: "spurious logouts", mustBe0: true, value: func(r *result) string { return count(r.m.SpuriousLogouts) }, evidence: kindSpuriousLogout},
	{name: "5xx other than 503", mustBe0: true, value: func(r *result) string { return count(r.m.Other5xx) }, evidence: kindOther5xx},
	{name: "Set-Cookie on failed", mustBe0: true, value: func(r *result) string { return count(r.m.SetCookieOnFailure) }, evidence: kindSetCookieFailed},
	{name: "token_reuse events", mustBe0: true, value: func(r *result) string { return count(r.m.TokenReuse) }},
	{name: "stuck clients", mustBe0: true, value: func(r *result) string { return count(r.m.StuckClients) }, evidence: kindStuck},
	{name: "recovery (first / all apps)", value: func(r *result) string { return r.recovery() }},
	{name: "goroutines before → after", value: func(r *result) string {
		return fmt.Sprintf("%s → %s", ints(r.m.GoroutinesBefore), ints(r.m.GoroutinesAfter))
	}},
}

func (r *result) ok() int {
	n := 0
	for status, k := range r.m.Status {
		if status >= 200 && status < 300 || status == http.StatusSwitchingProtocols {
			n += k
		}
	}
	return n
}

// otherFailed counts failures other than 503, transport errors included.
func (r *result) otherFailed() int {
	return r.m.Requests - r.ok() - r.m.Status[http.StatusServiceUnavailable]
}

func (r *result) recovery() string {
	if !r.scenario.fault {
		return "–"
	}
	if !r.m.Recovered {
		return "none in the window"
	}
	all := "not all"
	if r.m.AllAppsRecovery >= 0 {
		all = round(r.m.AllAppsRecovery)
	}
	return round(r.m.Recovery) + " / " + all
}

func round(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func (r *result) summary() string {
	if r.m.NA != "" {
		return r.m.NA
	}
	var parts []string
	for _, c := range columns {
		parts = append(parts, c.name+" "+c.value(r))
	}
	return strings.Join(parts, ", ")
}

// renderTable is the table printed on the terminal.
func renderTable(results []*result) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	head := []string{"scenario"}
	for _, c := range columns {
		name := c.name
		if c.mustBe0 {
			name += "*"
		}
		head = append(head, name)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range results {
		row := []string{r.scenario.name}
		if r.m.NA != "" {
			row = append(row, "n/a")
		} else {
			for _, c := range columns {
				row = append(row, c.value(r))
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	b.WriteString("* must be 0\n")
	return b.String()
}

// renderReport is RELIABILITY.md.
func renderReport(cfg config, results []*result, args string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Reliability\n\n")
	p("Written by `make reliability` (`go run ./cmd/reliability %s` in `reliability/`) on %s, library at %s.\n",
		args, time.Now().UTC().Format("2006-01-02 15:04 MST"), libraryVersion())
	p("It answers one question: under parallel requests, slow requests, WebSockets and database faults, does the\n")
	p("session library ever log the real user out, lose an acknowledged change, or half-apply a commit?\n\n")
	p("Set-up: the embedded development database (devdb, %s), a fault proxy between it and %d app processes\n", cfg.backend, cfg.apps)
	p("(`reliability/cmd/app`, the library with TokenTTL %v, TokensKept %d, Timeout %v, InsecureCookie, and the\n", cfg.tokenTTL, cfg.tokensKept, cfg.timeout)
	p("recommended driver options: connect and server-selection timeouts 2 s), and %d browsers, each with its own\n", cfg.clients)
	p("cookie jar: a request carries the cookie held when it starts, requests of one browser run in parallel (1 to 4\n")
	p("at a time), every Set-Cookie overwrites the jar when its response arrives, and each request goes to any app.\n")
	p("Think time %v–%v between batches. Each scenario runs on fresh apps and a fresh collection.\n", cfg.thinkMin, cfg.thinkMax)
	p("How the suite works: reliability/README.md; the figures before the library's fixes: reliability/BASELINE.md.\n\n")

	p("## Results\n\n")
	p("| scenario |")
	for _, c := range columns {
		if c.mustBe0 {
			p(" %s (must be 0) |", c.name)
		} else {
			p(" %s |", c.name)
		}
	}
	p("\n|---|")
	for range columns {
		p("---|")
	}
	p("\n")
	for _, r := range results {
		p("| %s |", r.scenario.name)
		if r.m.NA != "" {
			p(" %s |", r.m.NA)
			for range columns[1:] {
				p(" |")
			}
			p("\n")
			continue
		}
		for _, c := range columns {
			v := c.value(r)
			if c.mustBe0 && v != "0" {
				v = "**" + v + "**"
			}
			p(" %s |", v)
		}
		p("\n")
	}
	failed := false
	for _, r := range results {
		failed = failed || r.m.failed()
	}
	if failed {
		p("\n**Verdict: FAIL** — a figure that must be 0 is not. The evidence for each is below.\n\n")
	} else {
		p("\n**Verdict: PASS** — every figure that must be 0 is 0.\n\n")
	}

	p("### What the figures count\n\n")
	p("- **lost increments**: a response showed the counter `n` below the number of increments the client had\n")
	p("  been answered 200 for (in the same session, counted from batches that had finished before the request\n")
	p("  started). Each loss is counted once. After a login or logout whose answer failed, the client re-reads\n")
	p("  (its state is unknown) instead of guessing: such re-reads are listed, and they are not failures.\n")
	p("- **phantom increments**: the counter above the number of increments ever sent in that session (an\n")
	p("  increment applied twice). Increments answered 503 but applied anyway are not phantom: they were sent.\n")
	p("- **spurious logouts**: a client that logged in (200) and did not log out got a 200 with no user, from a\n")
	p("  request that started after the login's answer arrived. Counted once per occurrence; the client then\n")
	p("  re-reads to learn where it stands.\n")
	p("- **5xx other than 503**; **Set-Cookie on failed**: any response of 300 or more (101 aside) that carries a\n")
	p("  Set-Cookie. The app never answers non-2xx itself except 500 for an error it did not expect, so these are\n")
	p("  the library's responses.\n")
	p("- **token_reuse events**: security events the apps logged. No thief exists in these runs: every one is false.\n")
	p("- **stuck clients**: after the fault, once every app serves the database again, a client cannot read its session\n")
	p("  or then increment its counter: 5 tries a second apart all fail.\n")
	p("- **recovery**: from the end of the fault to the first success of a request that used the database, and to the\n")
	p("  first such success on every app.\n")
	p("- **goroutines**: per app, after the warm-up and after the final check (browsers' idle connections closed).\n")
	p("- In the evidence, t+N s counts from the start of the scenario (negative: during the warm-up, when each browser\n")
	p("  makes one lone request to get a session); \"database now\" is the session document read directly when the\n")
	p("  failure was seen, bypassing the proxy.\n\n")

	p("## Scenarios\n\n")
	for _, r := range results {
		p("### %s\n\n%s\n\n", r.scenario.name, r.scenario.what)
		if r.m.NA != "" {
			p("%s.\n\n", r.m.NA)
			continue
		}
		p("- Ran %v; statuses: %s.\n", r.duration.Round(time.Second), statuses(r.m.Status))
		if len(r.events) > 0 {
			var ev []string
			for _, k := range sortedKeys(r.events) {
				ev = append(ev, fmt.Sprintf("%s %d", k, r.events[k]))
			}
			p("- Security events logged by the apps: %s.\n", strings.Join(ev, ", "))
		}
		st := r.m.Proxy
		p("- Proxy: %d connections accepted, %d refused, %d dropped, %d replies delayed, %d messages held.\n",
			st.Accepted, st.Refused, st.Dropped, st.Delayed, st.Held)
		p("- Re-reads after an unknown outcome: %d. ERROR lines in the apps' logs: %d.\n", r.m.Resyncs, r.m.AppErrors)
		if len(r.errors) > 0 {
			p("- The apps' ERROR lines, by message (why the 503s), the most frequent first:\n")
			keys := sortedKeys(r.errors)
			sort.SliceStable(keys, func(i, j int) bool { return r.errors[keys[i]] > r.errors[keys[j]] })
			for i, k := range keys {
				if i == maxErrorKinds {
					p("  - and %d other messages\n", len(keys)-i)
					break
				}
				p("  - %d × `%s`\n", r.errors[k], k)
			}
		}
		for _, kind := range sortedKeys(r.examples) {
			p("- %s: %d; for example:\n", kind, r.counts[kind])
			for _, ex := range r.examples[kind] {
				p("  - %s\n", ex)
			}
		}
		p("\n")
	}
	return b.String()
}

// maxErrorKinds bounds the error messages listed per scenario.
const maxErrorKinds = 6

func statuses(m map[int]int) string {
	var parts []string
	for _, s := range []int{101, 200, 409, 500, 503} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d × %d", m[s], s))
		}
	}
	for s, n := range m {
		switch s {
		case 101, 200, 409, 500, 503:
		case 0:
			parts = append(parts, fmt.Sprintf("%d without a response", n))
		default:
			parts = append(parts, fmt.Sprintf("%d × %d", n, s))
		}
	}
	return strings.Join(parts, ", ")
}

// libraryVersion describes the library's commit, as git sees it.
func libraryVersion() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "an unknown commit"
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	// The last commit that changed anything but the suite and its report.
	outside := []string{"--", ".", ":(exclude)reliability", ":(exclude)RELIABILITY.md", ":(exclude)docs"}
	out, err := exec.Command("git", append([]string{"-C", root, "log", "-1", "--format=%h"}, outside...)...).Output()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		return "an unknown commit"
	}
	v := "commit " + strings.TrimSpace(string(out))
	st, err := exec.Command("git", append([]string{"-C", root, "status", "--porcelain", "--untracked-files=no"}, outside...)...).Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		v += " with uncommitted changes"
	}
	return v
}
