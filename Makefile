# The two commands: `make demo` (the demo on http://127.0.0.1:8080) and `make test` (everything CI runs).
GO ?= go

.PHONY: test demo devdb vet fmt-check fuzz-smoke

test: fmt-check vet
	$(GO) test -race -count=1 ./...
	cd devdb && $(GO) test -race -count=1 ./...
	cd demo && $(GO) build -o /dev/null .
	$(MAKE) fuzz-smoke

vet:
	$(GO) vet ./...
	cd devdb && $(GO) vet ./...
	cd demo && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

demo:
	cd demo && $(GO) run . $(ARGS)

# The development database alone, on 127.0.0.1:27017.
devdb:
	cd devdb && $(GO) run ./cmd/devdb

# A short fuzz run of the sealed-cookie decoder (cookie mode), from the seed corpus in testdata/fuzz/.
# A longer run: make fuzz-smoke FUZZTIME=3m
FUZZTIME ?= 20s
fuzz-smoke:
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s .
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePayload$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s .
