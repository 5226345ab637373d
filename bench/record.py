"""Benchmark the recording service against the raw ceiling.

Records 100,000 events over 10,000 tracked items through events_record (in
batches, as the channels do), then inserts the same rows with the fastest raw
path — COPY on PostgreSQL, executemany on SQLite — into a scratch table, as the
ceiling. Prints its figures and ends with one JSON line.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gluey_bench python bench/record.py [--events N] [--items N] [--batch N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gluey.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gluey_bench")


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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per events_record call")
    parser.add_argument("--single", type=int, default=3000, help="calls of one event each (the webhook's size)")
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from django.conf import settings

    # DEBUG keeps every SQL string in memory; a benchmark must not pay for that.
    settings.DEBUG = False
    from carriers.models import Carrier
    from carriers.services import carrier_create
    from tracking.models import CodeMapping, Customer, ItemHistory, Shipment, TrackedItem, TrackingEvent, UnmappedCode
    from tracking.services import customer_create, events_record, shipment_register
    from tracking.types import CarrierEvent, Location

    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    carrier_id = f"bench-{run}"
    carrier_create(carrier_id=carrier_id, adapter="generic_json")
    codes = ["PCK", "HUB", "DEP", "OFD", "DLV", "ATT", "ZZ1"]
    cities = ["Leeds", "York", "Hull", "Bath", "Derby"]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def event_at(i: int) -> CarrierEvent:
        # Consecutive events go to different items, as real traffic does.
        return CarrierEvent(
            tracking_id=f"B{run}{i % args.items:07d}",
            code=codes[i % len(codes)],
            occurred_at=t0 + timedelta(minutes=i),
            description="bench event",
            location=Location(city=cities[i % len(cities)], iso_country="GB"),
        )

    from bench.common import cpu_idle_wait, settle_tables

    tables = (TrackingEvent._meta.db_table, TrackedItem._meta.db_table)
    print(f"database: {connection.vendor}; {args.events} events over {args.items} items, batches of {args.batch}")
    # As the other benchmarks do: what each phase measures is its own work, not the tail of
    # whatever ran before it (under make bench, the bootstrap's installs).
    cpu_idle_wait(label="record")
    started = time.perf_counter()
    created = 0
    for start in range(0, args.events, args.batch):
        batch = [event_at(i) for i in range(start, min(start + args.batch, args.events))]
        result = events_record(carrier=carrier_id, events=batch, channel="manual")
        created += len(result.created)
    elapsed = time.perf_counter() - started
    rate = created / elapsed
    print(f"events_record: {created} events in {elapsed:.2f} s = {rate:,.0f} events/s")

    if connection.vendor == "postgresql":
        settle_tables(tables, label="record")  # the batches' dead item versions and their autovacuum
    # One event per call, as a one-event webhook recorded alone would be: the per-call overhead.
    # New items and existing ones alternate (half of the events land on items the batches created).
    single_times = []
    for i in range(args.single):
        one = event_at(args.events + i)
        if i % 2:
            one = CarrierEvent(
                tracking_id=f"S{run}{i:07d}", code=one.code, occurred_at=one.occurred_at, location=one.location
            )
        t = time.perf_counter()
        events_record(carrier=carrier_id, events=[one], channel="manual")
        single_times.append(time.perf_counter() - t)
    single_times.sort()
    single_ms = 1000 * sum(single_times) / len(single_times)
    single_p50 = 1000 * single_times[len(single_times) // 2]
    print(
        f"events_record, 1 event per call: {single_ms:.2f} ms mean, {single_p50:.2f} ms p50 = {1000 / single_ms:,.0f} calls/s"
    )

    # The same on numbers a customer registered: recording also rewrites their stored history
    # (tracking.models.ItemHistory; unregistered numbers have none), here of ~10 events each.
    customer, _ = customer_create(name=f"bench-record-{run}")
    followed = [f"B{run}{i:07d}" for i in range(min(args.single, args.items))]
    for tracking_id in followed:
        shipment_register(customer=customer, carrier_id=carrier_id, carrier_tracking_id=tracking_id)
    followed_times = []
    for i, tracking_id in enumerate(followed):
        one = event_at(args.events + args.single + i)
        one = CarrierEvent(tracking_id=tracking_id, code=one.code, occurred_at=one.occurred_at, location=one.location)
        t = time.perf_counter()
        events_record(carrier=carrier_id, events=[one], channel="manual")
        followed_times.append(time.perf_counter() - t)
    followed_ms = 1000 * sum(followed_times) / len(followed_times)
    print(f"events_record, 1 event per call on a registered number: {followed_ms:.2f} ms mean")

    # Ceiling: the same rows, straight into a scratch copy of the table.
    table = TrackingEvent._meta.db_table
    item_ids = dict(TrackedItem.objects.filter(carrier_id=carrier_id).values_list("tracking_id", "id"))
    # The stored track JSON is part of the row recording writes: the ceiling writes the same text.
    stored = TrackingEvent.objects.filter(carrier_id=carrier_id).order_by("id").values_list("track_json", flat=True)
    track_json = [(text or "").replace("\\", "\\\\") for text in stored[: args.events]]

    def ceiling_rows():
        for i in range(args.events):
            e = event_at(i)
            yield (
                item_ids[e.tracking_id],
                carrier_id,
                0,
                i,
                e.code,
                "",
                e.description,
                "in_transit",
                "carrier",
                "other",
                False,
                e.occurred_at.isoformat(),
                0,
                e.occurred_at.isoformat(),
                json.dumps({"city": e.location.city}),
                "[]",
                "manual",
                "",
                track_json[i],
            )

    columns = (
        "tracked_item_id, carrier_id, txid, dedupe_key, carrier_code, carrier_sub_code, carrier_text, milestone, code, "
        "sub_code, unmapped, occurred_at, utc_offset_minutes, recorded_at, location, carrier_meta, channel, signed_by, "
        "track_json"
    )
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_ceiling")
        if connection.vendor == "postgresql":
            cur.execute(f"CREATE TABLE bench_ceiling (LIKE {table} INCLUDING ALL)")
            buffer = io.StringIO()
            for row in ceiling_rows():
                buffer.write("\t".join(str(v) for v in row) + "\n")
            started = time.perf_counter()
            buffer.seek(0)
            cur.cursor.copy_expert(f"COPY bench_ceiling ({columns}) FROM STDIN", buffer)
            connection.commit() if not connection.get_autocommit() else None
            ceiling_elapsed = time.perf_counter() - started
        else:
            cur.execute(f"CREATE TABLE bench_ceiling AS SELECT * FROM {table} WHERE 0")
            placeholders = ", ".join(["%s"] * (columns.count(",") + 1))
            started = time.perf_counter()
            cur.executemany(f"INSERT INTO bench_ceiling ({columns}) VALUES ({placeholders})", list(ceiling_rows()))
            ceiling_elapsed = time.perf_counter() - started
        cur.execute("DROP TABLE bench_ceiling")
    ceiling = args.events / ceiling_elapsed
    print(f"ceiling ({'COPY' if connection.vendor == 'postgresql' else 'executemany'}): {ceiling:,.0f} events/s")

    # Leave the bench database small for the next run.
    # Raw deletes: the ORM would load every event to honour on_delete rules.
    TrackedItem.objects.filter(carrier_id=carrier_id).update(current_event=None)
    Shipment.objects.filter(carrier_id=carrier_id).delete()
    Customer.objects.filter(pk=customer.pk).delete()
    ItemHistory.objects.filter(tracked_item__carrier_id=carrier_id).delete()
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {table} WHERE carrier_id = %s", [carrier_id])
    TrackedItem.objects.filter(carrier_id=carrier_id)._raw_delete(connection.alias)
    CodeMapping.objects.filter(carrier_id=carrier_id).delete()
    UnmappedCode.objects.filter(carrier_id=carrier_id).delete()
    Carrier.objects.filter(pk=carrier_id).delete()

    summary = {
        "database": connection.vendor,
        "events": created,
        "events_per_s": round(rate),
        "ceiling_events_per_s": round(ceiling),
        "ratio": round(rate / ceiling, 3),
        "single_ms": round(single_ms, 2),
        "single_p50_ms": round(single_p50, 2),
        "single_calls_per_s": round(1000 / single_ms),
        "single_followed_ms": round(followed_ms, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
