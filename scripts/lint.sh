#!/usr/bin/env bash
# Install the lint tools and run every check: ruff (lint and format), mypy, and
# the import contracts. Runs them all, then exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt || exit 1
mkdir -p var
failed=()
run() {
  echo "--- $*"
  "$@" || failed+=("$1")
}
run .venv/bin/ruff check .
run .venv/bin/ruff format --check .
run .venv/bin/mypy
run .venv/bin/lint-imports --no-logo --cache-dir var/import_linter_cache
if [ ${#failed[@]} -gt 0 ]; then
  echo "lint failed: ${failed[*]}" >&2
  exit 1
fi
echo "lint: all checks passed"
