#!/usr/bin/env bash
# Install what the tests need and run them: PostgreSQL when DATABASE_URL points
# there, SQLite otherwise. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
