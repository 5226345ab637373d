"""The raw inbound ledger: store first, then parse and record, idempotently.

Every channel ends here: the webhook view, the sFTP fetch and the poller store
the bytes as an ``InboundMessage`` before anything acts on them, and
``inbound_message_process`` turns a stored message into recorded events.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, Field
from django.utils import timezone

from carriers.adapters.base import CarrierError, parse_problems
from carriers.adapters.registry import UnknownAdapter, adapter_for
from carriers.models import Carrier, InboundMessage, InboundStatus
from gluey.db import pg_array, statement_rows
from tracking.services import InvalidEvent, events_record
from tracking.types import CarrierEvent

log = logging.getLogger(__name__)

# Carrier webhooks may carry up to this many bytes (docs/architecture.md, "Inbound carrier webhooks").
MAX_WEBHOOK_BYTES = 5 * 1024 * 1024


@dataclass
class Stored:
    message: InboundMessage
    duplicate: bool
    # For a duplicate: the first message with the same body.
    original: InboundMessage | None = None


def inbound_message_store(
    *,
    carrier: Carrier,
    channel: str,
    body: bytes,
    parser: str = "",
    content_type: str = "",
    filename: str = "",
    process: bool = True,
    asked: dict[str, dict[str, str]] | None = None,
) -> Stored:
    """Store raw bytes; the same body again for the carrier is kept as a duplicate row.

    With ``process`` the message is queued for processing once the surrounding
    transaction commits. A repeat of a body whose first delivery failed queues
    that first message again (the carrier is retrying; maybe we fixed the cause).
    """
    digest = hashlib.sha256(body).hexdigest()
    fields = {
        "carrier": carrier,
        "channel": channel,
        "parser": parser or carrier.adapter,
        "content_type": content_type[:100],
        "filename": filename[:500],
        "sha256": digest,
        "size": len(body),
        "asked": asked or {},
    }
    message = InboundMessage(body=body, status=InboundStatus.PENDING, received_at=timezone.now(), **fields)
    try:
        _insert(message)
    except IntegrityError:
        original = (
            InboundMessage.objects.filter(carrier=carrier, sha256=digest)
            .exclude(status=InboundStatus.DUPLICATE)
            .only("id", "status")
            .first()
        )
        if original is None:  # the original vanished between our insert and this read: retry once
            return inbound_message_store(
                carrier=carrier,
                channel=channel,
                body=body,
                parser=parser,
                content_type=content_type,
                filename=filename,
                process=process,
                asked=asked,
            )
        duplicate = InboundMessage.objects.create(
            body=b"",
            status=InboundStatus.DUPLICATE,
            duplicate_of=original,
            processed_at=timezone.now(),
            **fields,
        )
        if process and original.status == InboundStatus.FAILED:
            inbound_messages_enqueue(message_ids=[original.pk])
        return Stored(message=duplicate, duplicate=True, original=original)
    if process:
        inbound_drain_wake(carrier_id=carrier.pk)
    return Stored(message=message, duplicate=False)


def _insert(message: InboundMessage) -> None:
    """INSERT the row: a statement of its own, committed as it returns, unless the caller holds a transaction.

    The webhook's acknowledgment waits for this commit (docs/architecture.md, "Inbound carrier
    webhooks"); one plain INSERT is a third of the round trips of BEGIN, INSERT, COMMIT and
    half the CPU of ``Model.save``. Inside a caller's transaction it runs in a savepoint, so a
    duplicate body (IntegrityError) leaves that transaction usable.
    """
    connection = connections[router.db_for_write(InboundMessage)]
    fields, sql = _insert_sql(connection.alias)
    params = [field.get_db_prep_save(getattr(message, field.attname), connection) for field in fields]
    returning = connection.features.can_return_columns_from_insert
    savepoint = transaction.atomic(using=connection.alias) if connection.in_atomic_block else nullcontext()
    with savepoint, connection.cursor() as cursor:
        cursor.execute(sql, params)
        message.pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    message._state.adding = False
    message._state.db = connection.alias


@functools.cache
def _insert_sql(alias: str) -> tuple[list[Field[Any, Any]], str]:
    connection = connections[alias]
    fields = [field for field in InboundMessage._meta.concrete_fields if not field.primary_key]
    sql = "INSERT INTO {} ({}) VALUES ({}){}".format(
        connection.ops.quote_name(InboundMessage._meta.db_table),
        ", ".join(connection.ops.quote_name(str(field.column)) for field in fields),
        ", ".join(["%s"] * len(fields)),
        " RETURNING id" if connection.features.can_return_columns_from_insert else "",
    )
    return fields, sql


def _wake_flag(carrier_id: str) -> str:
    return f"gluey:ingest-wake:{carrier_id}"


def _wakes_deduplicated() -> bool:
    # Only a shared cache (Redis) lets every web process see the flag; with the
    # database cache, checking it would cost the write the cheap ack avoids.
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


def inbound_drain_wake(*, carrier_id: str) -> None:
    """Make sure a drain of this carrier's pending messages runs after the current transaction commits.

    One broker message per batch, not per webhook: while a wake is queued or
    its drain runs (its flag is set in Redis), further messages need none — the
    drain holds the flag while it runs, clears it when it leaves and then looks
    for pending messages once more, so a message committed before the flag was
    seen set is always found. Without Redis every
    message queues a wake; a drain that finds nothing is cheap.
    """
    from carriers.tasks import inbound_drain

    def wake() -> None:
        if _wakes_deduplicated() and not cache.add(_wake_flag(carrier_id), 1, timeout=settings.INGEST_WAKE_SECONDS):
            return
        inbound_drain.delay(carrier_id)

    # robust: a broker or cache outage must not turn a stored (durable) message into an
    # error answer; the sweeper wakes the carrier again later.
    transaction.on_commit(wake, robust=True)


@dataclass
class Drained:
    batches: int = 0
    processed: int = 0
    failed: int = 0
    handed_over: int = 0
    skipped: bool = False  # another drain of the carrier was running


def inbound_messages_drain(*, carrier_id: str, batch_size: int | None = None, max_batches: int = 1000) -> Drained:
    """Process the carrier's pending messages in batches until none is left (the ingest worker's loop).

    Each batch is one transaction: claim up to ``batch_size`` pending messages
    (SKIP LOCKED, so two workers take disjoint batches), parse each, record all
    their events with one ``events_record`` call, mark them in bulk. A worker
    killed mid-batch rolls the whole batch back; its messages stay pending for
    the next drain. A message that fails fails alone: a payload the adapter
    rejects is marked failed and the rest go on; a batch the recorder refuses
    is recorded again one message at a time, each in its own savepoint.
    Anything unexpected (a database error, a bug) hands the batch over to the
    one-at-a-time task, which retries each message with its own back-off.

    With Redis, one drain per carrier runs at a time (a lease of
    ``DRAIN_LEASE_SECONDS``, renewed as it goes; a killed worker's lease runs
    out), and it stays while messages keep arriving: after a batch that was not
    full it claims again ``INGEST_BATCH_WAIT_MS`` after its last claim, and leaves
    after ``INGEST_DRAIN_IDLE_MS`` without a message or ``INGEST_DRAIN_MAX_SECONDS``
    in all. So under a steady stream the cost of a batch (the claim, the marks,
    the commit) is shared by the messages of a few milliseconds, and no broker
    message is needed per batch: while it runs it holds the carrier's wake flag
    set, so webhooks queue no wake. On leaving it clears the lease and the flag
    in one step, then looks for pending messages once more: a message whose
    wake found the flag set committed before that, so the look finds it and
    queues another drain.
    """
    shared = _wakes_deduplicated()
    if shared:
        # One drain per carrier at a time (with Redis): a second one would take the few
        # messages that arrived meanwhile as a batch of its own and wait on the first's
        # shipment locks; the running drain takes them into its next, larger batch.
        if not cache.add(_running_flag(carrier_id), 1, timeout=DRAIN_LEASE_SECONDS):
            return Drained(skipped=True)
        cache.set(_wake_flag(carrier_id), 1, timeout=settings.INGEST_WAKE_SECONDS)
    try:
        report = _drain(carrier_id, batch_size or settings.INGEST_BATCH_SIZE, max_batches, linger=shared)
    finally:
        if shared:
            # One step: a webhook finding neither flag queues a drain that can run.
            cache.delete_many([_running_flag(carrier_id), _wake_flag(carrier_id)])
    if shared and _pending(carrier_id):
        # A message committed after our last claim, whose wake found us running: go again.
        _enqueue_drain(carrier_id)
    return report


def _enqueue_drain(carrier_id: str) -> None:
    from carriers.tasks import inbound_drain

    transaction.on_commit(lambda: inbound_drain.delay(carrier_id), robust=True)


DRAIN_LEASE_SECONDS = settings.INGEST_DRAIN_LEASE_SECONDS


def _running_flag(carrier_id: str) -> str:
    return f"gluey:ingest-running:{carrier_id}"


def _pending(carrier_id: str) -> bool:
    return InboundMessage.objects.filter(
        carrier_id=carrier_id, channel="webhook", status=InboundStatus.PENDING, attempts=0
    ).exists()


def _drain(carrier_id: str, size: int, max_batches: int, *, linger: bool) -> Drained:
    """Claim and process batches; with ``linger``, keep gathering while messages arrive (see above)."""
    report = Drained()
    carrier: Carrier | None = None  # read once per drain, on its first batch
    started = last_found = renewed = time.monotonic()
    gather = max(settings.INGEST_BATCH_WAIT_MS, 1) / 1000
    idle = settings.INGEST_DRAIN_IDLE_MS / 1000 if linger else 0.0
    until = started + settings.INGEST_DRAIN_MAX_SECONDS
    for _ in range(max_batches):
        claimed: list[int] = []
        processed = failed = 0
        claiming = time.monotonic()
        try:
            with transaction.atomic():
                batch = _claim(carrier_id, size)
                claimed = [m.pk for m in batch]
                if batch:
                    if carrier is None:
                        carrier = Carrier.objects.defer("credentials", "webhook_secret").get(pk=carrier_id)
                    processed, failed = _process_batch(carrier, batch)
        except Exception as exc:
            if not claimed:
                raise
            _hand_over(claimed, exc)
            report.handed_over += len(claimed)
            continue
        now = time.monotonic()
        if claimed:
            report.batches += 1
            report.processed += processed
            report.failed += failed
            last_found = now
        full = len(claimed) >= size
        if (not full and now - last_found >= idle) or now >= until:
            break
        if linger and now - renewed >= _RENEW_SECONDS:
            cache.touch(_running_flag(carrier_id), DRAIN_LEASE_SECONDS)
            cache.set(_wake_flag(carrier_id), 1, timeout=settings.INGEST_WAKE_SECONDS)
            renewed = now
        if not full:
            # Claim at most once per ``gather``: the webhooks of that time make one batch. A batch
            # that took longer has let the next ones arrive already, so claim again at once.
            time.sleep(max(0.0, claiming + gather - time.monotonic()))
    return report


# How often a lingering drain renews its lease and holds the wake flag (under INGEST_WAKE_SECONDS).
_RENEW_SECONDS = min(0.5, settings.INGEST_WAKE_SECONDS / 4)


class _Claimed(NamedTuple):
    pk: int
    channel: str
    parser: str
    body: bytes


def _claim(carrier_id: str, size: int) -> list[_Claimed]:
    """Lock up to ``size`` of the carrier's pending webhook messages, oldest first, skipping locked ones.

    Webhooks only: an sFTP file or a poll answer is processed by the run that fetched it.
    attempts = 0: a message that already failed once is retried one at a time, with back-off.
    Plain SQL on the partial index of pending rows; on PostgreSQL prepared once per connection,
    as the drain runs it several times a second (planning it cost twice its execution).
    """
    connection = connections[router.db_for_write(InboundMessage)]
    lock = ""
    if connection.features.has_select_for_update:
        lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else " FOR UPDATE"
    # The status is written out, not a parameter: a prepared statement's plan must see it to use the
    # partial index of pending rows.
    sql = (
        f"SELECT id, channel, parser, body FROM {connection.ops.quote_name(InboundMessage._meta.db_table)} "
        f"WHERE carrier_id = %s AND status = '{InboundStatus.PENDING.value}' AND channel = 'webhook' "
        f"AND attempts = 0 ORDER BY id LIMIT %s{lock}"
    )
    rows = statement_rows("gluey_inbound_claim", sql, [carrier_id, size], using=connection.alias)
    return [_Claimed(pk, channel, parser, bytes(body)) for pk, channel, parser, body in rows]


def _process_batch(row: Carrier, batch: list[_Claimed]) -> tuple[int, int]:
    """Parse, record and mark one claimed batch inside the caller's transaction; returns (processed, failed)."""
    carrier = row.pk
    parsed: dict[int, list[CarrierEvent]] = {}
    errors: dict[int, str] = {}
    for message in batch:
        try:
            parsed[message.pk] = adapter_for(row, message.parser or None).parse(message.body)
        except (CarrierError, UnknownAdapter) as exc:
            errors[message.pk] = str(exc) or type(exc).__name__
    by_channel: dict[str, list[_Claimed]] = defaultdict(list)
    for message in batch:
        if message.pk in parsed:
            by_channel[message.channel].append(message)
    for channel, messages in by_channel.items():
        try:
            with transaction.atomic():
                _record(carrier, channel, [(m.pk, parsed[m.pk]) for m in messages])
        except InvalidEvent:
            # One message's events are refused: find it, and record the others.
            for message in messages:
                try:
                    with transaction.atomic():
                        _record(carrier, channel, [(message.pk, parsed[message.pk])])
                except InvalidEvent as exc:
                    errors[message.pk] = str(exc) or type(exc).__name__
    now = timezone.now()
    by_count: dict[int, list[int]] = defaultdict(list)
    for pk, events in parsed.items():
        if pk not in errors:
            by_count[len(events)].append(pk)
    for count, pks in by_count.items():
        _mark_processed(pks, event_count=count, now=now)
    for pk, error in errors.items():
        InboundMessage.objects.filter(pk=pk).update(
            status=InboundStatus.FAILED, error=error[:5000], attempts=F("attempts") + 1, processed_at=now
        )
        log.warning("inbound message %s failed: %s", pk, error)
    return len(batch) - len(errors), len(errors)


def _mark_processed(pks: list[int], *, event_count: int, now: datetime) -> None:
    """Mark claimed messages processed: one plain UPDATE per batch (as the ORM's, without building it
    each time); on PostgreSQL one prepared statement whatever the batch's size (the ids as an array)."""
    connection = connections[router.db_for_write(InboundMessage)]
    table = connection.ops.quote_name(InboundMessage._meta.db_table)
    assign = (
        f"UPDATE {table} SET status = '{InboundStatus.PROCESSED.value}', error = '', attempts = attempts + 1, "
        "event_count = %s, processed_at = %s WHERE id "
    )
    stamp = connection.ops.adapt_datetimefield_value(now)
    ids: list[Any] = list(pks)
    where = f"IN ({', '.join(['%s'] * len(pks))})"
    if connection.vendor == "postgresql":
        where, ids = "= ANY(%s::bigint[])", [pg_array(pks, "bigint")]
    statement_rows("gluey_inbound_processed", assign + where, [event_count, stamp, *ids], using=connection.alias)


def _record(carrier_id: str, channel: str, messages: list[tuple[int, list[CarrierEvent]]]) -> None:
    """One ``events_record`` call for the events of several messages, in carrier-time order."""
    pairs = sorted(((event, pk) for pk, events in messages for event in events), key=lambda pair: pair[0].occurred_at)
    events_record(
        carrier=carrier_id, events=[e for e, _ in pairs], channel=channel, message_ids=[pk for _, pk in pairs]
    )


def _hand_over(message_ids: list[int], exc: Exception) -> None:
    """A batch failed for an unexpected reason: each of its messages goes on alone, with retries."""
    log.warning("inbound batch of %d messages failed, processing them one at a time: %s", len(message_ids), exc)
    with transaction.atomic():
        InboundMessage.objects.filter(pk__in=message_ids, status=InboundStatus.PENDING).update(
            error=f"batch attempt failed, retrying alone: {type(exc).__name__}: {exc}"[:5000],
            attempts=F("attempts") + 1,
        )
        inbound_messages_enqueue(message_ids=message_ids)


def inbound_messages_enqueue(*, message_ids: list[int]) -> None:
    """Queue one-at-a-time processing after the current transaction commits (at once outside one).

    For messages the drain will not take: a failed message being retried, one
    an ops user reprocesses, or one whose batch failed for an unexpected reason.
    """
    from carriers.tasks import inbound_process

    def enqueue(message_id: int) -> Callable[[], object]:
        return lambda: inbound_process.delay(message_id)

    for message_id in message_ids:
        # robust: a broker outage must not turn a stored (durable) message into an error
        # answer; the sweeper queues it again later. (A lambda, not a partial: Django
        # names the failed callback by its __qualname__.)
        transaction.on_commit(enqueue(message_id), robust=True)


@dataclass
class Processed:
    status: str
    events: int = 0
    created: int = 0
    error: str = ""
    # Per tracking id asked (poll answers only): what the reply selection dropped or chose, and the
    # elements parse left out.
    problems: dict[str, str] = field(default_factory=dict)


def _per_number(reasons: list[str], asked: list[str]) -> dict[str, str]:
    """Which asked number each left-out element was about: the one its reason names, or the only one asked."""
    found: dict[str, list[str]] = {}
    for reason in reasons:
        named = [number for number in asked if number in reason] or (asked if len(asked) == 1 else [])
        for number in named:
            found.setdefault(number, []).append(reason)
    return {number: "left out: " + "; ".join(found[number]) for number in found}


def inbound_message_process(*, message_id: int, force: bool = False) -> Processed:
    """Parse a stored message and record its events; safe to call twice (or concurrently).

    A payload the adapter rejects, or events the recorder refuses, mark the
    message failed with the reason (nothing is recorded). Anything else (a
    database hiccup) propagates so the task retries; the attempt's error is
    written on the message first.

    The message row is locked for the one transaction that records its events
    and marks it, so a drain (which skips locked rows) or a second run never
    processes it at the same time; whoever comes second sees it processed. A
    run lost to a crash rolls back and leaves the message pending.
    """
    try:
        with transaction.atomic():
            message = (
                InboundMessage.objects.select_for_update(of=("self",))
                .select_related("carrier")
                .defer("carrier__credentials", "carrier__webhook_secret")
                .get(pk=message_id)
            )
            if message.status == InboundStatus.DUPLICATE:
                return Processed(status=message.status)
            if message.status == InboundStatus.PROCESSED and not force:
                return Processed(status=message.status, events=message.event_count)
            try:
                with transaction.atomic():
                    adapter = adapter_for(message.carrier, message.parser or None)
                    body = bytes(message.body)
                    problems: dict[str, str] = {}
                    if message.asked:
                        # A poll answer: keep only what is about the numbers asked (a carrier
                        # may answer about another shipment, or several sharing the number).
                        selection = adapter.select_reply(body, message.asked)
                        body, problems = selection.body, dict(selection.problems)
                    events = adapter.parse(body)
                    result = events_record(
                        carrier=message.carrier_id,
                        events=events,
                        channel=message.channel,
                        inbound_message_id=message.pk,
                    )
            except (CarrierError, InvalidEvent, UnknownAdapter) as exc:
                error = str(exc) or type(exc).__name__
                InboundMessage.objects.filter(pk=message.pk).update(
                    status=InboundStatus.FAILED,
                    error=error[:5000],
                    attempts=F("attempts") + 1,
                    processed_at=timezone.now(),
                )
                log.warning("inbound message %s failed: %s", message.pk, error)
                return Processed(status=InboundStatus.FAILED, error=error)
            # Elements the adapter had to leave out (an event without a time...): the rest is recorded, the reasons kept.
            left_out = parse_problems(events)
            # Per asked number, for the poller to flag on each: what selection chose and what parse left out.
            flags = dict(problems)
            if message.asked:
                for number, reason in _per_number(left_out, list(message.asked)).items():
                    flags[number] = f"{flags[number]}; {reason}" if number in flags else reason
            stored_problems = [{"tracking_id": k, "problem": v} for k, v in problems.items()]
            stored_problems += [{"problem": reason} for reason in left_out]
            InboundMessage.objects.filter(pk=message.pk).update(
                status=InboundStatus.PROCESSED,
                error="; ".join(left_out)[:5000],
                attempts=F("attempts") + 1,
                event_count=len(events),
                processed_at=timezone.now(),
                **({"problems": stored_problems} if stored_problems else {}),
            )
    except InboundMessage.DoesNotExist:
        raise
    except Exception as exc:
        InboundMessage.objects.filter(pk=message_id).update(
            error=f"attempt failed, will retry: {type(exc).__name__}: {exc}"[:5000], attempts=F("attempts") + 1
        )
        raise
    return Processed(status=InboundStatus.PROCESSED, events=len(events), created=len(result.created), problems=flags)


def inbound_message_mark_failed(*, message_id: int, error: str) -> None:
    """Called when retries are exhausted: the message stays for ops to reprocess."""
    InboundMessage.objects.filter(pk=message_id, status=InboundStatus.PENDING).update(
        status=InboundStatus.FAILED, error=error[:5000], processed_at=timezone.now()
    )


def inbound_messages_reprocess(*, message_ids: list[int], force: bool = False) -> int:
    """Ops action: queue failed (or pending) messages again; duplicates are left alone, and processed
    ones too unless ``force`` (processing is idempotent: events already stored are not stored twice)."""
    statuses = [InboundStatus.FAILED, InboundStatus.PENDING] + ([InboundStatus.PROCESSED] if force else [])
    ids = list(InboundMessage.objects.filter(pk__in=message_ids, status__in=statuses).values_list("pk", flat=True))
    with transaction.atomic():
        InboundMessage.objects.filter(pk__in=ids, status__in=[InboundStatus.FAILED, InboundStatus.PROCESSED]).update(
            status=InboundStatus.PENDING
        )
        inbound_messages_enqueue(message_ids=ids)
    return len(ids)


def inbound_messages_sweep(
    *, older_than: timedelta = timedelta(minutes=5), now: datetime | None = None, limit: int = 1000
) -> int:
    """Re-queue pending messages a lost broker message left behind (processing is idempotent).

    Webhooks never tried wake their carrier's drain; anything else (a message
    already tried once, an sFTP file or poll answer whose run died) goes to the
    one-at-a-time task. Returns how many were stranded.
    """
    now = now or timezone.now()
    rows = list(
        InboundMessage.objects.filter(status=InboundStatus.PENDING, received_at__lt=now - older_than)
        .order_by("received_at")
        .values_list("pk", "carrier_id", "channel", "attempts")[:limit]
    )
    drained = [(pk, carrier) for pk, carrier, channel, attempts in rows if channel == "webhook" and attempts == 0]
    for carrier_id in sorted({carrier for _, carrier in drained}):
        inbound_drain_wake(carrier_id=carrier_id)
    alone = {pk for pk, _ in drained}
    inbound_messages_enqueue(message_ids=[pk for pk, *_ in rows if pk not in alone])
    return len(rows)
