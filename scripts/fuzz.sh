#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (go test -fuzz
# takes one target at a time).
set -euo pipefail
FUZZTIME=${FUZZTIME:-5s}
go=${GO:-go}
for pkg in $($go list ./...); do
  dir=$($go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($FUZZTIME)"
    $go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/kop-fuzz.log 2>&1 || { cat /tmp/kop-fuzz.log; exit 1; }
  done
done
