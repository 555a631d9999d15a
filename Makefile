# The two commands: `make demo` (the demo on http://127.0.0.1:8080) and `make test` (everything CI runs; the
# browser test needs Chromium, which .ci/run installs).
# Benchmarks: `make bench` writes bench/RESULTS.md (at most 10 minutes); `make bench-growth` measures the growth
# at a million documents (bench/GROWTH.md, included by the next `make bench`).
#
# Where a cold `make test` spends its time: compiling (FerretDB and its pure-Go SQLite, the driver, the standard
# library once plain and once for -race, and once more instrumented for fuzzing). So:
# - The embedded database is built once per change of its sources: internal/testdb keeps the binary in the
#   user's cache directory (keyed by a hash of devdb's sources and the Go version) and test binaries take turns
#   building it, instead of each linking its own. MONGOSESSION_DEVDB_BIN=<path> uses a given binary.
# - -race where the concurrency under test is ours and the build is cheap: the library module. The devdb module
#   (FerretDB + SQLite under -race cost 2.5 minutes of a 11-minute cold run) runs its tests without it here;
#   `make race` runs every module with -race (before a release, or when the devdb front changes).
# - Fuzz and benchmark smoke runs stay short.
# Measured with an empty GOCACHE on the shared 2-core machine (load average 7 to 9 from other work): the old
# Makefile 675 s; this one 417 s run step by step (369 CPU-seconds: vet 148, test-root 74, test-devdb 27,
# test-demo 3, fuzz-smoke 110 with FUZZTIME=10s, bench-smoke 7). The fuzz build alone is 73 CPU-seconds: it
# rebuilds the whole graph (driver, net/http) instrumented; fuzz targets in a package that imports only the
# sealing code and bson would cost 31.
GO ?= go

.PHONY: test race demo devdb vet fmt-check test-root test-devdb test-demo fuzz-smoke bench bench-smoke \
	bench-growth bench-report browser-test adapters reliability reliability-smoke

# vet first: it compiles every module's dependencies once (the plain build the devdb binary, the devdb, demo and
# bench tests reuse). Then the module tests side by side: the library's -race build keeps the CPU busy while the
# others mostly wait on the (serialized) embedded database. Fuzzing last, alone: it rebuilds everything
# instrumented and then uses every core for FUZZTIME.
test: fmt-check vet
	$(MAKE) -j4 --output-sync=target test-root test-devdb test-demo bench-smoke
	$(MAKE) adapters
	$(MAKE) browser-test
	$(MAKE) reliability-smoke
	$(MAKE) fuzz-smoke

vet:
	$(GO) vet ./...
	cd devdb && $(GO) vet ./...
	cd demo && $(GO) vet ./...
	cd bench && $(GO) vet ./...
	cd reliability && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test-root:
	$(GO) test -race -count=1 ./...

test-devdb:
	cd devdb && $(GO) test -count=1 ./...

# The demo's browser test is `make browser-test` (it needs Chromium); here the demo's other tests.
test-demo:
	cd demo && $(GO) build -o /dev/null . && $(GO) test -count=1 -skip '^TestBrowser$$' .

# Every module under -race, the devdb one included (its cold build is the slow part).
race:
	$(GO) test -race -count=1 ./...
	cd devdb && $(GO) test -race -count=1 ./...

demo:
	@echo "building the demo and the embedded database (first run: about a minute)..."
	cd demo && $(GO) run . $(ARGS)

# The development database alone, on 127.0.0.1:27017.
devdb:
	@echo "building the embedded database (first run: about a minute)..."
	cd devdb && $(GO) run ./cmd/devdb $(ARGS)

# A short fuzz run of the sealed-cookie decoder (cookie mode), from the seed corpus in testdata/fuzz/ (the
# seeds also run as plain tests in test-root). The first run compiles everything again with coverage
# instrumentation; the second reuses it. A longer run: make fuzz-smoke FUZZTIME=3m
FUZZTIME ?= 5s
fuzz-smoke:
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s .
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePayload$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s .

# Benchmarks (module bench/, so that scs and FerretDB stay out of the library's module graph). Not timed tests:
# CI only builds them and runs them tiny (bench-smoke, part of test).
BENCH_LOAD_FLAGS ?= -rounds 3 -duration 1500ms -growth 1000,100000

bench:
	cd bench && micro=$$(mktemp) && \
	$(GO) test -run '^$$' -bench . -benchmem -count 5 -benchtime 300ms . | tee $$micro && \
	$(GO) run ./cmd/load $(BENCH_LOAD_FLAGS) -micro $$micro -raw results.json \
		-growth-report GROWTH.md -notes ANALYSIS.md -out RESULTS.md; \
	status=$$?; rm -f $$micro; exit $$status

# Rewrites RESULTS.md from the last run's results.json (after editing ANALYSIS.md), without measuring.
bench-report:
	cd bench && $(GO) run ./cmd/load -replay results.json -growth-report GROWTH.md -notes ANALYSIS.md -out RESULTS.md

bench-growth:
	cd bench && $(GO) run ./cmd/load -routes '' -growth 1000,1000000 -growth-load-budget 3m -out GROWTH.md

bench-smoke:
	cd bench && $(GO) build ./... && $(GO) test -count=1 -run . -bench . -benchtime 1x . && \
	$(GO) run ./cmd/load -smoke -out /dev/null

# The demo driven by headless Chromium (/usr/bin/chromium, or CHROMIUM=<path>; the test fails without it):
# first visit, login, rotation, a second device revoked, a replayed cookie detected, logout. Screenshots in
# demo/testdata/screenshots/.
browser-test:
	cd demo && $(GO) test -count=1 -run '^TestBrowser$$' .

# Router adapters and examples: each a module of its own (adapters/*, examples/*), so that no router enters the
# library's module graph; `go test ./...` at the root does not descend into them, hence this loop. Their tests
# start the development database themselves (or use $$MONGOSESSION_TEST_URI).
ADAPTER_MODULES := $(patsubst %/go.mod,%,$(sort $(wildcard adapters/*/go.mod)))
EXAMPLE_MODULES := $(patsubst %/go.mod,%,$(sort $(wildcard examples/*/go.mod)))

adapters:
	@set -e; for m in $(ADAPTER_MODULES) $(EXAMPLE_MODULES); do \
		echo "== $$m"; \
		(cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 ./...); \
	done

# Reliability suite (module reliability/, so that FerretDB and the suite stay out of the library's module
# graph): the embedded database, a fault proxy, 3 app processes and 64 browsers through named scenarios.
# `make reliability` writes RELIABILITY.md (about 6 minutes) and fails if a figure that must be 0 is not;
# `make reliability-smoke` (part of test) is the short version: 16 browsers, about 80 s, the table only.
reliability:
	cd reliability && $(GO) run ./cmd/reliability -out ../RELIABILITY.md $(ARGS)

reliability-smoke:
	cd reliability && $(GO) test -race -count=1 ./... && $(GO) run ./cmd/reliability -smoke $(ARGS)
