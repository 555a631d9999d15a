# Router adapters and examples (merge into the root Makefile; add `$(MAKE) adapters` to `test`).
# Each is a module of its own (adapters/*, examples/*), so that no router enters the library's module graph;
# `go test ./...` at the root does not descend into them, hence this loop. Every module's tests start the
# development database themselves (or use $MONGOSESSION_TEST_URI).
GO ?= go
ADAPTER_MODULES := $(patsubst %/go.mod,%,$(sort $(wildcard adapters/*/go.mod)))
EXAMPLE_MODULES := $(patsubst %/go.mod,%,$(sort $(wildcard examples/*/go.mod)))

.PHONY: adapters
adapters:
	@set -e; for m in $(ADAPTER_MODULES) $(EXAMPLE_MODULES); do \
		echo "== $$m"; \
		(cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 ./...); \
	done
	cd examples/quickstart && $(GO) build -o /dev/null .
