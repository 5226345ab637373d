"""gunicorn reads this file from the working directory: the Procfile's web and the benchmarks' use it.

Only what every deployment wants belongs here; binding, processes and threads stay on the
command line (Procfile), where a deployment sizes them.
"""

from __future__ import annotations

import gc
import os
from typing import Any

# Each worker tells the arbiter it is alive by changing its heartbeat file's times, once per
# turn of its event loop (every few requests under load). In a disk-backed temporary directory
# each change dirties an inode for the filesystem to write back; in memory it costs nothing.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def post_worker_init(worker: Any) -> None:
    """Move everything loaded so far (Django, the apps, the URL map) out of the garbage collector's sight.

    Those objects live as long as the process; a full collection scanned all of them (~130,000)
    while holding the GIL: measured 30-70 ms, during which every request of that process waited,
    once every few thousand requests — a large part of a p99 budget of 50 ms. After the freeze a
    full collection scans only what requests left behind.
    """
    gc.freeze()
