# Reliability suite (module reliability/, so that FerretDB and the suite stay out of the library's module
# graph): the embedded database, a fault proxy, 3 app processes and 64 browsers through named scenarios.
# `make reliability` writes RELIABILITY.md (a few minutes) and fails if a figure that must be 0 is not;
# `make reliability-smoke` is the short version for CI (about a minute, prints the table only).
# Add reliability and reliability-smoke to .PHONY, `cd reliability && $(GO) vet ./...` to vet, and
# `$(MAKE) reliability-smoke` to test once the library passes it.

reliability:
	cd reliability && $(GO) run ./cmd/reliability -out ../RELIABILITY.md $(ARGS)

reliability-smoke:
	cd reliability && $(GO) test -race -count=1 ./... && $(GO) run ./cmd/reliability -smoke $(ARGS)
