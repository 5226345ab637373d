"""Every benchmark, one table: ``make bench`` (this script).

1. Checks PostgreSQL and Redis (starting them if they are down) and wrk
   (installing the Debian package if it is missing and we may; else a small
   Python load generator stands in).
2. Runs bench/record.py, bench/ingest.py, bench/deliver.py, bench/read.py and bench/edi.py one
   after the other as subprocesses, each against this run's own database and
   Redis database, and reads the JSON object each prints last.
3. Starts the real stack itself — gunicorn, a Celery worker on every queue, one
   beat, the carrier simulator and a customer receiver — waits until events
   have come in by webhook, sFTP and polling and a signed webhook has reached the
   receiver; then measures POST /track (100 shipments × 20 events) and a static
   file from the same gunicorn with wrk, and the cost curve: /track p95 and the
   poll dispatcher's time at 10k, 100k and 1M tracked items (bulk-loaded with COPY).
4. Prints the table and writes it, with the machine and the commands, to
   bench/RESULTS.md.

    .venv/bin/python bench/run_all.py [--quick] [--skip record,ingest,deliver,edi,stack] [--keep-db]

Environment: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/gluey_bench_all — dropped and
created by each run, so never point it at a database you keep), BENCH_BROKER_URL (default
redis://127.0.0.1:6379/11, flushed by the benchmarks).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    BenchResult,
    Stack,
    drop_database,
    ensure_postgres,
    ensure_redis,
    ensure_wrk,
    free_port,
    git_commit,
    http_load,
    log,
    machine,
    manage,
    recreate_database,
    run_bench,
    stack_env,
    wait_port,
)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/gluey_bench_all"
DEFAULT_BROKER = "redis://127.0.0.1:6379/11"  # flushed; also the cache of the benchmarks' stacks

FULL: dict[str, Any] = {
    "record": [],
    "ingest": [],
    "deliver": [],
    "read": [],
    "edi": [],
    "load_seconds": 15.0,
    "curve": [10_000, 100_000, 1_000_000],
    "curve_seconds": 6.0,
}
QUICK: dict[str, Any] = {
    "record": ["--events", "20000", "--items", "2000"],
    "ingest": ["--seconds", "5", "--rate-seconds", "5", "--dispatch-items", "100000", "--dispatch-due", "1000"],
    "deliver": ["--deliveries", "1000", "--seconds", "5", "--shipments", "200", "--track-requests", "50"],
    "read": ["--shipments", "2000", "--seconds", "5"],
    "edi": ["--mb", "20"],
    "load_seconds": 4.0,
    "curve": [10_000, 100_000],
    "curve_seconds": 3.0,
}
BENCHES = ("record", "ingest", "deliver", "read", "edi")
TIMEOUTS = {"record": 1800, "ingest": 2400, "deliver": 2400, "read": 1800, "edi": 1800}
DUE = 1_000  # tracked items due at every size of the cost curve
# Concurrent clients of the load tool: one per gunicorn worker process, so p95 is latency, not queueing.
CONNECTIONS = 2
CODES = ["PCK", "HUB", "DEP", "ARR", "OFD", "DLV"]


# --- The stack phase -----------------------------------------------------------------------------


def django_setup(env: dict[str, str]) -> None:
    for key in (
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CACHE_URL",
        "DEBUG",
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "ALLOWED_HOSTS",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "WEBHOOK_ALLOWED_NETWORKS",
        "API_THROTTLE_RATE",
        "LOG_LEVEL",
        "GLUEY_VAR_DIR",
        "DJANGO_SETTINGS_MODULE",
    ):
        os.environ[key] = env[key]
    import django

    django.setup()


def seed_track(carrier_id: str) -> tuple[str, list[str]]:
    """A customer with 100 shipments of 20 events each; returns (API key, shipment ids)."""
    from tracking.services import customer_create, events_record, shipment_register
    from tracking.types import CarrierEvent, Location

    customer, key = customer_create(name="bench-track")
    ids = []
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(100):
        tracking_id = f"TRK{i:07d}"
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
    return key, ids


def wait_for_flow(timeout: float) -> dict[str, Any]:
    """Until the simulator's events arrived by all three channels and a webhook reached the receiver."""
    from django.db import close_old_connections

    from notifications.models import Delivery
    from tracking.models import TrackingEvent

    started = time.monotonic()
    seen: dict[str, Any] = {}
    while time.monotonic() - started < timeout:
        close_old_connections()
        counts = {
            channel: TrackingEvent.objects.filter(
                carrier__in=["sim-push", "sim-files", "sim-api"], channel=channel
            ).count()
            for channel in ("webhook", "sftp", "poll")
        }
        delivered = Delivery.objects.filter(status="delivered").count()
        seen = {**counts, "webhooks_delivered": delivered, "seconds": round(time.monotonic() - started, 1)}
        if all(counts.values()) and delivered:
            seen["ok"] = True
            return seen
        time.sleep(2)
    seen["ok"] = False
    return seen


def copy_tracked_items(carrier_id: str, start: int, stop: int) -> None:
    """COPY tracked items ``start``…``stop`` of the cost carrier; the first DUE are due now."""
    from django.db import connection

    now = datetime.now(UTC)
    due, later = (now - timedelta(minutes=1)).isoformat(), (now + timedelta(hours=6)).isoformat()
    stamp = now.isoformat()
    with connection.cursor() as cursor:
        for chunk in range(start, stop, 200_000):
            buffer = io.StringIO()
            for n in range(chunk, min(chunk + 200_000, stop)):
                buffer.write(f"{carrier_id}\tC{n:010d}\t{stamp}\t{due if n < DUE else later}\t\t\t\t0\t\n")
            buffer.seek(0)
            cursor.cursor.copy_expert(
                "COPY tracking_trackeditem (carrier_id, tracking_id, created_at, next_check_at, status_milestone, "
                "status_code, status_sub_code, check_failures, invalid_reason) FROM STDIN",
                buffer,
            )
        # Each tracked item is a shipment of the /track customer, so its shipments table grows too.
        cursor.execute(
            """
            INSERT INTO tracking_shipment (id, customer_id, tracked_item_id, carrier_id, carrier_tracking_id, uuid_ref,
                tracking_level, reference_shipper, reference_receiver, meta_data, created_at, detected_format)
            SELECT gen_random_uuid(), c.id, ti.id, ti.carrier_id, ti.tracking_id, '', 'shipment', '', '', '[]', now(), ''
            FROM tracking_trackeditem ti, tracking_customer c
            WHERE c.name = 'bench-track' AND ti.carrier_id = %s AND ti.tracking_id >= %s AND ti.tracking_id < %s
            """,
            [carrier_id, f"C{start:010d}", f"C{stop:010d}"],
        )
        cursor.execute("ANALYZE tracking_trackeditem")
        cursor.execute("ANALYZE tracking_shipment")


def time_dispatcher(carrier_id: str, runs: int = 3) -> float:
    """Median seconds of poll_dispatch taking the DUE due items (queued nowhere: only the dispatcher is timed)."""
    from django.db import connection

    from carriers.services.polling import poll_dispatch

    timings = []
    for _ in range(runs):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tracking_trackeditem SET next_check_at = now() - interval '1 minute' "
                "WHERE carrier_id = %s AND tracking_id < %s",
                [carrier_id, f"C{DUE:010d}"],
            )
        started = time.perf_counter()
        taken = poll_dispatch(max_items=DUE, enqueue=lambda *_: None).per_carrier.get(carrier_id, 0)
        timings.append(time.perf_counter() - started)
        if taken != DUE:
            raise RuntimeError(f"the dispatcher took {taken} items, expected {DUE}")
    return statistics.median(timings)


def stack_phase(*, database_url: str, broker_url: str, wrk: str | None, sizes: dict[str, Any], logs: Path) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix="gluey-bench-all-"))
    env = stack_env(database_url=database_url, broker_url=broker_url, var_dir=var_dir)
    stack = Stack(env=env, logs=logs / "stack")
    out: dict[str, Any] = {}
    try:
        log("stack: migrate, cache table, static files")
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "createcachetable")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        import redis

        redis.Redis.from_url(broker_url).flushdb()
        django_setup(env)
        from carriers.services import carrier_create
        from notifications.services import endpoint_subscribe
        from tracking.services import customer_create

        demo, _ = customer_create(name="Demo Shop")  # the simulator's customer: the first one
        web, receiver, sftp_port, api_port = free_port(), free_port(), free_port(), free_port()
        endpoint_subscribe(customer=demo, url=f"http://127.0.0.1:{receiver}/webhooks")
        carrier_create(carrier_id="bench-track", adapter="generic_json", config={})
        carrier_create(
            carrier_id="bench-cost",
            adapter="fedex",
            config={
                "base_url": "http://127.0.0.1:9",
                "client_id": "x",
                "client_secret": "y",
                "quota_per_second": 1_000_000.0,
                "quota_burst": 1_000_000,
            },
        )
        key, track_ids = seed_track("bench-track")

        celery = [str(Path(sys.executable).parent / "celery"), "-A", "gluey"]
        stack.start(
            "web",
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "gluey.wsgi",
                "--preload",  # the app loads before the fork: no worker pays for it on its first request
                "--bind",
                f"127.0.0.1:{web}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
        )
        stack.start(
            "worker",
            [
                "nice",  # as the Procfile runs it: the web tier wins the CPU when both want it
                "-n",
                "10",
                *celery,
                "worker",
                "-Q",
                "default,ingest,notify,poll,sftp",
                "--concurrency",
                "2",
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
        )
        stack.start(
            "beat",
            [
                *celery,
                "beat",
                "--loglevel",
                "WARNING",
                "--schedule",
                str(var_dir / "beat-schedule"),
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
            ],
        )
        stack.manage("receiver", "demo_receiver", "--port", str(receiver))
        wait_port(web)
        wait_port(receiver)
        stack.manage(
            "simulator",
            "simulate_carriers",
            "--base-url",
            f"http://127.0.0.1:{web}",
            "--sftp-port",
            str(sftp_port),
            "--api-port",
            str(api_port),
            "--step-seconds",
            "2",
            "--shipments",
            "2",
            "--state-dir",
            str(var_dir / "simulator"),
        )
        log("stack: up; waiting for events by webhook, sFTP and polling, and a delivered webhook")
        out["flow"] = wait_for_flow(timeout=150)
        out["flow"]["dead_processes"] = stack.check_alive()
        log(f"stack: {out['flow']}")
        for name in ("simulator", "beat"):  # quiet, for the measurements
            stack.stop(name)

        static = next(iter(sorted((var_dir / "static").rglob("icon-yes.svg"))), None)
        static_url = f"http://127.0.0.1:{web}/static/{static.relative_to(var_dir / 'static')}" if static else None
        track_url = f"http://127.0.0.1:{web}/track"
        track: dict[str, Any] = {
            "method": "POST",
            "body": json.dumps({"ids": track_ids}),
            "headers": {"Content-Type": "application/json", "x-key": key, "x-version": "v1"},
        }
        seconds = sizes["load_seconds"]
        log(
            f"stack: {'wrk' if wrk else 'python load'} — static file, then POST /track, {seconds:g} s each, "
            f"{CONNECTIONS} connections"
        )
        http_load(track_url, seconds=2, wrk=wrk, connections=CONNECTIONS, **track)  # warm-up
        out["static"] = http_load(static_url, seconds=seconds, wrk=wrk, connections=CONNECTIONS) if static_url else None
        out["track"] = http_load(track_url, seconds=seconds, wrk=wrk, connections=CONNECTIONS, **track)
        log(f"stack: static {out['static']}; /track {out['track']}")

        curve = []
        loaded = 0
        for size in sizes["curve"]:
            log(f"stack: cost curve — bulk-loading to {size:,} tracked items with COPY")
            copy_tracked_items("bench-cost", loaded, size)
            loaded = size
            point = {
                "items": size,
                "dispatch_s": time_dispatcher("bench-cost"),
                "track": http_load(
                    track_url, seconds=sizes["curve_seconds"], wrk=wrk, connections=CONNECTIONS, **track
                ),
            }
            log(
                f"stack: {size:,} items: dispatcher {point['dispatch_s'] * 1000:.0f} ms for {DUE:,} due, "
                f"/track p95 {point['track'].p95_ms:.1f} ms"
            )
            curve.append(point)
        out["curve"] = curve
    finally:
        stack.stop()
        from django.db import connections

        connections.close_all()
        shutil.rmtree(var_dir, ignore_errors=True)
    return out


# --- The report ---------------------------------------------------------------------------------------


def fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}{unit}"
    return str(value)


def report(results: dict[str, BenchResult], stack: dict[str, Any] | None, info: dict[str, Any], quick: bool) -> str:
    def fig(name: str, key: str) -> Any:
        result = results.get(name)
        return (result.figures or {}).get(key) if result else None

    def met(ok: bool | None) -> str:
        return "—" if ok is None else ("**yes**" if ok else "**no**")

    def at_least(value: Any, floor: float) -> bool | None:
        return None if value is None else value >= floor

    def at_most(value: Any, ceiling: float) -> bool | None:
        return None if value is None else value <= ceiling

    def both(*checks: bool | None) -> bool | None:
        return None if any(c is None for c in checks) else all(checks)

    def cpu_total(figures: Any) -> str:
        """A CpuMeter split as "3.19 (web 2.38, postgres 0.57, …)"."""
        if not figures:
            return "—"
        parts = ", ".join(f"{name} {value:.2f}" for name, value in figures.items() if name != "busy" and value >= 0.01)
        return f"{figures['busy']:.2f} ({parts})"

    ack_ceiling = fig("ingest", "ack_ceiling_per_s")
    copy_ceiling = fig("record", "ceiling_events_per_s")
    static_rate = fig("read", "static_per_s")
    single_rate = fig("read", "single_per_s")
    # (measure, target, result, ceiling, ratio, met, from)
    rows: list[tuple[str, str, str, str, str, str, str]] = [
        (
            "1-event webhooks acknowledged, no worker (wrk, 8 connections, pre-signed)",
            "ceiling",
            fmt(ack_ceiling, " req/s"),
            "—",
            "—",
            "—",
            "bench/ingest.py",
        ),
        (
            "1-event webhooks recorded, worker running (2 processes)",
            "≥ 70 % of the ack ceiling",
            f"{fmt(fig('ingest', 'recorded_1_per_s'), ' events/s')} (ack {fmt(fig('ingest', 'ack_1_per_s'), ' req/s')})",
            fmt(ack_ceiling, " req/s"),
            fmt(fig("ingest", "recorded_1_ratio"), "", 2),
            met(at_least(fig("ingest", "recorded_1_ratio"), 0.70)),
            "bench/ingest.py",
        ),
        (
            "CPU per 1-event webhook, core-ms: acknowledged (no worker) → acknowledged and recorded (worker running)",
            "—",
            f"{cpu_total(fig('ingest', 'ack_cpu_ms'))} → {cpu_total(fig('ingest', 'recorded_1_cpu_ms'))}",
            "—",
            "—",
            "—",
            "bench/ingest.py",
        ),
        (
            "50-event webhooks recorded",
            "—",
            fmt(fig("ingest", "recorded_50_per_s"), " events/s"),
            fmt(ack_ceiling, " req/s"),
            fmt(fig("ingest", "recorded_50_ratio"), "", 1),
            "—",
            "bench/ingest.py",
        ),
        (
            "Backlog recorded by the worker alone (no HTTP load; first to last message processed)",
            "—",
            fmt(fig("ingest", "backlog_drain_per_s"), " events/s"),
            "—",
            "—",
            "—",
            "bench/ingest.py",
        ),
        (
            f"Ack p50 / p99 at {fmt(fig('ingest', 'ack_rate'))} req/s of 1-event webhooks, worker recording",
            "p99 ≤ 50 ms",
            f"{fmt(fig('ingest', 'ack_p50_ms'), ' ms', 1)} / {fmt(fig('ingest', 'ack_p99_ms'), ' ms', 1)}",
            "—",
            "—",
            met(at_most(fig("ingest", "ack_p99_ms"), 50)),
            "bench/ingest.py",
        ),
        (
            "Scaling: 1-event webhooks of one carrier recorded with 1 → 2 worker processes (one drain per carrier at a time)",
            "—",
            f"{fmt(fig('ingest', 'recorded_1_per_s_1proc'), ' events/s')} → {fmt(fig('ingest', 'recorded_1_per_s'), ' events/s')}",
            "—",
            f"× {fmt(fig('ingest', 'scaling_2_vs_1'), '', 2)}",
            "—",
            "bench/ingest.py",
        ),
        (
            f"Scaling: a backlog over {fmt(fig('ingest', 'drain_carriers'))} carriers drained by 1 → 2 worker processes",
            "—",
            f"{fmt(fig('ingest', 'drain_1proc_per_s'), ' events/s')} → {fmt(fig('ingest', 'drain_2proc_per_s'), ' events/s')}",
            "—",
            f"× {fmt(fig('ingest', 'drain_scaling_2_vs_1'), '', 2)}",
            "—",
            "bench/ingest.py",
        ),
        (
            (
                f"Freshness p50 / p99 at {fmt(fig('deliver', 'freshness_rate'))} events/s of 1-event webhooks "
                "(accepted → customer webhook received)"
            ),
            "≤ 0.2 s / ≤ 1 s",
            f"{fmt(fig('deliver', 'freshness_p50_s'), ' s', 2)} / {fmt(fig('deliver', 'freshness_p99_s'), ' s', 2)}",
            "—",
            "—",
            met(both(at_most(fig("deliver", "freshness_p50_s"), 0.2), at_most(fig("deliver", "freshness_p99_s"), 1.0))),
            "bench/deliver.py",
        ),
        (
            "Freshness p99 with one endpoint that never answers",
            "—",
            fmt(fig("deliver", "freshness_with_dead_endpoint_p99_s"), " s", 2),
            "—",
            "—",
            "—",
            "bench/deliver.py",
        ),
        (
            "events_record, 1 event per call (mean)",
            "≤ 2 ms",
            f"{fmt(fig('record', 'single_ms'), ' ms', 2)} ({fmt(fig('record', 'single_calls_per_s'), ' calls/s')})",
            "—",
            "—",
            met(at_most(fig("record", "single_ms"), 2.0)),
            "bench/record.py",
        ),
        (
            "events_record, 1 event per call on a registered number (also rewrites its stored history; mean)",
            "—",
            fmt(fig("record", "single_followed_ms"), " ms", 2),
            "—",
            "—",
            "—",
            "bench/record.py",
        ),
        (
            "events_record, batches of 1,000",
            "≥ 8,000 events/s and ≥ 10 % of COPY",
            fmt(fig("record", "events_per_s"), " events/s"),
            fmt(copy_ceiling, " events/s (raw COPY)"),
            fmt(fig("record", "ratio"), "", 2),
            met(both(at_least(fig("record", "events_per_s"), 8000), at_least(fig("record", "ratio"), 0.10))),
            "bench/record.py",
        ),
        (
            "GET /shipments/{id}/track, 10,000 × 10 (wrk, 8 connections)",
            "≥ 50 % of a static file",
            f"{fmt(single_rate, ' req/s')} (p50 {fmt(fig('read', 'single_p50_ms'), ' ms', 1)})",
            f"{fmt(static_rate, ' req/s')} static file, same gunicorn",
            fmt(fig("read", "single_ratio"), "", 3),
            met(at_least(fig("read", "single_ratio"), 0.50)),
            "bench/read.py",
        ),
        (
            "POST /track, 100 ids × 10 events (wrk, 8 connections)",
            "≥ 20 % of the single read",
            f"{fmt(fig('read', 'batch_per_s'), ' req/s', 1)} (p50 {fmt(fig('read', 'batch_p50_ms'), ' ms', 1)})",
            fmt(single_rate, " req/s single reads"),
            fmt(fig("read", "batch_ratio"), "", 3),
            met(at_least(fig("read", "batch_ratio"), 0.20)),
            "bench/read.py",
        ),
        (
            "POST /track, 100 × 20, one client: p50 / p95",
            "p95 ≤ 50 ms",
            f"{fmt(fig('read', 'one_client_p50_ms'), ' ms', 1)} / {fmt(fig('read', 'one_client_p95_ms'), ' ms', 1)}",
            "—",
            "—",
            met(at_most(fig("read", "one_client_p95_ms"), 50)),
            "bench/read.py",
        ),
        (
            "Deliveries/s (one notify worker process)",
            "—",
            fmt(fig("deliver", "deliveries_per_s_per_worker"), "/s"),
            "—",
            "—",
            "—",
            "bench/deliver.py",
        ),
        (
            "EDI X12 214 read",
            "—",
            f"{fmt(fig('edi', 'parse_mb_per_s'), ' MB/s', 1)} ({fmt(fig('edi', 'parse_events_per_s'), ' events/s')})",
            "—",
            "—",
            "—",
            "bench/edi.py",
        ),
        ("EDI X12 214 write", "—", fmt(fig("edi", "write_events_per_s"), " events/s"), "—", "—", "—", "bench/edi.py"),
        (
            "Poll dispatcher, 10,000 due among 1,000,000",
            "—",
            fmt(fig("ingest", "dispatch_10k_of_1m_seconds"), " s", 3),
            "—",
            "—",
            "—",
            "bench/ingest.py",
        ),
    ]
    track = stack.get("track") if stack else None

    lines = [
        "# Benchmark results",
        "",
        f"Measured {info['date']} at commit `{info['commit']}` by `bench/run_all.py{' --quick' if quick else ''}`"
        + ("." if quick else " (`make bench`)."),
        "",
        (
            f"Machine: {info['machine']['cpu']}, {info['machine']['cores']} cores, {info['machine']['memory_gb']} GB RAM, "
            f"Linux {info['machine']['kernel']}, Python {info['machine']['python']}, PostgreSQL {info['postgres']}, "
            f"Redis {info['redis']}; load tool: {info['load_tool']}."
        ),
        "",
        (
            f"Load average {info['machine']['load_average'][0]} at the start of this run (each benchmark's own "
            "starting load is below; above the number of cores, other work shared the machine and the figures are "
            "depressed). Every process of the stack — PostgreSQL, Redis, gunicorn, workers, load generator, "
            "receivers — runs on the same cores, and figures vary by 10–20 % from run to run on this machine; "
            "ratios to a ceiling measured in the same run are the more telling figures."
        ),
        "",
        "| measure | target | result | ceiling | ratio | met | from |",
        "|---|---|---|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} | {e} | {f} | `{g}` |" for a, b, c, d, e, f, g in rows],
        "",
        (
            "Ratios are result ÷ ceiling, both measured in the same run (1.0 = as fast as the ceiling). The ack "
            "ceiling is what the same gunicorn acknowledges with no worker running; raw COPY is the cheapest way "
            "PostgreSQL can take the same rows, without harmonising, deduplicating, state updates or the outbox; "
            "the static file is WhiteNoise under the same gunicorn."
        ),
        "",
    ]
    if stack and stack.get("curve"):
        lines += [
            "## Cost curve",
            "",
            (
                f"Tracked items (and as many shipments of the /track customer) bulk-loaded with COPY; {DUE:,} of them "
                "due at each size. Dispatcher: median of three `poll_dispatch` runs taking the due items (lease "
                "update and batching; the poll tasks themselves are not queued). /track as above, "
                f"{track.tool if track else 'load tool'}, {CONNECTIONS} connections."
            ),
            "",
            "| tracked items | POST /track p95 | POST /track req/s | dispatcher time |",
            "|---|---|---|---|",
        ]
        for point in stack["curve"]:
            lines.append(
                f"| {point['items']:,} | {point['track'].p95_ms:.1f} ms | {point['track'].per_second:,.0f} | "
                f"{point['dispatch_s'] * 1000:.0f} ms |"
            )
        lines.append("")
    if stack and stack.get("flow"):
        flow = stack["flow"]
        lines += [
            "## The whole stack, end to end",
            "",
            "gunicorn (2 processes × 4 threads), one Celery worker on every queue (2 processes), one beat, the carrier "
            "simulator and the demo receiver, production settings (DEBUG off). "
            + (
                f"Within {flow['seconds']:g} s the simulator's events were recorded by webhook "
                f"({flow['webhook']}), sFTP ({flow['sftp']}) and polling ({flow['poll']}), and "
                f"{flow['webhooks_delivered']} signed webhooks reached the receiver."
                if flow.get("ok")
                else f"**The flow did not complete**: {flow}"
            ),
            "",
        ]
    lines += ["## Each benchmark", "", "| benchmark | status | seconds | load average at start |", "|---|---|---|---|"]
    for name, result in results.items():
        status = "ok" if result.ok else f"failed (exit {result.returncode})"
        lines.append(f"| `bench/{name}.py` | {status} | {result.seconds:.0f} | {result.load_before:.2f} |")
    failed = [r for r in results.values() if not r.ok]
    for result in failed:
        lines += ["", f"`bench/{result.name}.py` ended with:", "", "```", result.tail.rstrip(), "```"]
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench                            # everything, as above (about 8 minutes here)",
        ".venv/bin/python bench/run_all.py --quick   # smaller sizes, a few minutes",
        ".venv/bin/python bench/record.py      # or any one benchmark on its own; each ends with a JSON line",
        "```",
        "",
        (
            "PostgreSQL and Redis must be installed (they are started if down). `BENCH_DATABASE_URL` (default "
            "`postgres://postgres@127.0.0.1:5432/gluey_bench_all`) is dropped and created by every run; "
            "`BENCH_BROKER_URL` (default `redis://127.0.0.1:6379/11`) is flushed. Logs of the run are under "
            "`var/bench/`."
        ),
        "",
    ]
    return "\n".join(lines)


def print_table(markdown: str) -> None:
    print()
    for line in markdown.splitlines():
        if line.startswith(("|", "#")):
            print(line)
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a few minutes instead of a quarter hour")
    parser.add_argument("--skip", default="", help="comma-separated: record, ingest, deliver, edi, stack")
    parser.add_argument("--keep-db", action="store_true", help="leave the run's database in place at the end")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    sizes = QUICK if args.quick else FULL
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    broker_url = os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER)

    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "machine": machine(),
    }
    info["postgres"] = ensure_postgres(database_url)
    info["redis"] = ensure_redis(broker_url)
    wrk = ensure_wrk()
    info["load_tool"] = "wrk" if wrk else "a Python load generator (wrk is not installed)"
    logs = ROOT / "var" / "bench" / f"run_all-{time.strftime('%Y%m%d-%H%M%S')}"
    log(f"run_all: database {database_url.rsplit('/', 1)[-1]}, broker {broker_url}, logs in {logs.relative_to(ROOT)}")

    env = {**os.environ, "DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url}
    results: dict[str, BenchResult] = {}
    for name in BENCHES:
        if name in skip:
            continue
        recreate_database(database_url)
        results[name] = run_bench(name, sizes[name], env=env, logs=logs, timeout=TIMEOUTS[name])
        if not results[name].ok:
            log(f"bench/{name}.py failed (exit {results[name].returncode}); going on with the others")
    stack = None
    if "stack" not in skip:
        recreate_database(database_url)
        try:
            stack = stack_phase(database_url=database_url, broker_url=broker_url, wrk=wrk, sizes=sizes, logs=logs)
        except Exception as exc:  # noqa: BLE001 - reported in the table; the sub-benchmarks' figures still count
            log(f"stack phase failed: {type(exc).__name__}: {exc}")
            stack = {"flow": {"ok": False, "error": f"{type(exc).__name__}: {exc}"}}
    if not args.keep_db:
        drop_database(database_url)

    markdown = report(results, stack, info, args.quick)
    args.out.write_text(markdown)
    print_table(markdown)
    log(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    flow_ok = stack is None or bool(stack.get("flow", {}).get("ok"))
    return 0 if all(r.ok for r in results.values()) and flow_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
