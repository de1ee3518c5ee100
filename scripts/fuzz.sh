#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (go test -fuzz
# takes one target at a time).
set -euo pipefail
FUZZTIME=${FUZZTIME:-5s}
go=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $($go list ./...); do
  dir=$($go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($FUZZTIME)"
    # One retry: go test -fuzz now and then ends with "context deadline
    # exceeded" at the time limit without any failing input. A real finding
    # is written to testdata/fuzz and fails the retry too, as a seed.
    if ! $go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >"$log" 2>&1; then
      if grep -q "Failing input written" "$log"; then cat "$log"; exit 1; fi
      echo "  retrying $target after: $(tail -n 3 "$log" | tr '\n' ' ')"
      $go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >"$log" 2>&1 || { cat "$log"; exit 1; }
    fi
  done
done
