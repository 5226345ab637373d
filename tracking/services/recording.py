"""The one recording service every channel (webhook, sFTP, polling, manual) uses.

``events_record`` runs in one transaction with a constant number of statements
per batch whatever its size: lock the tracked items (creating missing ones) and
insert events (one statement on PostgreSQL; harmonised by the insert itself
from the mapping table; ON CONFLICT DO NOTHING RETURNING, so only rows we
created come back), count
unmapped codes, move current states forward, read the shipments and parcels
of followed items, and send ``events_recorded`` for the outbox. The SQL of each
step, in both dialects, is in ``tracking.db``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.conf import settings
from django.db import connection, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from tracking import db
from tracking.models import ItemHistory, TrackedItem, TrackingEvent
from tracking.representations import track_event_json, track_event_tail
from tracking.selectors import EventRow
from tracking.signals import events_recorded
from tracking.state_rules import fold_state
from tracking.types import CarrierEvent, ImageFormat, LocationType, ParcelCondition

_CONDITIONS = tuple(c.value for c in ParcelCondition)
_IMAGE_FORMATS = tuple(f.value for f in ImageFormat)
_LOCATION_TYPES = tuple(t.value for t in LocationType)


class InvalidEvent(ValueError):
    """A CarrierEvent that cannot be recorded (names the field)."""


@dataclass
class RecordResult:
    created: list[TrackingEvent] = field(default_factory=list)
    duplicates: int = 0
    unmapped: int = 0


def _dedupe_key(event: CarrierEvent) -> int:
    when = event.occurred_at.astimezone(UTC).isoformat()
    raw = "\x1f".join((event.code, event.sub_code or "", when, event.location.dedupe_key()))
    return int.from_bytes(hashlib.sha256(raw.encode()).digest()[:8], "big", signed=True)


def _validate(event: CarrierEvent, index: int) -> None:
    if not event.tracking_id or len(event.tracking_id) > 64:
        raise InvalidEvent(f"event {index}: tracking_id must be 1–64 characters")
    if not event.code or len(event.code) > 64:
        raise InvalidEvent(f"event {index}: code must be 1–64 characters")
    if len(event.sub_code or "") > 64:
        raise InvalidEvent(f"event {index}: sub_code must be at most 64 characters")
    if not isinstance(event.occurred_at, datetime) or event.occurred_at.utcoffset() is None:
        raise InvalidEvent(f"event {index}: occurred_at must be a timezone-aware datetime")
    if event.eta is not None and (not isinstance(event.eta, datetime) or event.eta.utcoffset() is None):
        raise InvalidEvent(f"event {index}: eta must be a timezone-aware datetime")
    if event.condition and event.condition not in _CONDITIONS:
        raise InvalidEvent(f"event {index}: condition must be one of {', '.join(_CONDITIONS)}")
    if event.photo_format and event.photo_format not in _IMAGE_FORMATS:
        raise InvalidEvent(f"event {index}: photo_format must be one of {', '.join(_IMAGE_FORMATS)}")
    if event.location.type and event.location.type not in _LOCATION_TYPES:
        raise InvalidEvent(f"event {index}: location type must be one of {', '.join(_LOCATION_TYPES)}")
    for name, when in (("occurred_at", event.occurred_at), ("eta", event.eta)):
        if when is None:
            continue
        try:
            when.astimezone(UTC)
        except OverflowError:
            # Year 1 at +14:00 is before the first instant a datetime holds in UTC (9999 at -14:00 after the last).
            raise InvalidEvent(f"event {index}: {name} {when.isoformat()} is out of range in UTC") from None
    # PostgreSQL stores no NUL in text or jsonb: refuse it here rather than fail the transaction.
    loc = event.location
    texts = (
        event.tracking_id,
        event.code,
        event.sub_code or "",
        event.description or "",
        event.signed_by or "",
        event.shipping_cost_currency,
        event.photo_format,
        event.new_tracking_id,
        event.new_tracking_url,
        loc.city,
        loc.postal_code,
        loc.iso_country,
        loc.state,
        loc.street,
        loc.name,
        loc.code,
        loc.code_type,
        loc.description,
        *(key + value for key, value in event.meta),
    )
    joined = "".join(texts)
    if "\x00" in joined:
        raise InvalidEvent(f"event {index}: text contains a NUL character, which cannot be stored")
    if not joined.isascii():
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidEvent(
                f"event {index}: text contains a lone surrogate (U+{ord(joined[exc.start]):04X}), which is not a character"
            ) from None


def events_check(*, events: Sequence[CarrierEvent]) -> None:
    """Raise InvalidEvent naming the first event recording would refuse (cheap: no database)."""
    for index, event in enumerate(events):
        _validate(event, index)


def _offset_minutes(when: datetime) -> int:
    offset = when.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def event_other(event: CarrierEvent) -> dict[str, object]:
    """The stored ``other`` of an event: only what the carrier gave (see tracking.representations)."""
    other: dict[str, object] = {}
    if event.eta is not None:
        other["eta_offset_minutes"] = _offset_minutes(event.eta)
    if event.condition:
        other["condition"] = event.condition
    if event.dimensions_cm is not None:
        other["dimensions_cm"] = list(event.dimensions_cm)
    for name in ("shipping_cost", "co2_footprint_kg"):
        if getattr(event, name) is not None:
            other[name] = getattr(event, name)
    for name in ("shipping_cost_currency", "photo_base64", "photo_format", "new_tracking_id", "new_tracking_url"):
        if getattr(event, name):
            other[name] = getattr(event, name)
    return other


def _event_from_row(pk: int, row: dict[str, object], **harmonised: object) -> TrackingEvent:
    """Build the model object for a row we just inserted without Model.__init__.

    Every value is already the field's Python value (the row's keys are the
    attribute names; ``harmonised`` is what the insert looked up), so the
    per-field work of __init__ is pure overhead on thousands of events a batch.
    """
    event = TrackingEvent.__new__(TrackingEvent)
    event.__dict__.update(row)
    for name in ("track_tail", "tracking_id"):  # not fields: the insert stored the tail inside track_json
        del event.__dict__[name]
    event.__dict__.update(harmonised)
    event.id = pk
    event.corrected_at = None  # not an inserted column: a new event is never a correction
    event._state = ModelState()
    event._state.adding = False
    event._state.db = "default"
    return event


def _count_unmapped(carrier_id: str, created: list[TrackingEvent], now: datetime) -> int:
    counts: dict[tuple[str, str], tuple[int, str]] = {}
    for event in created:
        if event.unmapped:
            key = (event.carrier_code, event.carrier_sub_code)
            count, _ = counts.get(key, (0, ""))
            counts[key] = (count + 1, event.carrier_text)
    if counts:
        db.unmapped_codes_add(carrier_id=carrier_id, counts=counts, now=now)
    return sum(c for c, _ in counts.values())


def _advance_states(
    created: list[TrackingEvent],
    current: dict[int, tuple[datetime | None, str, str]],
    now: datetime,
    kept: Collection[int],
) -> None:
    """Move each item's state to its newest new event that may move it (tracking/state_rules.py).

    The items are locked, so ``current`` (item id → status time, milestone,
    code) is exact; new events have higher ids than anything stored, so on a
    tie in carrier time the new event wins ("ties: the later recorded"). A
    late, older event changes nothing.
    """
    by_item: dict[int, list[TrackingEvent]] = defaultdict(list)
    for event in created:  # ascending id
        by_item[event.tracked_item_id].append(event)
    changed: list[TrackingEvent] = []
    stale: list[int] = []
    for item_id, events in by_item.items():
        status_at, milestone, code = current.get(item_id, (None, "", ""))
        events.sort(key=lambda e: e.occurred_at)  # stable: ids stay ascending within a tie
        chosen = fold_state(events, current=(milestone, code), current_at=status_at)
        if chosen is None:
            stale.append(item_id)
        else:
            changed.append(chosen)
    db.tracked_items_set_state(
        events=changed, touched=stale, now=now, history_fields=EventRow._fields, history_items=kept
    )


def tracked_items_refresh_state(*, item_ids: Iterable[int]) -> None:
    """Recompute current states from the stored history (after re-harmonisation), by the same rules."""
    item_ids = sorted(set(item_ids))
    if not item_ids:
        return
    history: dict[int, list[TrackingEvent]] = {item_id: [] for item_id in item_ids}
    events = (
        TrackingEvent.objects.filter(tracked_item_id__in=db.ids_in(set(item_ids)))
        .order_by("tracked_item_id", "occurred_at", "id")
        .only("id", "tracked_item_id", "milestone", "code", "sub_code", "unmapped", "estimate", "occurred_at")
    )
    for event in events.iterator(chunk_size=2000):
        history[event.tracked_item_id].append(event)
    items = []
    for item_id, stored in history.items():
        chosen = fold_state(stored, current=("", ""), current_at=None)
        items.append(
            TrackedItem(
                id=item_id,
                current_event_id=chosen.id if chosen else None,
                status_milestone=chosen.milestone if chosen else "",
                status_code=chosen.code if chosen else "",
                status_sub_code=chosen.sub_code if chosen else "",
                status_at=chosen.occurred_at if chosen else None,
            )
        )
    TrackedItem.objects.bulk_update(
        items, ["current_event_id", "status_milestone", "status_code", "status_sub_code", "status_at"], batch_size=2000
    )


def events_render(*, event_ids: Iterable[int] | None = None, every: bool = False, chunk_size: int = 2000) -> int:
    """Render and store ``track_json`` of these events; without ``event_ids``, of every event stored
    without it (or, ``every``, of every event). Returns how many. Each chunk of ids commits alone,
    so a long run holds no lock for long and a large table is walked by id, never loaded whole.

    Recording renders every event it stores; this is for events whose codes changed
    (``events_reharmonise``), rows written before the column existed, and a taxonomy
    whose descriptions were edited (``manage.py events_render --all``).
    """
    ids = sorted(set(event_ids)) if event_ids is not None else None
    done = after = 0
    while True:
        if ids is None:
            pending = TrackingEvent.objects.filter(id__gt=after).order_by("id")
            if not every:
                pending = pending.filter(track_json__isnull=True)
            chunk = list(pending.values_list("id", flat=True)[:chunk_size])
            after = chunk[-1] if chunk else after
        else:
            chunk, ids = ids[:chunk_size], ids[chunk_size:]
        if not chunk:
            return done
        with transaction.atomic():
            # The items' locks first, as recording takes them: their histories are rewritten below.
            item_ids = set(TrackingEvent.objects.filter(id__in=chunk).values_list("tracked_item_id", flat=True))
            _items_lock(item_ids)
            events = list(TrackingEvent.objects.filter(id__in=chunk).order_by("id").select_for_update())
            for event in events:
                event.track_json = track_event_json(event)
            TrackingEvent.objects.bulk_update(events, ["track_json"], batch_size=500)
            item_histories_write(item_ids)
        done += len(events)


def _items_lock(item_ids: Iterable[int]) -> None:
    """Take the tracked items' row locks in id order, as recording takes them."""
    list(TrackedItem.objects.filter(id__in=set(item_ids)).order_by("id").select_for_update().values_list("id"))


def item_histories_write(item_ids: Iterable[int]) -> None:
    """Rewrite the stored histories (ItemHistory) of these tracked items from their events, under
    their row locks (taken here if the transaction does not hold them yet), so a recording of
    one of them either comes before and is seen, or waits and keeps the history itself."""
    ids = set(item_ids)
    _items_lock(ids)
    db.item_histories_refresh(ids, fields=EventRow._fields)


def item_histories_fill(*, chunk_size: int = 1000) -> int:
    """Write the missing ItemHistory of every tracked item registered once (PostgreSQL; empty
    for one without events): items recorded before the table existed, or before registering
    wrote empty ones, registered other than by ``shipment_register``, or whose events were
    written other than by recording.
    Walks the items by id in chunks, each committed alone. Returns how many were written.

    Reads never need it to be right, only to be fast: the events of an item without a history
    are read with a second statement.
    """
    if connection.vendor != "postgresql":
        return 0
    done = after = 0
    while True:
        chunk = list(TrackedItem.objects.filter(id__gt=after).order_by("id").values_list("id", flat=True)[:chunk_size])
        if not chunk:
            return done
        after = chunk[-1]
        kept = set(ItemHistory.objects.filter(tracked_item_id__in=chunk).values_list("tracked_item_id", flat=True))
        missing = set(chunk) - kept
        if not missing:
            continue
        with transaction.atomic():
            item_histories_write(missing)
        done += ItemHistory.objects.filter(tracked_item_id__in=missing).count()


def _row(
    event: CarrierEvent,
    *,
    key: int,
    carrier_id: str,
    now: datetime,
    channel: str,
    inbound_message_id: int | None,
) -> dict[str, object]:
    """The stored form of one carrier event, keyed by ``tracking.db.INPUT_COLUMNS`` with the
    tracking id in place of the item and transaction ids (``tracking.db.events_store`` adds those).

    The harmonised status is not here: the insert looks it up (``tracking.db.events_store``)
    and puts it in front of ``track_tail``, the rest of the event as the track API shows it.
    """
    row: dict[str, object] = {
        "tracking_id": event.tracking_id,
        "carrier_id": carrier_id,
        "dedupe_key": key,
        "carrier_code": event.code,
        "carrier_sub_code": event.sub_code or "",
        "carrier_text": event.description or "",
        "estimate": event.estimate,
        "occurred_at": event.occurred_at,
        "utc_offset_minutes": _offset_minutes(event.occurred_at),
        "recorded_at": now,
        "location": event.location.as_dict(),
        "eta": event.eta,
        "signed_by": event.signed_by or "",
        "weight_kg": event.weight_kg,
        "carrier_meta": [{"key": k, "value": v} for k, v in event.meta],
        "channel": channel,
        "inbound_message_id": inbound_message_id,
        "other": event_other(event),
    }
    row["track_tail"] = track_event_tail(SimpleNamespace(**row))  # type: ignore[arg-type]
    return row


def events_record(
    *,
    carrier: object,
    events: Sequence[CarrierEvent],
    channel: str,
    inbound_message_id: int | None = None,
    message_ids: Sequence[int | None] | None = None,
    now: datetime | None = None,
) -> RecordResult:
    """Harmonise, deduplicate and store events; update current states; notify.

    ``carrier`` is a Carrier or its id. Raises InvalidEvent (nothing stored) if
    any event is unusable, so a bad payload is rejected whole, never half-kept.
    Events of several inbound messages are recorded in one call (a micro-batch)
    with ``message_ids``, the inbound message of each event in the same order.
    """
    if message_ids is not None and len(message_ids) != len(events):
        raise ValueError("message_ids must name the inbound message of every event")
    carrier_id = carrier if isinstance(carrier, str) else carrier.pk  # type: ignore[attr-defined]
    for index, event in enumerate(events):
        _validate(event, index)
    sources = message_ids if message_ids is not None else [inbound_message_id] * len(events)
    unique: dict[tuple[str, int], tuple[CarrierEvent, int | None]] = {}
    for event, source in zip(events, sources):
        unique.setdefault((event.tracking_id, _dedupe_key(event)), (event, source))
    result = RecordResult(duplicates=len(events) - len(unique))
    if not unique:
        return result
    now = now or timezone.now()

    with transaction.atomic():
        rows = [
            _row(event, key=key, carrier_id=carrier_id, now=now, channel=channel, inbound_message_id=source)
            for (_, key), (event, source) in unique.items()
        ]
        items, inserted, _ = db.events_store(
            carrier_id=carrier_id,
            rows=rows,
            created_at=now,
            expires_at=now + timedelta(days=settings.UNREGISTERED_RETENTION_DAYS),
        )
        by_key = {(r["tracked_item_id"], r["dedupe_key"]): r for r in rows}
        created = [
            _event_from_row(pk, by_key[(item, key)], milestone=milestone, code=code, sub_code=sub, unmapped=unmapped)
            for pk, item, key, milestone, code, sub, unmapped in sorted(inserted)
        ]
        result.created = created
        result.duplicates += len(rows) - len(created)
        if not created:
            return result
        result.unmapped = _count_unmapped(carrier_id, created, now)
        states = {pk: (at, milestone, code) for pk, at, milestone, code, _, _ in items.values()}
        _advance_states(created, states, now, {pk for pk, *_, kept in items.values() if kept})

        followed = {pk for pk, _, _, _, is_followed, _ in items.values() if is_followed}
        audience = {e.tracked_item_id for e in created} & followed
        shipments, parcels = db.followers(audience) if audience else ({}, {})
        events_recorded.send(sender=TrackingEvent, events=created, shipments=shipments, parcels=parcels)
    return result
