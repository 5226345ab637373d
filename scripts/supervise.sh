#!/usr/bin/env bash
# Keep one command running for `make run`: when it exits (a crash, an OOM kill, a lost broker
# it gave up on), log it and start it again, as systemd's Restart=always does in production.
# honcho stops the whole stack when any process ends; wrapped in this, the worker and beat
# come back instead. SIGTERM/SIGINT stop the command and this loop.
#   usage: scripts/supervise.sh COMMAND [ARGS...]     (SUPERVISE_DELAY: seconds between restarts)
set -u
delay="${SUPERVISE_DELAY:-2}"
child=0
stopping=0
stop() {
  stopping=1
  if [ "$child" -ne 0 ]; then kill -TERM "$child" 2>/dev/null; fi
}
trap stop TERM INT
while :; do
  "$@" &
  child=$!
  wait "$child"
  status=$?
  # A trapped signal ends `wait` early: wait again until the command has really finished.
  while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    status=$?
  done
  child=0
  if [ "$stopping" -eq 1 ]; then exit "$status"; fi
  echo "supervise: '$1' exited with status $status; starting it again in ${delay}s" >&2
  sleep "$delay" &
  wait $!
  if [ "$stopping" -eq 1 ]; then exit 0; fi
done
