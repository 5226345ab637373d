"""Writes for tracking: the one recording service, registration, re-harmonisation.

``events_record`` is the single door every channel (webhook, sFTP, polling,
manual) uses to store events. It runs in one transaction with a constant number
of statements per batch, whatever the batch size.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from tracking.harmonise import harmonise, mapping_table
from tracking.models import (
    CodeMapping,
    Customer,
    Parcel,
    Shipment,
    StatusCode,
    TrackedItem,
    TrackingEvent,
    UnmappedCode,
)
from tracking.signals import events_recorded, shipment_registered
from tracking.types import CarrierEvent

INSERT_CHUNK = 500


class InvalidEvent(ValueError):
    """A CarrierEvent that cannot be recorded (names the field)."""


@dataclass
class RecordResult:
    created: list[TrackingEvent] = field(default_factory=list)
    duplicates: int = 0
    unmapped: int = 0


def _dedupe_key(event: CarrierEvent) -> str:
    when = event.occurred_at.astimezone(dt_timezone.utc).isoformat()
    raw = "\x1f".join((event.code, event.sub_code or "", when, event.location.dedupe_key()))
    return hashlib.sha256(raw.encode()).hexdigest()


def _validate(event: CarrierEvent, index: int) -> None:
    if not event.tracking_id or len(event.tracking_id) > 64:
        raise InvalidEvent(f"event {index}: tracking_id must be 1–64 characters")
    if not event.code or len(event.code) > 64:
        raise InvalidEvent(f"event {index}: code must be 1–64 characters")
    if len(event.sub_code or "") > 64:
        raise InvalidEvent(f"event {index}: sub_code must be at most 64 characters")
    if not isinstance(event.occurred_at, datetime) or event.occurred_at.utcoffset() is None:
        raise InvalidEvent(f"event {index}: occurred_at must be a timezone-aware datetime")


def _offset_minutes(when: datetime) -> int:
    offset = when.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _current_txid() -> int:
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return int(cursor.fetchone()[0])


def _lock_items(carrier_id: str, tracking_ids: set[str], now: datetime) -> dict[str, TrackedItem]:
    """Create missing tracked items, then lock all of them in id order.

    Locking serialises concurrent recorders of the same items, so dedupe and
    the current-state recompute always see each other's committed rows.
    """
    expires = now + timedelta(days=settings.UNREGISTERED_RETENTION_DAYS)
    TrackedItem.objects.bulk_create(
        [TrackedItem(carrier_id=carrier_id, tracking_id=t, expires_at=expires) for t in sorted(tracking_ids)],
        ignore_conflicts=True,
    )
    qs = TrackedItem.objects.filter(carrier_id=carrier_id, tracking_id__in=tracking_ids).order_by("id")
    if connection.features.has_select_for_update:
        qs = qs.select_for_update()
    return {item.tracking_id: item for item in qs}


_EVENT_COLUMNS = [
    "tracked_item",
    "carrier",
    "txid",
    "dedupe_key",
    "carrier_code",
    "carrier_sub_code",
    "carrier_text",
    "milestone",
    "code",
    "sub_code",
    "unmapped",
    "occurred_at",
    "utc_offset_minutes",
    "recorded_at",
    "location",
    "eta",
    "signed_by",
    "weight_kg",
    "carrier_meta",
    "channel",
    "inbound_message_id",
]


def _insert_events(events: list[TrackingEvent]) -> list[TrackingEvent]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: only the rows we created come back."""
    fields = [TrackingEvent._meta.get_field(name) for name in _EVENT_COLUMNS]
    table = connection.ops.quote_name(TrackingEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    by_key = {(e.tracked_item_id, e.dedupe_key): e for e in events}
    created: list[TrackingEvent] = []
    with connection.cursor() as cursor:
        for start in range(0, len(events), INSERT_CHUNK):
            chunk = events[start : start + INSERT_CHUNK]
            row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
            params: list[object] = []
            for event in chunk:
                params.extend(f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_sql] * len(chunk))} "
                "ON CONFLICT DO NOTHING RETURNING id, tracked_item_id, dedupe_key",
                params,
            )
            for pk, item_id, key in cursor.fetchall():
                event = by_key[(item_id, key)]
                event.id = pk
                event._state.adding = False
                event._state.db = "default"
                created.append(event)
    created.sort(key=lambda e: e.id)
    return created


def _count_unmapped(carrier_id: str, created: list[TrackingEvent], now: datetime) -> int:
    counts: dict[tuple[str, str], list] = {}
    for event in created:
        if event.unmapped:
            entry = counts.setdefault((event.carrier_code, event.carrier_sub_code), [0, event.carrier_text])
            entry[0] += 1
    if not counts:
        return 0
    table = connection.ops.quote_name(UnmappedCode._meta.db_table)
    rows = []
    for (code, sub), (count, text) in counts.items():
        rows.extend([carrier_id, code, sub, text[:500], now, now, count])
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(counts))
    prep = UnmappedCode._meta.get_field("first_seen")
    rows = [prep.get_db_prep_save(v, connection) if isinstance(v, datetime) else v for v in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (carrier_id, carrier_code, carrier_sub_code, example_text, first_seen, last_seen, count) "
            f"VALUES {values} ON CONFLICT (carrier_id, carrier_code, carrier_sub_code) DO UPDATE SET "
            f"count = {table}.count + excluded.count, last_seen = excluded.last_seen, example_text = excluded.example_text",
            rows,
        )
    return sum(c for c, _ in counts.values())


def tracked_items_refresh_state(*, item_ids: Iterable[int], now: datetime | None = None) -> None:
    """Current state = latest event by carrier time (ties: later recorded), in one UPDATE.

    Recomputing from the stored history means a late, older event never rolls
    the state back, and re-harmonisation just calls this again.
    """
    item_ids = list(item_ids)
    if not item_ids:
        return
    latest = TrackingEvent.objects.filter(tracked_item=OuterRef("pk")).order_by("-occurred_at", "-id")
    updates = {
        "current_event_id": Subquery(latest.values("id")[:1]),
        "status_milestone": Subquery(latest.values("milestone")[:1]),
        "status_code": Subquery(latest.values("code")[:1]),
        "status_sub_code": Subquery(latest.values("sub_code")[:1]),
        "status_at": Subquery(latest.values("occurred_at")[:1]),
    }
    if now is not None:
        updates["last_event_recorded_at"] = now
    TrackedItem.objects.filter(id__in=item_ids).update(**updates)


def events_record(
    *,
    carrier: object,
    events: Sequence[CarrierEvent],
    channel: str,
    inbound_message_id: int | None = None,
    now: datetime | None = None,
) -> RecordResult:
    """Harmonise, deduplicate and store events; update current states; notify.

    ``carrier`` is a Carrier or its id. Raises InvalidEvent (nothing stored) if
    any event is unusable, so a bad payload is rejected whole, never half-kept.
    """
    carrier_id = carrier if isinstance(carrier, str) else carrier.pk  # type: ignore[attr-defined]
    for index, event in enumerate(events):
        _validate(event, index)
    unique: dict[tuple[str, str], CarrierEvent] = {}
    for event in events:
        unique.setdefault((event.tracking_id, _dedupe_key(event)), event)
    result = RecordResult(duplicates=len(events) - len(unique))
    if not unique:
        return result
    now = now or timezone.now()

    with transaction.atomic():
        items = _lock_items(carrier_id, {tid for tid, _ in unique}, now)
        table = mapping_table(carrier_id=carrier_id, codes={e.code for e in unique.values()})
        txid = _current_txid()
        rows = []
        for (tracking_id, key), event in unique.items():
            (milestone, code, sub_code), unmapped = harmonise(table, event.code, event.sub_code or "")
            rows.append(
                TrackingEvent(
                    tracked_item=items[tracking_id],
                    carrier_id=carrier_id,
                    txid=txid,
                    dedupe_key=key,
                    carrier_code=event.code,
                    carrier_sub_code=event.sub_code or "",
                    carrier_text=event.description or "",
                    milestone=milestone,
                    code=code,
                    sub_code=sub_code,
                    unmapped=unmapped,
                    occurred_at=event.occurred_at,
                    utc_offset_minutes=_offset_minutes(event.occurred_at),
                    recorded_at=now,
                    location=event.location.as_dict(),
                    eta=event.eta,
                    signed_by=event.signed_by,
                    weight_kg=event.weight_kg,
                    carrier_meta=[{"key": k, "value": v} for k, v in event.meta],
                    channel=channel,
                    inbound_message_id=inbound_message_id,
                )
            )
        created = _insert_events(rows)
        result.created = created
        result.duplicates += len(rows) - len(created)
        if not created:
            return result
        result.unmapped = _count_unmapped(carrier_id, created, now)
        item_ids = {e.tracked_item_id for e in created}
        tracked_items_refresh_state(item_ids=item_ids, now=now)

        shipments: dict[int, list[Shipment]] = defaultdict(list)
        for shipment in Shipment.objects.filter(tracked_item_id__in=item_ids).select_related("customer"):
            shipments[shipment.tracked_item_id].append(shipment)
        parcels: dict[int, list[Parcel]] = defaultdict(list)
        for parcel in Parcel.objects.filter(tracked_item_id__in=item_ids).select_related("shipment__customer"):
            parcels[parcel.tracked_item_id].append(parcel)
        events_recorded.send(sender=TrackingEvent, events=created, shipments=shipments, parcels=parcels)
    return result


# --- Re-harmonisation -----------------------------------------------------------


def events_reharmonise(
    *,
    carrier_id: str,
    codes: Iterable[str] | None = None,
    progress: Callable[[Iterable[int], int], Iterable[int]] | None = None,
    chunk_size: int = 2000,
) -> int:
    """Re-apply the mapping table to stored events of a carrier; returns events changed.

    ``progress`` wraps the iteration over item chunks (the command line passes tqdm).
    """
    code_filter = set(codes) if codes is not None else None
    table = mapping_table(carrier_id=carrier_id, codes=code_filter)
    events = TrackingEvent.objects.filter(carrier_id=carrier_id)
    if code_filter is not None:
        events = events.filter(carrier_code__in=code_filter)
    pairs = events.values_list("carrier_code", "carrier_sub_code").distinct()
    changed = 0
    touched: set[int] = set()
    with transaction.atomic():
        for code, sub in list(pairs):
            (milestone, new_code, new_sub), unmapped = harmonise(table, code, sub)
            stale = events.filter(carrier_code=code, carrier_sub_code=sub).exclude(
                milestone=milestone, code=new_code, sub_code=new_sub, unmapped=unmapped
            )
            touched.update(stale.values_list("tracked_item_id", flat=True).distinct())
            changed += stale.update(milestone=milestone, code=new_code, sub_code=new_sub, unmapped=unmapped)
            if not unmapped:
                UnmappedCode.objects.filter(carrier_id=carrier_id, carrier_code=code, carrier_sub_code=sub).delete()
        if code_filter is not None:
            # A fallback row also resolves the code's sub-code-specific unmapped entries.
            for code, sub in list(
                UnmappedCode.objects.filter(carrier_id=carrier_id, carrier_code__in=code_filter).values_list(
                    "carrier_code", "carrier_sub_code"
                )
            ):
                if not harmonise(table, code, sub)[1]:
                    UnmappedCode.objects.filter(carrier_id=carrier_id, carrier_code=code, carrier_sub_code=sub).delete()
    ordered = sorted(touched)
    chunks = range(0, len(ordered), chunk_size)
    iterator: Iterable[int] = progress(chunks, len(chunks)) if progress else chunks
    for start in iterator:
        with transaction.atomic():
            tracked_items_refresh_state(item_ids=ordered[start : start + chunk_size])
    return changed


class MappingError(ValueError):
    """A mapping row that cannot be stored (names the row and the problem)."""


@dataclass
class MappingRow:
    carrier_code: str
    carrier_sub_code: str
    milestone: str
    code: str
    sub_code: str
    note: str = ""


def code_mappings_import(
    *, carrier_id: str, rows: Sequence[MappingRow], reharmonise: bool = True, progress=None
) -> dict[str, int]:
    """Validate every row first (all or nothing), then upsert and re-harmonise.

    Returns counts: created, updated, unchanged, events_reharmonised.
    """
    statuses = {s.triple: s for s in StatusCode.objects.all()}
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(rows, start=1):
        if not row.carrier_code.strip():
            raise MappingError(f"row {number}: carrier_code is empty")
        if (row.milestone, row.code, row.sub_code) not in statuses:
            raise MappingError(
                f"row {number}: {row.milestone}/{row.code}/{row.sub_code} is not in the harmonised taxonomy"
            )
        key = (row.carrier_code, row.carrier_sub_code)
        if key in seen:
            raise MappingError(f"row {number}: carrier code {row.carrier_code}/{row.carrier_sub_code} appears twice")
        seen.add(key)
    counts = {"created": 0, "updated": 0, "unchanged": 0, "events_reharmonised": 0}
    existing = {
        (m.carrier_code, m.carrier_sub_code): m for m in CodeMapping.objects.filter(carrier_id=carrier_id)
    }
    changed_codes: set[str] = set()
    with transaction.atomic():
        for row in rows:
            status = statuses[(row.milestone, row.code, row.sub_code)]
            current = existing.get((row.carrier_code, row.carrier_sub_code))
            if current is None:
                CodeMapping.objects.create(
                    carrier_id=carrier_id,
                    carrier_code=row.carrier_code,
                    carrier_sub_code=row.carrier_sub_code,
                    status=status,
                    note=row.note[:200],
                )
                counts["created"] += 1
                changed_codes.add(row.carrier_code)
            elif current.status_id != status.id or (row.note and current.note != row.note[:200]):
                if current.status_id != status.id:
                    changed_codes.add(row.carrier_code)
                current.status = status
                current.note = row.note[:200] or current.note
                current.save(update_fields=["status", "note", "updated_at"])
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
    if reharmonise and changed_codes:
        counts["events_reharmonised"] = events_reharmonise(
            carrier_id=carrier_id, codes=changed_codes, progress=progress
        )
    return counts


# --- Registration -----------------------------------------------------------------


def tracked_item_get_or_create(*, carrier_id: str, tracking_id: str) -> TrackedItem:
    item, _ = TrackedItem.objects.get_or_create(carrier_id=carrier_id, tracking_id=tracking_id)
    if item.expires_at is not None:
        # Someone follows it now: keep its history for good.
        TrackedItem.objects.filter(pk=item.pk).update(expires_at=None)
        item.expires_at = None
    return item


def tracked_items_purge_expired(*, now: datetime | None = None) -> int:
    """Drop events of numbers nobody registered within the retention window."""
    now = now or timezone.now()
    expired = TrackedItem.objects.filter(expires_at__lt=now, shipments__isnull=True, parcels__isnull=True)
    count = 0
    for item in expired.iterator():
        with transaction.atomic():
            TrackedItem.objects.filter(pk=item.pk).update(current_event=None)
            TrackingEvent.objects.filter(tracked_item=item).delete()
            item.delete()
            count += 1
    return count


class UnknownCarrier(LookupError):
    pass


def customer_create(*, name: str) -> tuple[Customer, str]:
    """Create a customer and its first API key; the clear key is returned once."""
    from tracking.models import CustomerAPIKey

    name = name.strip()
    if not name:
        raise ValueError("customer name must not be empty")
    with transaction.atomic():
        customer = Customer.objects.create(name=name)
        _, key = CustomerAPIKey.objects.create_key(name=f"{name} (default)", customer=customer)
    return customer, key


@dataclass
class ParcelInput:
    carrier_tracking_id: str
    uuid_ref: str = ""
    meta_data: list[dict[str, str]] = field(default_factory=list)


def shipment_register(
    *,
    customer: Customer,
    carrier_id: str,
    carrier_tracking_id: str,
    uuid_ref: str = "",
    tracking_level: str = "shipment",
    reference_shipper: str = "",
    reference_receiver: str = "",
    meta_data: list[dict[str, str]] | None = None,
    parcels: Sequence[ParcelInput] = (),
) -> tuple[Shipment, bool]:
    """Register a tracking number for a customer; returns (shipment, created).

    Registering the same (carrier, tracking id) again returns the existing
    shipment unchanged. Events already recorded for the number (it may have
    arrived before anyone registered it) become visible at once.
    """
    carrier_model = Shipment._meta.get_field("carrier").related_model
    if not carrier_model.objects.filter(pk=carrier_id).exists():  # type: ignore[union-attr]
        raise UnknownCarrier(f"unknown carrier_id {carrier_id!r}")
    existing = Shipment.objects.filter(
        customer=customer, carrier_id=carrier_id, carrier_tracking_id=carrier_tracking_id
    ).first()
    if existing is not None:
        return existing, False
    from django.db import IntegrityError

    try:
        with transaction.atomic():
            item = tracked_item_get_or_create(carrier_id=carrier_id, tracking_id=carrier_tracking_id)
            shipment = Shipment.objects.create(
                customer=customer,
                tracked_item=item,
                carrier_id=carrier_id,
                carrier_tracking_id=carrier_tracking_id,
                uuid_ref=uuid_ref,
                tracking_level=tracking_level,
                reference_shipper=reference_shipper,
                reference_receiver=reference_receiver,
                meta_data=meta_data or [],
            )
            items = [item]
            for parcel in parcels:
                parcel_item = tracked_item_get_or_create(carrier_id=carrier_id, tracking_id=parcel.carrier_tracking_id)
                items.append(parcel_item)
                Parcel.objects.create(
                    shipment=shipment,
                    tracked_item=parcel_item,
                    carrier_tracking_id=parcel.carrier_tracking_id,
                    uuid_ref=parcel.uuid_ref,
                    meta_data=parcel.meta_data,
                )
            shipment_registered.send(sender=Shipment, shipment=shipment, tracked_items=items)
    except IntegrityError:
        # A concurrent request registered it first: answer as a repeat.
        return (
            Shipment.objects.get(customer=customer, carrier_id=carrier_id, carrier_tracking_id=carrier_tracking_id),
            False,
        )
    return shipment, True
