#!/usr/bin/env bash
# Copies examples/quickstart/main.go into every document that shows it (between the quickstart markers).
# examples/quickstart's TestDocsShowThisProgram fails when they drift.
set -euo pipefail
cd "$(dirname "$0")/.."
for doc in README.md docs/quickstart.md; do
  python3 - "$doc" <<'PY'
import sys
doc = sys.argv[1]
s = open(doc).read()
begin, end = "<!-- quickstart:begin -->\n```go\n", "```\n<!-- quickstart:end -->"
if begin not in s:
    sys.exit(0)
head, rest = s.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w").write(head + begin + open("examples/quickstart/main.go").read() + end + tail)
PY
done
