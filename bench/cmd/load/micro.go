package main

import (
	"fmt"
	"strconv"
	"strings"
)

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
