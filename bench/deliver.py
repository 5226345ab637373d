"""Benchmark customer webhook delivery on the real stack.

Starts its own gunicorn, Celery workers (ingest and notify queues) and local
receivers, against PostgreSQL and Redis, and measures:

1. throughput — deliveries per second drained by ONE notify worker process
   (threads pool), over many endpoints;
2. freshness — carrier webhook accepted (202) to customer webhook received,
   p50/p99, while carriers post 400 one-event webhooks a second;
3. the same with one extra endpoint that never answers (times out), to show a
   dead endpoint does not slow healthy ones (p99 ratio);
4. POST /track with 100 shipment ids of 20 events each, p95.

Prints its figures and ends with one JSON line.

    python bench/deliver.py [--deliveries 10000] [--endpoints 20] [--rate 400] [--per-post 1] [--seconds 20]

Defaults: DATABASE_URL=postgres://postgres@127.0.0.1:5432/gluey_bench,
CELERY_BROKER_URL=redis://127.0.0.1:6379/14 (flushed at start).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gluey.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gluey_bench")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("API_THROTTLE_RATE", "1000000/min")
# Redis as the cache too, as production runs: ingest wake-ups are deduplicated there.
os.environ.setdefault("CACHE_URL", os.environ["CELERY_BROKER_URL"])

BIN = Path(sys.executable).parent
CODES = ["PCK", "HUB", "DEP", "ARR", "OFD", "DLV"]


# --- Helpers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    from urllib.parse import urlparse

    import psycopg2

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    conn = psycopg2.connect(
        host=parsed.hostname, port=parsed.port or 5432, user=parsed.username or "postgres", dbname="postgres"
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


class Stack:
    """Subprocesses started by the bench, stopped (with their children) at the end."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []
        self.logs = ROOT / "var" / "bench" / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


# --- The receivers (separate processes, so they never share the bench's GIL) ------------------


def receiver_main(port: int, mode: str, events: multiprocessing.Queue, count: Any) -> None:
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            now = time.time()
            if mode == "hang":
                time.sleep(3600)
                return
            with count.get_lock():
                count.value += 1
            if self.path.startswith("/fresh"):
                items = json.loads(body)
                events.put(
                    [
                        (item["carrier_tracking_id"] + "|" + item["event"]["event_time"]["carrier_utc"], now)
                        for item in items
                    ]
                )
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    server.serve_forever()


# --- Phases ----------------------------------------------------------------------------------


def phase_throughput(receiver_port: int, deliveries: int, endpoints: int, count: Any) -> dict:
    from django.utils import timezone as djtz

    from notifications.models import Delivery, DeliveryStatus
    from notifications.services import endpoint_subscribe, endpoints_wake
    from notifications.services.sending import _test_body
    from tracking.services import customer_create

    customer, _ = customer_create(name=f"bench-throughput-{time.time_ns()}")
    targets = [
        endpoint_subscribe(customer=customer, url=f"http://127.0.0.1:{receiver_port}/t{i}")[0] for i in range(endpoints)
    ]
    body = _test_body()
    now = djtz.now()
    rows = [
        Delivery(
            endpoint=targets[i % endpoints],
            customer=customer,
            body=body,
            event_count=1,
            created_at=now,
            next_attempt_at=now,
            deadline_at=now + timedelta(hours=24),
        )
        for i in range(deliveries)
    ]
    Delivery.objects.bulk_create(rows, batch_size=1000)
    ids = [e.pk for e in targets]
    start_count = count.value
    started = time.monotonic()
    endpoints_wake(endpoint_ids=ids)
    pending = Delivery.objects.filter(endpoint_id__in=ids).exclude(status=DeliveryStatus.DELIVERED)
    while pending.exists():
        if time.monotonic() - started > 600:
            raise RuntimeError("throughput phase did not finish in 10 minutes")
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    received = count.value - start_count
    return {
        "deliveries": deliveries,
        "endpoints": endpoints,
        "seconds": round(elapsed, 2),
        "deliveries_per_s": round(deliveries / elapsed, 1),
        "requests_received": received,
    }


def phase_freshness(
    *,
    web_port: int,
    carrier_id: str,
    secret: str,
    tracking_ids: list[str],
    rate: int,
    seconds: float,
    events: multiprocessing.Queue,
    tag: str,
    per_post: int = 1,
) -> dict:
    import requests
    from standardwebhooks import Webhook

    signer = Webhook(secret)
    url = f"http://127.0.0.1:{web_port}/carriers/{carrier_id}/webhook"
    posts = int(rate * seconds / per_post)
    interval = per_post / rate
    accepted: dict[str, float] = {}
    failures: list[str] = []
    lock = threading.Lock()
    local = threading.local()
    base = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=random.randint(0, 3000))

    def post(n: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        batch = []
        keys = []
        for j in range(per_post):
            when = (base + timedelta(seconds=n * per_post + j)).isoformat()
            tracking_id = tracking_ids[(n * per_post + j) % len(tracking_ids)]
            batch.append(
                {
                    "tracking_id": tracking_id,
                    "code": CODES[(n + j) % len(CODES)],
                    "occurred_at": when,
                    "location": {"city": f"{tag} {n}", "iso_country": "GB"},
                }
            )
            keys.append(f"{tracking_id}|{when}")
        body = json.dumps({"events": batch})
        msg_id = f"msg_{tag}_{n}"
        stamp = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(stamp.timestamp())),
            "webhook-signature": signer.sign(msg_id, stamp, body),
        }
        response = session.post(url, data=body.encode(), headers=headers, timeout=30)
        done = time.time()
        with lock:
            if response.status_code == 202:
                for key in keys:
                    accepted[key] = done
            else:
                failures.append(f"{response.status_code} {response.text[:200]}")

    from django.utils import timezone as djtz

    phase_start = djtz.now()
    with ThreadPoolExecutor(max_workers=32) as pool:
        started = time.monotonic()
        for n in range(posts):
            delay = started + n * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, n)
    received: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(received) < len(accepted):
        try:
            for key, when in events.get(timeout=0.5):
                received.setdefault(key, when)
        except queue.Empty:
            continue
    latencies = [received[k] - accepted[k] for k in accepted if k in received]
    legs = freshness_legs(carrier_id=carrier_id, since=phase_start)
    return {
        **legs,
        "events_posted": posts * per_post,
        "events_accepted": len(accepted),
        "events_received": len(latencies),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p99_s": round(percentile(latencies, 99), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
        "post_failures": failures[:3],
    }


def freshness_legs(*, carrier_id: str, since: datetime) -> dict:
    """Where the time went: carrier ingest (stored → recorded) and delivery (outbox row → 2xx)."""
    from carriers.models import InboundMessage
    from notifications.models import Delivery, DeliveryStatus

    ingest = [
        (done - got).total_seconds()
        for got, done in InboundMessage.objects.filter(carrier_id=carrier_id, received_at__gte=since).values_list(
            "received_at", "processed_at"
        )
        if done is not None
    ]
    deliver = [
        (done - made).total_seconds()
        for made, done in Delivery.objects.filter(
            created_at__gte=since, status=DeliveryStatus.DELIVERED, endpoint__url__contains="/fresh"
        ).values_list("created_at", "delivered_at")
        if done is not None
    ]
    return {
        "ingest_leg_p50_s": round(percentile(ingest, 50), 3),
        "ingest_leg_p99_s": round(percentile(ingest, 99), 3),
        "delivery_leg_p50_s": round(percentile(deliver, 50), 3),
        "delivery_leg_p99_s": round(percentile(deliver, 99), 3),
    }


def phase_track(web_port: int, carrier_id: str, requests_count: int) -> dict:
    import requests

    from tracking.services import customer_create, events_record, shipment_register
    from tracking.types import CarrierEvent, Location

    customer, key = customer_create(name=f"bench-track-{time.time_ns()}")
    ids = []
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(100):
        tracking_id = f"TRK{time.time_ns()}{i:03d}"
        shipment, _ = shipment_register(customer=customer, carrier_id=carrier_id, carrier_tracking_id=tracking_id)
        ids.append(str(shipment.id))
        events_record(
            carrier=carrier_id,
            channel="webhook",
            events=[
                CarrierEvent(
                    tracking_id=tracking_id,
                    code=CODES[j % len(CODES)],
                    occurred_at=base + timedelta(hours=j),
                    description=f"event {j}",
                    location=Location(city="Leeds", iso_country="GB"),
                )
                for j in range(20)
            ],
        )
    session = requests.Session()
    headers = {"x-key": key, "x-version": "v1", "content-type": "application/json"}
    url = f"http://127.0.0.1:{web_port}/track"
    body = json.dumps({"ids": ids})
    timings = []
    for n in range(requests_count + 10):
        started = time.perf_counter()
        response = session.post(url, data=body, headers=headers, timeout=30)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or len(response.json()) != 100:
            raise RuntimeError(f"/track answered {response.status_code}: {response.text[:300]}")
        if n >= 10:  # warm-up
            timings.append(elapsed * 1000)
    return {
        "requests": requests_count,
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(percentile(timings, 95), 1),
        "response_bytes": len(response.content),
    }


# --- Main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--threads", type=int, default=16, help="threads of the one notify worker process")
    parser.add_argument("--rate", type=int, default=400, help="carrier events per second in the freshness phases")
    parser.add_argument("--per-post", type=int, default=1, help="events per carrier webhook (1: as UPS and DHL push)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each freshness phase")
    parser.add_argument("--shipments", type=int, default=2000)
    parser.add_argument("--track-requests", type=int, default=300)
    parser.add_argument("--ingest-processes", type=int, default=max(2, os.cpu_count() or 2))
    parser.add_argument(
        "--worker-nice", type=int, default=10, help="CPU niceness of the workers, as the Procfile (0: as the web)"
    )
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    events = ctx.Queue()
    count = ctx.Value("l", 0)
    hang_count = ctx.Value("l", 0)  # kept referenced until the child has unpickled it
    ok_port, hang_port, web_port = free_port(), free_port(), free_port()
    receivers = [
        ctx.Process(target=receiver_main, args=(ok_port, "ok", events, count), daemon=True),
        ctx.Process(target=receiver_main, args=(hang_port, "hang", events, hang_count), daemon=True),
    ]
    for process in receivers:
        process.start()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    import redis

    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()

    from carriers.services import carrier_create
    from notifications.models import WebhookEndpoint
    from notifications.services import endpoint_subscribe
    from tracking.services import customer_create, shipment_register

    stack = Stack()
    # The workers run at a lower CPU priority than the web, as the Procfile starts them.
    celery = [
        "nice",
        "-n",
        str(args.worker_nice),
        str(BIN / "celery"),
        "-A",
        "gluey",
        "worker",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--pool",
        "threads",
    ]
    results: dict = {}
    try:
        stack.start(
            "web",
            [
                str(BIN / "gunicorn"),
                "gluey.wsgi",
                "--preload",  # the app loads before the fork: no worker pays for it on its first request
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "4",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
        )
        stack.start("notify", [*celery, "-Q", "notify", "--concurrency", str(args.threads), "-n", "notify@%h"])
        # Recording is CPU and database work: processes, not threads, so it can use every core.
        ingest = [a for a in celery if a not in ("--pool", "threads")]
        stack.start(
            "ingest",
            [
                *ingest,
                "--pool",
                "prefork",
                "-Q",
                "ingest",
                "--concurrency",
                str(args.ingest_processes),
                "-n",
                "ingest@%h",
            ],
        )
        for port in (ok_port, hang_port, web_port):
            wait_port(port)
        time.sleep(3)  # let the workers connect to the broker

        print(
            f"1/4 throughput: {args.deliveries} deliveries over {args.endpoints} endpoints, one worker process "
            f"({args.threads} threads)…",
            flush=True,
        )
        results["throughput"] = phase_throughput(ok_port, args.deliveries, args.endpoints, count)
        print("   ", results["throughput"], flush=True)

        carrier_id = f"bench-{time.time_ns()}"
        carrier = carrier_create(carrier_id=carrier_id, adapter="generic_json")
        customer, _ = customer_create(name=f"bench-fresh-{time.time_ns()}")
        tracking_ids = [f"FR{time.time_ns()}{i:05d}" for i in range(args.shipments)]
        for tracking_id in tracking_ids:
            shipment_register(customer=customer, carrier_id=carrier_id, carrier_tracking_id=tracking_id)
        endpoint_subscribe(customer=customer, url=f"http://127.0.0.1:{ok_port}/fresh")

        # Warm up web workers, connections and caches, so the first measured phase is not
        # the one paying for them (its p99 is the baseline the dead-endpoint phase is held to).
        phase_freshness(web_port=web_port, carrier_id=carrier_id, secret=carrier.webhook_secret,
                        tracking_ids=tracking_ids, rate=args.rate, seconds=3, events=events, tag="w", per_post=args.per_post)  # fmt: skip
        print(f"2/4 freshness at {args.rate} events/s for {args.seconds:g} s…", flush=True)
        results["freshness"] = phase_freshness(
            web_port=web_port,
            carrier_id=carrier_id,
            secret=carrier.webhook_secret,
            tracking_ids=tracking_ids,
            rate=args.rate,
            seconds=args.seconds,
            events=events,
            tag="a",
            per_post=args.per_post,
        )
        print("   ", results["freshness"], flush=True)

        print("3/4 the same with one extra endpoint that never answers…", flush=True)
        dead, _ = endpoint_subscribe(customer=customer, url=f"http://127.0.0.1:{hang_port}/hang")
        results["freshness_with_dead_endpoint"] = phase_freshness(
            web_port=web_port,
            carrier_id=carrier_id,
            secret=carrier.webhook_secret,
            tracking_ids=tracking_ids,
            rate=args.rate,
            seconds=args.seconds,
            events=events,
            tag="b",
            per_post=args.per_post,
        )
        dead.refresh_from_db()
        results["freshness_with_dead_endpoint"]["dead_endpoint_failures"] = dead.consecutive_failures
        print("   ", results["freshness_with_dead_endpoint"], flush=True)
        WebhookEndpoint.objects.filter(pk=dead.pk).update(is_active=False)

        print(f"4/4 POST /track, 100 ids × 20 events, {args.track_requests} requests…", flush=True)
        results["track"] = phase_track(web_port, carrier_id, args.track_requests)
        print("   ", results["track"], flush=True)
    finally:
        stack.stop()
        for process in receivers:
            process.terminate()

    base_p99 = results["freshness"]["p99_s"]
    dead_p99 = results["freshness_with_dead_endpoint"]["p99_s"]
    summary = {
        "bench": "deliver",
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "deliveries_per_s_per_worker": results["throughput"]["deliveries_per_s"],
        "worker_threads": args.threads,
        "freshness_rate": args.rate,
        "freshness_events_per_post": args.per_post,
        "freshness_p50_s": results["freshness"]["p50_s"],
        "freshness_p99_s": base_p99,
        "freshness_with_dead_endpoint_p50_s": results["freshness_with_dead_endpoint"]["p50_s"],
        "freshness_with_dead_endpoint_p99_s": dead_p99,
        "dead_endpoint_p99_change": round(dead_p99 / base_p99 - 1, 3) if base_p99 and dead_p99 else None,
        "delivery_leg_p50_s": results["freshness"]["delivery_leg_p50_s"],
        "delivery_leg_p99_s": results["freshness"]["delivery_leg_p99_s"],
        "delivery_leg_with_dead_endpoint_p99_s": results["freshness_with_dead_endpoint"]["delivery_leg_p99_s"],
        "ingest_leg_p50_s": results["freshness"]["ingest_leg_p50_s"],
        "ingest_leg_p99_s": results["freshness"]["ingest_leg_p99_s"],
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "track_100x20_p95_ms": results["track"]["p95_ms"],
        "targets": {
            "deliveries_per_s_per_worker": 300,
            "freshness_p50_s": 0.2,
            "freshness_p99_s": 1.0,
            "dead_endpoint_p99_change": 0.2,
            "track_100x20_p95_ms": 150,
        },
        "details": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
