"""Settings for the worker subprocesses the fault tests start: production settings
with the delivery timings shortened the way the in-process tests shorten them
(``override_settings`` cannot reach another process)."""

from gluey.settings import *  # every production setting, then the overrides below

WEBHOOK_CONNECT_TIMEOUT = 2.0
WEBHOOK_TOTAL_TIMEOUT = 2.0
# A killed sender's lease on its endpoint runs out after this; the next worker waits for it.
WEBHOOK_LEASE_SECONDS = 3.0
WEBHOOK_COUNTDOWN_MAX = 5.0
WEBHOOK_RETRY_SCHEDULE = (0.5, 1.0)
WEBHOOK_RETRY_EVERY = 1.0


# SIGUSR2 dumps every thread's stack to the worker's output (SIGUSR1 is billiard's soft time limit).
import faulthandler
import signal

faulthandler.register(signal.SIGUSR2, all_threads=True)
