#!/usr/bin/env bash
# Fails when git tracks a build output: an executable or object file (by
# its magic bytes), any other binary file (but the PNG images of docs/), a file the ignore rules name
# (bin/kop, ./kopbench, target/ …), or a binary named after a command in
# cmd/. Git tracks sources only.
#
# scripts/check.sh --self-test first proves the check fails: it runs it on a
# scratch repository that tracks a compiled Go binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ "${1:-}" = "--self-test" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/scripts" "$tmp/cmd/tool"
  cp "$0" "$tmp/scripts/check.sh"
  printf 'package main\n\nfunc main() {}\n' > "$tmp/cmd/tool/main.go"
  printf 'module selftest\n\ngo 1.21\n' > "$tmp/go.mod"
  (cd "$tmp" && git init -q && go build -o tool ./cmd/tool && git add . &&
    git -c user.email=check@localhost -c user.name=check commit -qm tool)
  if out=$("$tmp/scripts/check.sh" 2>&1); then
    echo "check --self-test: a tracked Go binary passed the check" >&2
    exit 1
  fi
  case "$out" in
    *"tool is an ELF executable"*"tool is the output of go build ./cmd/tool"*) ;;
    *) echo "check --self-test: unexpected report: $out" >&2; exit 1 ;;
  esac
  echo "check --self-test: a tracked binary fails the check"
  exit 0
fi

cd "$here/.."

bad=0
report() { echo "check: $1" >&2; bad=1; }

while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
  case "$magic" in
    7f454c46) report "$f is an ELF executable or object (a build output)"; continue ;;
    cffaedfe|cefaedfe|feedfacf|feedface|cafebabe) report "$f is a Mach-O or Java class file (a build output)"; continue ;;
    4d5a*) report "$f is a Windows executable (a build output)"; continue ;;
    213c6172) report "$f is an ar archive (a build output)"; continue ;;
    504b0304) report "$f is a zip or jar archive (a build output or a fetched artifact)"; continue ;;
    89504e47)
      # PNG images belong to the documentation (make bench's chart in
      # docs/bench, which the README shows); anywhere else they are data.
      case "$f" in docs/*.png) continue ;; esac
      report "$f is a PNG image outside docs/"; continue ;;
  esac
  if [ -s "$f" ] && ! grep -qI . "$f"; then
    report "$f is a binary file"
  fi
done < <(git ls-files -z)

while IFS= read -r f; do
  report "$f is tracked but .gitignore names it"
done < <(git ls-files -ci --exclude-standard)

for d in cmd/*/; do
  name=$(basename "$d")
  for f in "$name" "bin/$name"; do
    if git ls-files --error-unmatch "$f" >/dev/null 2>&1; then
      report "$f is the output of go build ./cmd/$name"
    fi
  done
done

if [ "$bad" -ne 0 ]; then
  echo "check: git must track sources only; git rm --cached the files above" >&2
  exit 1
fi
echo "check: git tracks no build output ($(git ls-files | wc -l) files)"
