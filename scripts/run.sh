#!/usr/bin/env bash
# Run the whole service locally: web, worker, beat, carrier simulator and a demo
# customer receiver, on SQLite and the filesystem broker unless told otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt
export DJANGO_SETTINGS_MODULE=gluey.settings
# The demo receiver and the simulator listen on 127.0.0.1; production leaves this empty.
export WEBHOOK_ALLOWED_NETWORKS="${WEBHOOK_ALLOWED_NETWORKS:-127.0.0.0/8}"
py=.venv/bin/python
$py manage.py migrate --noinput >/dev/null
$py manage.py createcachetable >/dev/null
$py manage.py collectstatic --noinput >/dev/null
$py manage.py seed_demo
exec .venv/bin/honcho start -f Procfile
