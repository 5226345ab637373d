"""Micro-batched ingest under faults: every message processed or failed exactly once.

acme-post's webhooks are stored (as the view stores them) and drained in
batches. Whatever goes wrong inside a batch — a body the adapter rejects, an
event the recorder refuses, an unexpected error, two drains racing for the
same messages — each message ends processed or failed once (``attempts``
counts the runs that committed), its events are recorded once, and each
shipment's events are recorded in the order they happened.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from carriers import tasks
from carriers.models import InboundMessage, InboundStatus
from carriers.services import inbound
from carriers.services.inbound import inbound_message_store, inbound_messages_drain
from tests.carriers.conftest import signed_headers
from tests.factories import make_carrier, make_customer
from tracking.models import TrackedItem, TrackingEvent
from tracking.services import shipment_register

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def body(tracking_id: str, code: str, minutes: int, **extra: object) -> bytes:
    event = {"tracking_id": tracking_id, "code": code, "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat()}
    return json.dumps({"events": [{**event, **extra}]}).encode()


def store(carrier, data: bytes) -> int:
    return inbound_message_store(carrier=carrier, channel="webhook", body=data, process=False).message.pk


def post_webhook(client, carrier, data: bytes):
    """POST a body signed with the carrier's secret to its webhook URL."""
    return client.post(
        f"/carriers/{carrier.pk}/webhook",
        data=data,
        content_type="application/json",
        headers=signed_headers(carrier.webhook_secret, data),
    )


def statuses() -> dict[int, tuple[str, int, int]]:
    return {m.pk: (m.status, m.attempts, m.event_count) for m in InboundMessage.objects.all()}


@pytest.mark.django_db
def test_a_malformed_message_and_a_refused_one_fail_alone_and_the_rest_of_the_batch_is_recorded():
    carrier = make_carrier()
    good = [store(carrier, body(f"T{n}", "DLV", n)) for n in range(5)]
    malformed = store(carrier, b'{"events": [{"tracking_id": "T9"')
    refused = store(carrier, body("T8", "DLV", 1, description="a NUL \u0000 here"))
    later = [store(carrier, body(f"U{n}", "HUB", n)) for n in range(3)]

    report = inbound_messages_drain(carrier_id=carrier.pk, batch_size=50)

    assert (report.batches, report.processed, report.failed) == (1, 8, 2)
    rows = statuses()
    for pk in good + later:
        assert rows[pk] == (InboundStatus.PROCESSED, 1, 1)
        assert TrackingEvent.objects.filter(inbound_message_id=pk).count() == 1
    assert rows[malformed][:2] == (InboundStatus.FAILED, 1)
    assert rows[refused][:2] == (InboundStatus.FAILED, 1)
    assert "NUL" in InboundMessage.objects.get(pk=refused).error
    assert not TrackingEvent.objects.filter(inbound_message_id__in=[malformed, refused]).exists()
    # A second drain finds nothing to do: nothing is processed twice.
    assert inbound_messages_drain(carrier_id=carrier.pk).processed == 0
    assert statuses() == rows


@pytest.mark.django_db
def test_a_batch_records_each_shipments_events_in_carrier_time_order():
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="ORDER1")
    # Arrival order is not carrier-time order: delivered arrives before the scans that preceded it.
    for code, minutes in (("DLV", 50), ("PCK", 0), ("OFD", 40), ("HUB", 10)):
        store(carrier, body("ORDER1", code, minutes))

    inbound_messages_drain(carrier_id=carrier.pk)

    events = list(TrackingEvent.objects.filter(tracked_item__tracking_id="ORDER1").order_by("id"))
    assert [e.carrier_code for e in events] == ["PCK", "HUB", "OFD", "DLV"]
    item = TrackedItem.objects.get(tracking_id="ORDER1")
    assert item.current_event_id == events[-1].pk and item.status_at == T0 + timedelta(minutes=50)


@pytest.mark.django_db
def test_batches_are_capped_and_the_drain_goes_on_until_nothing_is_pending():
    carrier = make_carrier()
    for n in range(25):
        store(carrier, body(f"CAP{n}", "HUB", n))
    report = inbound_messages_drain(carrier_id=carrier.pk, batch_size=10)
    assert (report.batches, report.processed) == (3, 25)
    assert TrackingEvent.objects.count() == 25
    assert set(statuses().values()) == {(InboundStatus.PROCESSED, 1, 1)}


@pytest.mark.django_db
def test_an_unexpected_error_hands_the_batch_to_the_one_at_a_time_task(monkeypatch, django_capture_on_commit_callbacks):
    carrier = make_carrier()
    pks = [store(carrier, body(f"BUG{n}", "HUB", n)) for n in range(3)]
    real_record = inbound.events_record

    def database_hiccup(**kwargs: object) -> object:
        raise RuntimeError("connection reset mid-batch")

    monkeypatch.setattr(inbound, "events_record", database_hiccup)
    queued: list[int] = []
    monkeypatch.setattr(tasks.inbound_process, "delay", lambda message_id: queued.append(message_id))
    with django_capture_on_commit_callbacks(execute=True):
        report = inbound_messages_drain(carrier_id=carrier.pk)

    assert report.handed_over == 3 and report.processed == 0
    assert queued == pks
    assert not TrackingEvent.objects.exists()  # the batch rolled back whole
    for status, attempts, _ in statuses().values():
        assert (status, attempts) == (InboundStatus.PENDING, 1)
    # A drain no longer takes them (they retry alone, with back-off) …
    assert inbound_messages_drain(carrier_id=carrier.pk).processed == 0
    # … and the one-at-a-time task records each once the cause is gone.
    monkeypatch.setattr(inbound, "events_record", real_record)
    for pk in queued:
        assert inbound.inbound_message_process(message_id=pk).status == InboundStatus.PROCESSED
    assert TrackingEvent.objects.count() == 3
    assert set(statuses().values()) == {(InboundStatus.PROCESSED, 2, 1)}


@pytest.mark.django_db(transaction=True)
def test_two_drains_racing_for_the_same_messages_process_each_once(postgres_only):
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    tracking_ids = [f"RACE{n}" for n in range(5)]
    for tracking_id in tracking_ids:
        shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id=tracking_id)
    for n in range(200):
        store(carrier, body(tracking_ids[n % 5], "HUB", n))

    barrier = threading.Barrier(3)
    reports, errors = [], []

    def drain() -> None:
        try:
            barrier.wait(10)
            reports.append(inbound_messages_drain(carrier_id=carrier.pk, batch_size=7))
        except Exception as exc:  # noqa: BLE001 - a thread's error is surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=drain) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sum(r.processed for r in reports) == 200
    assert sum(1 for r in reports if r.batches) >= 2, "the drains should have shared the work"
    assert set(statuses().values()) == {(InboundStatus.PROCESSED, 1, 1)}
    assert TrackingEvent.objects.count() == 200
    for tracking_id in tracking_ids:
        times = list(
            TrackingEvent.objects.filter(tracked_item__tracking_id=tracking_id)
            .order_by("occurred_at")
            .values_list("occurred_at", flat=True)
        )
        assert len(times) == len(set(times)) == 40
        item = TrackedItem.objects.get(tracking_id=tracking_id)
        assert item.status_at == times[-1]  # whichever batch committed last, the state is the newest event


@pytest.mark.django_db
def test_a_webhook_wakes_its_carriers_drain_after_commit(client, monkeypatch, django_capture_on_commit_callbacks):
    carrier = make_carrier()
    woken: list[str] = []
    monkeypatch.setattr(tasks.inbound_drain, "delay", lambda carrier_id: woken.append(carrier_id))
    data = body("WAKE1", "PCK", 0)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(client, carrier, data)
    assert response.status_code == 202
    assert woken == [carrier.pk]
    assert tasks.inbound_drain.run(carrier.pk) == 1
    assert InboundMessage.objects.get().status == InboundStatus.PROCESSED


@pytest.fixture
def redis_cache(settings):
    """Redis as the cache, as production runs (a key prefix of our own: nothing of others is touched)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/6",
            "KEY_PREFIX": f"drain-test-{uuid.uuid4().hex}",
        }
    }


@pytest.mark.django_db
def test_with_redis_one_drain_per_carrier_runs_and_leaves_nothing_behind(
    redis_cache, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    carrier = make_carrier()
    first = store(carrier, body("LEASE1", "PCK", 0))
    queued: list[str] = []
    monkeypatch.setattr(tasks.inbound_drain, "delay", lambda carrier_id: queued.append(carrier_id))

    # Another drain of the carrier is running: this one leaves the work to it.
    assert cache.add(f"gluey:ingest-running:{carrier.pk}", 1, timeout=60)
    assert inbound_messages_drain(carrier_id=carrier.pk).skipped
    assert InboundMessage.objects.get(pk=first).status == InboundStatus.PENDING
    cache.delete(f"gluey:ingest-running:{carrier.pk}")

    # The running drain's last claim came just before a message committed: once it lets
    # go, it looks again and queues another drain.
    real_claim = inbound._claim
    monkeypatch.setattr(inbound, "_claim", lambda carrier_id, size: [])
    with django_capture_on_commit_callbacks(execute=True):
        report = inbound_messages_drain(carrier_id=carrier.pk)
    assert report.processed == 0 and not report.skipped
    assert queued == [carrier.pk]
    monkeypatch.setattr(inbound, "_claim", real_claim)
    assert inbound_messages_drain(carrier_id=carrier.pk).processed == 1
    assert InboundMessage.objects.get(pk=first).status == InboundStatus.PROCESSED
    # Nothing pending: no further drain is queued, and the lease is free again.
    assert queued == [carrier.pk]
    assert cache.add(f"gluey:ingest-running:{carrier.pk}", 1, timeout=1)


@pytest.mark.django_db
def test_with_redis_webhooks_during_a_queued_drain_queue_no_other(
    redis_cache, client, monkeypatch, django_capture_on_commit_callbacks
):
    carrier = make_carrier()
    woken: list[str] = []
    monkeypatch.setattr(tasks.inbound_drain, "delay", lambda carrier_id: woken.append(carrier_id))
    for n in range(5):
        data = body(f"ONEWAKE{n}", "PCK", n)
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook(client, carrier, data)
        assert response.status_code == 202
    assert woken == [carrier.pk]  # one broker message for the batch, not one per webhook
    assert inbound_messages_drain(carrier_id=carrier.pk).processed == 5


@pytest.mark.django_db(transaction=True)
def test_with_redis_a_drain_stays_while_webhooks_arrive_and_they_queue_no_wake(
    redis_cache, settings, monkeypatch, postgres_only
):
    from django.core.cache import cache

    settings.INGEST_BATCH_WAIT_MS = 10
    settings.INGEST_DRAIN_IDLE_MS = 1500
    carrier = make_carrier()
    woken: list[str] = []
    monkeypatch.setattr(tasks.inbound_drain, "delay", lambda carrier_id: woken.append(carrier_id))
    first = store(carrier, body("STAY1", "PCK", 0))
    reports: list[inbound.Drained] = []

    def drain() -> None:
        try:
            reports.append(inbound_messages_drain(carrier_id=carrier.pk))
        finally:
            connection.close()

    thread = threading.Thread(target=drain)
    thread.start()
    deadline = time.monotonic() + 10
    while InboundMessage.objects.get(pk=first).status == InboundStatus.PENDING and time.monotonic() < deadline:
        time.sleep(0.01)
    # The drain has done its first batch and is gathering: a webhook now stores its message
    # and finds the wake flag held, so it queues no broker message; the drain takes it.
    second = inbound_message_store(carrier=carrier, channel="webhook", body=body("STAY2", "HUB", 1)).message.pk
    thread.join(20)

    assert not thread.is_alive()
    assert (reports[0].batches, reports[0].processed) == (2, 2)
    assert woken == []
    assert {pk: status for pk, (status, _, _) in statuses().items()} == {
        first: InboundStatus.PROCESSED,
        second: InboundStatus.PROCESSED,
    }
    # Gone idle, it let go of both flags: the next webhook wakes a new drain, which may run.
    assert cache.add(f"gluey:ingest-wake:{carrier.pk}", 1, timeout=1)
    assert cache.add(f"gluey:ingest-running:{carrier.pk}", 1, timeout=1)


@pytest.mark.django_db
def test_with_redis_a_drain_past_its_time_leaves_and_queues_itself_again(
    redis_cache, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.INGEST_DRAIN_MAX_SECONDS = 0  # past its time after the first batch
    carrier = make_carrier()
    for n in range(3):
        store(carrier, body(f"TURN{n}", "HUB", n))
    queued: list[str] = []
    monkeypatch.setattr(tasks.inbound_drain, "delay", lambda carrier_id: queued.append(carrier_id))
    with django_capture_on_commit_callbacks(execute=True):
        report = inbound_messages_drain(carrier_id=carrier.pk, batch_size=2)
    # One full batch, then it gives the worker back: the rest waits for the drain it queued.
    assert (report.batches, report.processed) == (1, 2)
    assert queued == [carrier.pk]
    assert sorted(status for status, _, _ in statuses().values()) == [
        InboundStatus.PENDING,
        InboundStatus.PROCESSED,
        InboundStatus.PROCESSED,
    ]


def test_the_prepared_claim_reads_the_partial_index_of_pending_messages(postgres_only):
    """The drain claims several times a second as a statement prepared once per connection, planned
    once (generic plan): only a status written into the statement lets that plan use the index of
    pending rows, whose size does not grow with the ledger."""
    from django.db import transaction

    carrier = make_carrier(carrier_id="claimplan", adapter="generic_json")
    ids = [store(carrier, body(f"CP{n}", "HUB", n)) for n in range(3)]
    with transaction.atomic():
        claimed = inbound._claim(carrier.pk, 2)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN EXECUTE gluey_inbound_claim (%s, %s)", [carrier.pk, 2])
            plan = "\n".join(row[0] for row in cursor.fetchall())
    assert [m.pk for m in claimed] == ids[:2]
    assert "inbound_pending_idx" in plan, plan


def test_marks_of_batches_of_any_size_are_one_prepared_statement(postgres_only):
    from gluey.db import PREPARED_SQL

    carrier = make_carrier(carrier_id="marks", adapter="generic_json")
    ids = [store(carrier, body(f"MK{n}", "HUB", n)) for n in range(3)]
    now = datetime.now(UTC)
    inbound._mark_processed(ids[:1], event_count=1, now=now)
    inbound._mark_processed(ids[1:], event_count=1, now=now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'gluey_inbound_processed'")
        assert cursor.fetchone()[0] == 1
    assert "ANY(" in PREPARED_SQL["gluey_inbound_processed"]
    assert {pk: status for pk, (status, _, _) in statuses().items() if pk in ids} == dict.fromkeys(ids, "processed")
