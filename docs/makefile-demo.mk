# Targets for the root Makefile (also in docs/Makefile.proposed). Add browser-test to .PHONY.

# The demo driven by headless Chromium (/usr/bin/chromium, or CHROMIUM=<path>; the test fails without it):
# first visit, login, rotation, a second device revoked, a replayed cookie detected, logout. Screenshots in
# demo/testdata/screenshots/.
browser-test:
	cd demo && $(GO) test -count=1 -run '^TestBrowser$$' .

demo:
	@echo "building the demo and the embedded database (first run: about a minute)..."
	cd demo && $(GO) run . $(ARGS)
