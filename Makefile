# The two commands: `make demo` (the demo on http://127.0.0.1:8080) and `make test` (everything CI runs).
# Benchmarks: `make bench` writes bench/RESULTS.md (at most 10 minutes); `make bench-growth` measures the growth
# at a million documents (bench/GROWTH.md, included by the next `make bench`).
GO ?= go

.PHONY: test demo devdb vet fmt-check fuzz-smoke bench bench-smoke bench-growth bench-report adapters

test: fmt-check vet
	$(GO) test -race -count=1 ./...
	cd devdb && $(GO) test -race -count=1 ./...
	cd demo && $(GO) build -o /dev/null .
	$(MAKE) adapters
	$(MAKE) fuzz-smoke
	$(MAKE) bench-smoke

vet:
	$(GO) vet ./...
	cd devdb && $(GO) vet ./...
	cd demo && $(GO) vet ./...
	cd bench && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

demo:
	cd demo && $(GO) run . $(ARGS)

# The development database alone, on 127.0.0.1:27017.
devdb:
	cd devdb && $(GO) run ./cmd/devdb $(ARGS)

# A short fuzz run of the sealed-cookie decoder (cookie mode), from the seed corpus in testdata/fuzz/.
# A longer run: make fuzz-smoke FUZZTIME=3m
FUZZTIME ?= 20s
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
