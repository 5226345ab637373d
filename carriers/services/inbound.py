"""The raw inbound ledger: store first, then parse and record, idempotently.

Every channel ends here: the webhook view, the sFTP fetch and the poller store
the bytes as an ``InboundMessage`` before anything acts on them, and
``inbound_message_process`` turns a stored message into recorded events.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from carriers.adapters.base import CarrierError
from carriers.adapters.registry import UnknownAdapter, adapter_for
from carriers.models import Carrier, InboundMessage, InboundStatus
from tracking.services import InvalidEvent, events_record

log = logging.getLogger(__name__)

# Carrier webhooks may carry up to this many bytes (DESIGN 4.4).
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
    try:
        with transaction.atomic():
            message = InboundMessage.objects.create(body=body, status=InboundStatus.PENDING, **fields)
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
        inbound_messages_enqueue(message_ids=[message.pk])
    return Stored(message=message, duplicate=False)


def inbound_messages_enqueue(*, message_ids: list[int]) -> None:
    """Queue processing after the current transaction commits (at once outside one)."""
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
    # Per tracking id, what the reply selection dropped or chose (poll answers only).
    problems: dict[str, str] = field(default_factory=dict)


def inbound_message_process(*, message_id: int, force: bool = False) -> Processed:
    """Parse a stored message and record its events; safe to call twice (or concurrently).

    A payload the adapter rejects, or events the recorder refuses, mark the
    message failed with the reason (nothing is recorded). Anything else (a
    database hiccup) propagates so the task retries; the attempt's error is
    written on the message first.

    No lock is held on the message: recording deduplicates events, so two runs
    of the same message (a retry racing the sweeper) store them once, and the
    recording transaction is the only one — a message whose status update is
    lost to a crash stays pending and is simply processed again.
    """
    message = (
        InboundMessage.objects.select_related("carrier")
        .defer("carrier__credentials", "carrier__webhook_secret")
        .get(pk=message_id)
    )
    if message.status == InboundStatus.DUPLICATE:
        return Processed(status=message.status)
    if message.status == InboundStatus.PROCESSED and not force:
        return Processed(status=message.status, events=message.event_count)
    try:
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
            carrier=message.carrier_id, events=events, channel=message.channel, inbound_message_id=message.pk
        )
    except (CarrierError, InvalidEvent, UnknownAdapter) as exc:
        error = str(exc) or type(exc).__name__
        InboundMessage.objects.filter(pk=message.pk).update(
            status=InboundStatus.FAILED, error=error[:5000], attempts=F("attempts") + 1, processed_at=timezone.now()
        )
        log.warning("inbound message %s failed: %s", message.pk, error)
        return Processed(status=InboundStatus.FAILED, error=error)
    except Exception as exc:
        InboundMessage.objects.filter(pk=message_id).update(
            error=f"attempt failed, will retry: {type(exc).__name__}: {exc}"[:5000], attempts=F("attempts") + 1
        )
        raise
    InboundMessage.objects.filter(pk=message.pk).update(
        status=InboundStatus.PROCESSED,
        error="",
        attempts=F("attempts") + 1,
        event_count=len(events),
        processed_at=timezone.now(),
        **({"problems": [{"tracking_id": k, "problem": v} for k, v in problems.items()]} if problems else {}),
    )
    return Processed(status=InboundStatus.PROCESSED, events=len(events), created=len(result.created), problems=problems)


def inbound_message_mark_failed(*, message_id: int, error: str) -> None:
    """Called when retries are exhausted: the message stays for ops to reprocess."""
    InboundMessage.objects.filter(pk=message_id, status=InboundStatus.PENDING).update(
        status=InboundStatus.FAILED, error=error[:5000], processed_at=timezone.now()
    )


def inbound_messages_reprocess(*, message_ids: list[int]) -> int:
    """Ops action: queue failed (or pending) messages again; processed and duplicates are left alone."""
    ids = list(
        InboundMessage.objects.filter(
            pk__in=message_ids, status__in=[InboundStatus.FAILED, InboundStatus.PENDING]
        ).values_list("pk", flat=True)
    )
    with transaction.atomic():
        InboundMessage.objects.filter(pk__in=ids, status=InboundStatus.FAILED).update(status=InboundStatus.PENDING)
        inbound_messages_enqueue(message_ids=ids)
    return len(ids)


def inbound_messages_sweep(
    *, older_than: timedelta = timedelta(minutes=5), now: datetime | None = None, limit: int = 1000
) -> int:
    """Re-queue pending messages a lost broker message left behind (processing is idempotent)."""
    now = now or timezone.now()
    ids = list(
        InboundMessage.objects.filter(status=InboundStatus.PENDING, received_at__lt=now - older_than)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    inbound_messages_enqueue(message_ids=ids)
    return len(ids)
