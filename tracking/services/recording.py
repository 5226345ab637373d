"""The one recording service every channel (webhook, sFTP, polling, manual) uses.

``events_record`` runs in one transaction with a constant number of statements
per batch whatever its size: create missing tracked items, lock them, read the
mapping rows, insert events (ON CONFLICT DO NOTHING RETURNING, so only rows we
created come back), count unmapped codes, move current states forward, read
the shipments, and send ``events_recorded`` for the outbox.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.base import ModelState
from django.db.models.expressions import RawSQL
from django.utils import timezone

from tracking.harmonise import harmonise, mapping_table
from tracking.models import Parcel, Shipment, TrackedItem, TrackingEvent, UnmappedCode
from tracking.signals import events_recorded
from tracking.types import CarrierEvent

INSERT_CHUNK = 1000


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
    # PostgreSQL stores no NUL in text or jsonb: refuse it here rather than fail the transaction.
    loc = event.location
    texts = (
        event.tracking_id,
        event.code,
        event.sub_code or "",
        event.description or "",
        event.signed_by or "",
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
    if "\x00" in "".join(texts):
        raise InvalidEvent(f"event {index}: text contains a NUL character, which cannot be stored")


def _offset_minutes(when: datetime) -> int:
    offset = when.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _current_txid() -> int:
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return int(cursor.fetchone()[0])


def _lock_items(carrier_id: str, tracking_ids: list[str], now: datetime) -> dict[str, tuple[int, datetime | None]]:
    """Create missing tracked items, then lock all of them in id order.

    Locking serialises concurrent recorders of the same items, so dedupe and
    the current-state update always see each other's committed rows.
    Returns tracking id → (item id, current status time).
    """
    expires = connection.ops.adapt_datetimefield_value(now + timedelta(days=settings.UNREGISTERED_RETENTION_DAYS))
    created_at = connection.ops.adapt_datetimefield_value(now)
    table = connection.ops.quote_name(TrackedItem._meta.db_table)
    insert = (
        f"INSERT INTO {table} (carrier_id, tracking_id, created_at, expires_at, status_milestone, status_code, "
        "status_sub_code, check_failures, invalid_reason) "
    )
    with connection.cursor() as cursor:
        for start in range(0, len(tracking_ids), INSERT_CHUNK):
            chunk = tracking_ids[start : start + INSERT_CHUNK]
            if connection.vendor == "postgresql":
                cursor.execute(
                    insert + "SELECT %s, t, %s, %s, '', '', '', 0, '' FROM unnest(%s::varchar[]) AS t "
                    "ON CONFLICT DO NOTHING",
                    [carrier_id, created_at, expires, _pg_array(chunk)],
                )
            else:
                params: list[object] = []
                for tracking_id in chunk:
                    params.extend((carrier_id, tracking_id, created_at, expires))
                cursor.execute(
                    insert
                    + "VALUES "
                    + ", ".join(["(%s, %s, %s, %s, '', '', '', 0, '')"] * len(chunk))
                    + " ON CONFLICT DO NOTHING",
                    params,
                )
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT tracking_id, id, status_at FROM {table} WHERE carrier_id = %s "
                "AND tracking_id = ANY(%s::varchar[]) ORDER BY id FOR UPDATE",
                [carrier_id, _pg_array(tracking_ids)],
            )
            return {tid: (pk, status_at) for tid, pk, status_at in cursor.fetchall()}
    qs = TrackedItem.objects.filter(carrier_id=carrier_id, tracking_id__in=tracking_ids).order_by("id")
    if connection.features.has_select_for_update:
        qs = qs.select_for_update()
    return {tid: (pk, status_at) for tid, pk, status_at in qs.values_list("tracking_id", "id", "status_at")}


_EVENT_COLUMNS = (
    "tracked_item_id",
    "carrier_id",
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
)


# PostgreSQL element types of _EVENT_COLUMNS, for the array form of the insert.
_PG_TYPES = (
    "bigint",
    "varchar",
    "bigint",
    "bigint",
    "varchar",
    "varchar",
    "text",
    "varchar",
    "varchar",
    "varchar",
    "boolean",
    "timestamptz",
    "smallint",
    "timestamptz",
    "jsonb",
    "timestamptz",
    "varchar",
    "float8",
    "jsonb",
    "varchar",
    "bigint",
)


_NUMERIC = {"bigint", "smallint", "float8"}


def _pg_array(values: Iterable[object], kind: str = "text") -> str:
    """A PostgreSQL array literal: one constant for the server to parse, not thousands.

    Numbers and booleans need no quoting; everything else is quoted with
    backslash and double quote escaped, so any text survives.
    """
    if kind in _NUMERIC:
        return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"
    if kind == "boolean":
        return "{" + ",".join("NULL" if v is None else ("t" if v else "f") for v in values) + "}"
    if kind == "timestamptz":
        # One batch shares a recorded_at and often carrier times: format each once.
        seen: dict[object, str] = {}
        return (
            "{"
            + ",".join(
                "NULL" if v is None else seen.get(v) or seen.setdefault(v, '"' + v.isoformat() + '"')  # type: ignore[union-attr]
                for v in values
            )
            + "}"
        )
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
            continue
        text = str(value)
        if "\\" in text or '"' in text:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        parts.append('"' + text + '"')
    return "{" + ",".join(parts) + "}"


def _ids_in(ids: set[int]) -> object:
    """Right-hand side for ``__in`` over many ids: one array parameter on PostgreSQL."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (_pg_array(sorted(ids), "bigint"),))
    return ids


def _event_from_row(pk: int, row: dict[str, object]) -> TrackingEvent:
    """Build the model object for a row we just inserted without Model.__init__.

    Every value is already the field's Python value (the row's keys are the
    attribute names), so the per-field work of __init__ is pure overhead on
    thousands of events a batch.
    """
    event = TrackingEvent.__new__(TrackingEvent)
    event.__dict__.update(row)
    event.id = pk
    event._state = ModelState()
    event._state.adding = False
    event._state.db = "default"
    return event


def _row_values(r: dict[str, object], adapt_dt: Any) -> tuple[object, ...]:
    return (
        r["tracked_item_id"],
        r["carrier_id"],
        r["txid"],
        r["dedupe_key"],
        r["carrier_code"],
        r["carrier_sub_code"],
        r["carrier_text"],
        r["milestone"],
        r["code"],
        r["sub_code"],
        r["unmapped"],
        adapt_dt(r["occurred_at"]),
        r["utc_offset_minutes"],
        adapt_dt(r["recorded_at"]),
        json.dumps(r["location"]),
        adapt_dt(r["eta"]) if r["eta"] else None,
        r["signed_by"],
        r["weight_kg"],
        json.dumps(r["carrier_meta"]),
        r["channel"],
        r["inbound_message_id"],
    )


def _insert_events(rows: list[dict[str, object]]) -> list[TrackingEvent]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: only the rows we created come back.

    Values are adapted by hand (datetimes via the backend, JSON as text): the
    generic per-field preparation costs more than the insert itself. On
    PostgreSQL each column travels as one array literal and is unnested, which
    the server parses far faster than a VALUES list of the same rows.
    """
    table = connection.ops.quote_name(TrackingEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _EVENT_COLUMNS)
    by_key = {(r["tracked_item_id"], r["dedupe_key"]): r for r in rows}
    postgres = connection.vendor == "postgresql"
    adapt_dt = (lambda v: v) if postgres else connection.ops.adapt_datetimefield_value
    returned: list[tuple[int, int, int]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = [_row_values(r, adapt_dt) for r in rows[start : start + INSERT_CHUNK]]
            if postgres:
                arrays = [_pg_array(column, kind) for column, kind in zip(zip(*chunk), _PG_TYPES)]
                casts = ", ".join(f"%s::{kind}[]" for kind in _PG_TYPES)
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({casts}) "
                    "ON CONFLICT DO NOTHING RETURNING id, tracked_item_id, dedupe_key",
                    arrays,
                )
            else:
                row_sql = "(" + ", ".join(["%s"] * len(_EVENT_COLUMNS)) + ")"
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_sql] * len(chunk))} "
                    "ON CONFLICT DO NOTHING RETURNING id, tracked_item_id, dedupe_key",
                    [value for row in chunk for value in row],
                )
            returned.extend(cursor.fetchall())
    return [_event_from_row(pk, by_key[(item_id, key)]) for pk, item_id, key in sorted(returned)]


def _count_unmapped(carrier_id: str, created: list[TrackingEvent], now: datetime) -> int:
    counts: dict[tuple[str, str], list] = {}
    for event in created:
        if event.unmapped:
            entry = counts.setdefault((event.carrier_code, event.carrier_sub_code), [0, event.carrier_text])
            entry[0] += 1
    if not counts:
        return 0
    table = connection.ops.quote_name(UnmappedCode._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    params: list[object] = []
    for (code, sub), (count, text) in counts.items():
        params.extend([carrier_id, code, sub, text[:500], stamp, stamp, count])
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(counts))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (carrier_id, carrier_code, carrier_sub_code, example_text, first_seen, last_seen, count) "
            f"VALUES {values} ON CONFLICT (carrier_id, carrier_code, carrier_sub_code) DO UPDATE SET "
            f"count = {table}.count + excluded.count, last_seen = excluded.last_seen, example_text = excluded.example_text",
            params,
        )
    return sum(c for c, _ in counts.values())


def _advance_states(created: list[TrackingEvent], current: dict[int, datetime | None], now: datetime) -> None:
    """Move each item's state to its newest new event, unless it already holds a newer one.

    The items are locked, so ``current`` is exact; new events have higher ids
    than anything stored, so on a tie in carrier time the new event wins
    ("ties: the later recorded"). A late, older event changes nothing.
    """
    newest: dict[int, TrackingEvent] = {}
    for event in created:  # ascending id
        best = newest.get(event.tracked_item_id)
        if best is None or event.occurred_at >= best.occurred_at:
            newest[event.tracked_item_id] = event
    changed: list[TrackingEvent] = []
    stale: list[int] = []
    for item_id, event in newest.items():
        status_at = current.get(item_id)
        if status_at is None or event.occurred_at >= status_at:
            changed.append(event)
        else:
            stale.append(item_id)
    table = connection.ops.quote_name(TrackedItem._meta.db_table)
    stamp = connection.ops.adapt_datetimefield_value(now)
    set_sql = (
        "current_event_id = v.event_id, status_milestone = v.milestone, status_code = v.code, "
        "status_sub_code = v.sub_code, status_at = v.status_at, last_event_recorded_at = %s"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(changed), INSERT_CHUNK):
            chunk = changed[start : start + INSERT_CHUNK]
            if connection.vendor == "postgresql":
                columns = [
                    [e.tracked_item_id for e in chunk],
                    [e.id for e in chunk],
                    [e.milestone for e in chunk],
                    [e.code for e in chunk],
                    [e.sub_code for e in chunk],
                    [e.occurred_at for e in chunk],
                ]
                cursor.execute(
                    f"UPDATE {table} SET {set_sql} FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], "
                    "%s::varchar[], %s::varchar[], %s::timestamptz[]) "
                    f"AS v (item_id, event_id, milestone, code, sub_code, status_at) WHERE {table}.id = v.item_id",
                    [
                        stamp,
                        *(
                            _pg_array(c, k)
                            for c, k in zip(columns, ("bigint", "bigint", "text", "text", "text", "timestamptz"))
                        ),
                    ],
                )
            else:
                params: list[object] = []
                for e in chunk:
                    params.extend(
                        (
                            e.tracked_item_id,
                            e.id,
                            e.milestone,
                            e.code,
                            e.sub_code,
                            connection.ops.adapt_datetimefield_value(e.occurred_at),
                        )
                    )
                cursor.execute(
                    f"WITH v (item_id, event_id, milestone, code, sub_code, status_at) AS "
                    f"(VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(chunk))}) "
                    f"UPDATE {table} SET {set_sql} FROM v WHERE {table}.id = v.item_id",
                    [*params, stamp],
                )
    if stale:
        TrackedItem.objects.filter(id__in=stale).update(last_event_recorded_at=now)


def tracked_items_refresh_state(*, item_ids: Iterable[int]) -> None:
    """Recompute current states from the stored history (after re-harmonisation)."""
    item_ids = list(item_ids)
    if not item_ids:
        return
    latest = TrackingEvent.objects.filter(tracked_item=OuterRef("pk")).order_by("-occurred_at", "-id")
    TrackedItem.objects.filter(id__in=item_ids).update(
        current_event_id=Subquery(latest.values("id")[:1]),
        status_milestone=Subquery(latest.values("milestone")[:1]),
        status_code=Subquery(latest.values("code")[:1]),
        status_sub_code=Subquery(latest.values("sub_code")[:1]),
        status_at=Subquery(latest.values("occurred_at")[:1]),
    )


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
    unique: dict[tuple[str, int], CarrierEvent] = {}
    for event in events:
        unique.setdefault((event.tracking_id, _dedupe_key(event)), event)
    result = RecordResult(duplicates=len(events) - len(unique))
    if not unique:
        return result
    now = now or timezone.now()

    with transaction.atomic():
        items = _lock_items(carrier_id, sorted({tid for tid, _ in unique}), now)
        table = mapping_table(carrier_id=carrier_id, codes={e.code for e in unique.values()})
        txid = _current_txid()
        rows = []
        for (tracking_id, key), event in unique.items():
            (milestone, code, sub_code), unmapped = harmonise(table, event.code, event.sub_code or "")
            rows.append(
                {
                    "tracked_item_id": items[tracking_id][0],
                    "carrier_id": carrier_id,
                    "txid": txid,
                    "dedupe_key": key,
                    "carrier_code": event.code,
                    "carrier_sub_code": event.sub_code or "",
                    "carrier_text": event.description or "",
                    "milestone": milestone,
                    "code": code,
                    "sub_code": sub_code,
                    "unmapped": unmapped,
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
                }
            )
        created = _insert_events(rows)
        result.created = created
        result.duplicates += len(rows) - len(created)
        if not created:
            return result
        result.unmapped = _count_unmapped(carrier_id, created, now)
        _advance_states(created, {pk: status_at for pk, status_at in items.values()}, now)

        item_ids = _ids_in({e.tracked_item_id for e in created})
        shipments: dict[int, list[Shipment]] = defaultdict(list)
        for shipment in Shipment.objects.filter(tracked_item_id__in=item_ids).select_related("customer"):
            shipments[shipment.tracked_item_id].append(shipment)
        parcels: dict[int, list[Parcel]] = defaultdict(list)
        for parcel in Parcel.objects.filter(tracked_item_id__in=item_ids).select_related("shipment__customer"):
            parcels[parcel.tracked_item_id].append(parcel)
        events_recorded.send(sender=TrackingEvent, events=created, shipments=shipments, parcels=parcels)
    return result
