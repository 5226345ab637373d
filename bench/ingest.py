"""End-to-end ingest benchmark of the Event Service.

Starts its own gunicorn and Celery worker (ingest queue) against PostgreSQL and
Redis, then:

1. throughput: posts signed generic_json webhooks (50 events each) as fast as
   the load generator can, and waits until every event is recorded — events/s
   end to end (first POST to last event committed);
2. acknowledgment latency: posts at a steady 100 requests/s (open loop) and
   reports p50/p99 of the time to the 202;
3. dispatch: 1,000,000 tracked items of a polling carrier, 10,000 of them due;
   times one dispatcher run taking (and queueing) those 10,000.

Prints its figures and ends with one line of JSON. Stops its subprocesses and
removes what it created (rows of its carriers, the broker database) at the end.

    python bench/ingest.py [--requests N] [--rate-seconds S] [--workers N] [--concurrency N]

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/gluey_bench,
created if missing), CELERY_BROKER_URL (default redis://127.0.0.1:6379/15).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gluey_bench")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gluey.settings")

PUSH_CARRIER = "bench-push"
POLL_CARRIER = "bench-poll"
EVENTS_PER_REQUEST = 50


def ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        raise SystemExit("bench/ingest.py needs PostgreSQL: set DATABASE_URL=postgres://…")
    from urllib.parse import urlparse

    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    conn = psycopg2.connect(
        host=parsed.hostname,
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(var_dir: Path) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": env.get("SECRET_KEY") or secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEY": env.get("FIELD_ENCRYPTION_KEY") or Fernet.generate_key().decode(),
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "GLUEY_VAR_DIR": str(var_dir),
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {timeout} s")


def body_for(n: int, run: str) -> bytes:
    base = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n)
    events = []
    for i in range(EVENTS_PER_REQUEST):
        events.append(
            {
                "tracking_id": f"B{run}{n:06d}{i % 25:02d}",
                "code": ("PCK", "HUB", "DEP", "OFD", "DLV")[i % 5],
                "description": "bench event",
                "occurred_at": (base + timedelta(seconds=i)).isoformat(),
                "location": {"city": "Leeds", "postal_code": "LS1 4AP", "iso_country": "GB"},
            }
        )
    return json.dumps({"events": events}).encode()


def signed(secret: str, body: bytes) -> dict[str, str]:
    from standardwebhooks.webhooks import Webhook

    msg_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def recorded_events(carrier_id: str) -> int:
    from tracking.models import TrackingEvent

    return TrackingEvent.objects.filter(carrier_id=carrier_id).count()


def throughput_phase(url: str, secret: str, requests_count: int, concurrency: int, run: str) -> dict[str, float]:
    import requests

    payloads = [(body, signed(secret, body)) for body in (body_for(n, run) for n in range(requests_count))]
    statuses: list[int] = []
    lock = threading.Lock()
    cursor = iter(range(requests_count))

    def worker() -> None:
        session = requests.Session()
        while True:
            with lock:
                n = next(cursor, None)
            if n is None:
                return
            body, headers = payloads[n]
            response = session.post(url, data=body, headers=headers, timeout=30)
            with lock:
                statuses.append(response.status_code)

    expected = requests_count * EVENTS_PER_REQUEST
    before = recorded_events(PUSH_CARRIER)
    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posted = time.perf_counter()
    deadline = time.monotonic() + 600
    while recorded_events(PUSH_CARRIER) - before < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    done = time.perf_counter()
    got = recorded_events(PUSH_CARRIER) - before
    bad = [s for s in statuses if s != 202]
    return {
        "requests": requests_count,
        "events": got,
        "expected_events": expected,
        "non_202": len(bad),
        "post_seconds": posted - started,
        "total_seconds": done - started,
        "events_per_second": got / (done - started),
    }


def latency_phase(url: str, secret: str, rate: int, seconds: float, run: str) -> dict[str, float]:
    import requests

    total = int(rate * seconds)
    payloads = [(body, signed(secret, body)) for body in (body_for(100_000 + n, run) for n in range(total))]
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    senders = 16
    start_at = time.perf_counter() + 0.5

    def sender(k: int) -> None:
        session = requests.Session()
        for n in range(k, total, senders):
            due = start_at + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body, headers = payloads[n]
            t0 = time.perf_counter()
            response = session.post(url, data=body, headers=headers, timeout=30)
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed * 1000)
                statuses.append(response.status_code)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "rate_per_second": rate,
        "requests": total,
        "non_202": sum(1 for s in statuses if s != 202),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
        "mean_ms": statistics.mean(latencies),
    }


def dispatch_phase(items: int, due: int) -> dict[str, float]:
    from django.db import connection

    from carriers.models import Carrier
    from carriers.services.polling import poll_dispatch
    from carriers.services.setup import carrier_create

    if not Carrier.objects.filter(pk=POLL_CARRIER).exists():
        carrier_create(
            carrier_id=POLL_CARRIER,
            adapter="fedex",
            config={
                "base_url": "http://127.0.0.1:9",
                "client_id": "x",
                "client_secret": "y",
                "quota_per_second": 100_000.0,
                "quota_burst": 100_000,
            },
        )
    every = max(1, items // due)
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO tracking_trackeditem
                (carrier_id, tracking_id, created_at, next_check_at, status_milestone, status_code,
                 status_sub_code, check_failures, invalid_reason)
            SELECT %s, 'BP' || g, now(),
                   CASE WHEN g %% %s = 0 THEN now() - interval '1 minute' * (g %% 7 + 1)
                        ELSE now() + interval '1 hour' + interval '1 second' * (g %% 3600) END,
                   '', '', '', 0, ''
            FROM generate_series(1, %s) AS g
            """,
            [POLL_CARRIER, every, items],
        )
        # What autovacuum would have done to a table of that age: hint bits, visibility map, statistics.
        cur.execute("VACUUM (ANALYZE) tracking_trackeditem")
    seeded = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = poll_dispatch(max_items=due)
    took = time.perf_counter() - t1
    return {
        "items": items,
        "due": due,
        "taken": result.items,
        "batches": result.batches,
        "seconds": took,
        "seed_seconds": seeded,
    }


def cleanup_rows() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        for carrier in (PUSH_CARRIER, POLL_CARRIER):
            cur.execute("UPDATE tracking_trackeditem SET current_event_id = NULL WHERE carrier_id = %s", [carrier])
            cur.execute("DELETE FROM tracking_trackingevent WHERE carrier_id = %s", [carrier])
            cur.execute("DELETE FROM tracking_unmappedcode WHERE carrier_id = %s", [carrier])
            cur.execute("DELETE FROM tracking_trackeditem WHERE carrier_id = %s", [carrier])
            cur.execute("DELETE FROM carriers_sftpfile WHERE carrier_id = %s", [carrier])
            cur.execute("UPDATE carriers_inboundmessage SET duplicate_of_id = NULL WHERE carrier_id = %s", [carrier])
            cur.execute("DELETE FROM carriers_inboundmessage WHERE carrier_id = %s", [carrier])
            # Raw SQL: a carrier left by an interrupted run holds secrets under another run's key.
            for table in ("tracking_codemapping", "carriers_ratebucket"):
                cur.execute(f"DELETE FROM {table} WHERE carrier_id = %s", [carrier])
            cur.execute("DELETE FROM carriers_carrier WHERE id = %s", [carrier])
        cur.execute("DELETE FROM django_celery_beat_periodictask WHERE name LIKE %s", ["carriers: sftp fetch bench-%"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="webhooks in the throughput phase (50 events each)")
    parser.add_argument("--concurrency", type=int, default=12, help="load generator threads in the throughput phase")
    parser.add_argument("--rate-seconds", type=float, default=10, help="length of the 100 requests/s latency phase")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (ingest queue); one per core")
    parser.add_argument("--worker-nice", type=int, default=10, help="CPU niceness of the worker (0: same as the web)")
    parser.add_argument("--dispatch-items", type=int, default=1_000_000)
    parser.add_argument("--dispatch-due", type=int, default=10_000)
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    var_dir = Path(tempfile.mkdtemp(prefix="gluey-bench-"))
    env = child_env(var_dir)
    os.environ.update(
        {
            k: env[k]
            for k in (
                "DEBUG",
                "SECRET_KEY",
                "FIELD_ENCRYPTION_KEY",
                "SECURE_SSL_REDIRECT",
                "ALLOWED_HOSTS",
                "LOG_LEVEL",
                "GLUEY_VAR_DIR",
            )
        }
    )
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PYTHON, "manage.py", "createcachetable"], cwd=ROOT, env=env, check=True)

    import django

    django.setup()
    import redis
    from django.conf import settings

    from carriers.services.setup import carrier_create

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()
    cleanup_rows()
    carrier = carrier_create(carrier_id=PUSH_CARRIER, adapter="generic_json", config={})

    port = free_port()
    bin_dir = Path(PYTHON).parent
    web = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
            "gluey.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.web_workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.web_threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    # The worker runs at a lower CPU priority: on one small box the acknowledgment
    # path must win the CPU, and processing catches up from the queue.
    worker = subprocess.Popen(
        [
            "nice",
            "-n",
            str(args.worker_nice),
            str(bin_dir / "celery"),
            "-A",
            "gluey",
            "worker",
            "-Q",
            "ingest",
            "--concurrency",
            str(args.workers),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    results: dict[str, Any] = {}
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}/carriers/{PUSH_CARRIER}/webhook"
        run = secrets.token_hex(2)
        # Warm up connections, imports and the worker.
        throughput_phase(url, carrier.webhook_secret, 20, 4, run + "w")
        print(
            f"throughput: {args.requests} webhooks × {EVENTS_PER_REQUEST} events, {args.concurrency} senders …",
            flush=True,
        )
        results["throughput"] = throughput_phase(url, carrier.webhook_secret, args.requests, args.concurrency, run)
        t = results["throughput"]
        print(
            f"  {t['events']}/{t['expected_events']} events recorded in {t['total_seconds']:.2f} s "
            f"(posting took {t['post_seconds']:.2f} s): {t['events_per_second']:.0f} events/s end to end",
            flush=True,
        )
        print(f"latency: 100 requests/s for {args.rate_seconds:.0f} s …", flush=True)
        results["ack_latency"] = latency_phase(url, carrier.webhook_secret, 100, args.rate_seconds, run)
        lat = results["ack_latency"]
        print(
            f"  p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms, non-202: {lat['non_202']}",
            flush=True,
        )
        print(f"dispatch: {args.dispatch_due} due among {args.dispatch_items} tracked items …", flush=True)
        results["dispatch"] = dispatch_phase(args.dispatch_items, args.dispatch_due)
        d = results["dispatch"]
        print(
            f"  took {d['taken']} items in {d['batches']} batches in {d['seconds']:.3f} s (seeding took {d['seed_seconds']:.1f} s)",
            flush=True,
        )
    finally:
        for proc in (web, worker):
            proc.send_signal(signal.SIGTERM)  # the main process stops its own children cleanly
        for proc in (web, worker):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        broker.flushdb()
        cleanup_rows()
        shutil.rmtree(var_dir, ignore_errors=True)
    summary = {
        "events_per_second": round(results["throughput"]["events_per_second"], 1),
        "ack_p50_ms": round(results["ack_latency"]["p50_ms"], 2),
        "ack_p99_ms": round(results["ack_latency"]["p99_ms"], 2),
        "dispatch_10k_of_1m_seconds": round(results["dispatch"]["seconds"], 3),
        "events_recorded": results["throughput"]["events"],
        "non_202": results["throughput"]["non_202"] + results["ack_latency"]["non_202"],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
