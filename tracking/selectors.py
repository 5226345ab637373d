"""Reads for tracking: the event feed and the track views.

Event feed (``GET /events``, and the notifications sFTP exports):

- ``events_after_cursor(*, cursor, limit, events=None) -> EventPage`` — events
  recorded after ``cursor`` in recording order, from ``events`` (a
  TrackingEvent queryset to scope them, e.g. ``customer_events(...)``; all
  events when None). ``EventPage.next_cursor`` is where the next call starts.
- ``customer_events(*, customer) -> QuerySet`` — events of the customer's
  shipments and parcels.
- ``event_registrations(*, customer, events) -> list[FeedEntry]`` — each event
  paired with the customer's shipment (and parcel) it belongs to.
- ``events_feed(*, customer, after, limit) -> FeedPage`` — the three above together.

Cursors are opaque strings (``cursor_encode`` / ``cursor_decode``). The
recording sequence is ``(txid, id)``: on PostgreSQL ids are handed out before
their transaction commits, so a lower id can become visible after a higher
one. The feed therefore only returns events whose transaction is older than
every transaction still in flight (``txid < pg_snapshot_xmin``); later ones
appear on a later call, after the cursor, so none is ever skipped. The price
is that the feed lags behind the oldest open writing transaction. (Rows
written by the reading transaction itself are returned too; a transaction
should not record events and hand feed cursors to clients at once.) On SQLite
writers are serial and txid is the highest stored one (0 until a correction
moves events forward, see ``tracking.db.sqlite_feed_txid``), so the order is
``id`` apart from corrections.

Track views: ``shipment_for_customer`` and ``shipments_track`` load shipments,
parcels and events in a constant number of queries whatever the batch size.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import orjson
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.db.models.expressions import RawSQL

from tracking.models import Customer, Parcel, Shipment, TrackingEvent

M = TypeVar("M", bound=Model)

FEED_MAX_LIMIT = 1000
_CURSOR_PREFIX = "c1:"


class InvalidCursor(ValueError):
    pass


def cursor_encode(*, txid: int, event_id: int) -> str:
    raw = f"{_CURSOR_PREFIX}{txid}.{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[int, int]:
    """(txid, event id) from a cursor; raises InvalidCursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError
        txid, event_id = (int(part) for part in raw[len(_CURSOR_PREFIX) :].split("."))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("not a cursor this API returned") from None
    if txid < 0 or event_id < 0:
        raise InvalidCursor("not a cursor this API returned")
    return txid, event_id


@dataclass(frozen=True)
class EventPage:
    events: list[TrackingEvent]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class FeedEntry:
    shipment: Shipment
    parcel: Parcel | None
    event: TrackingEvent


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    next_cursor: str | None
    has_more: bool
    events: list[TrackingEvent] = field(default_factory=list)


def customer_events(*, customer: Customer) -> QuerySet[TrackingEvent]:
    shipment_items = Shipment.objects.filter(customer=customer).values("tracked_item_id")
    parcel_items = Parcel.objects.filter(shipment__customer=customer).values("tracked_item_id")
    return TrackingEvent.objects.filter(Q(tracked_item_id__in=shipment_items) | Q(tracked_item_id__in=parcel_items))


def events_after_cursor(*, cursor: str | None, limit: int, events: QuerySet[TrackingEvent] | None = None) -> EventPage:
    """Raises InvalidCursor for a cursor that does not decode; ``limit`` is clamped to 1..1000."""
    limit = max(1, min(int(limit), FEED_MAX_LIMIT))
    qs = events if events is not None else TrackingEvent.objects.all()
    if cursor:
        txid, event_id = cursor_decode(cursor)
        qs = qs.filter(Q(txid__gt=txid) | Q(txid=txid, id__gt=event_id))
    if connection.vendor == "postgresql":
        # Only transactions older than every one still running (see the module
        # docstring), plus the reading transaction's own rows, which it can see:
        # a test, or a job that records and reads in one transaction, finds them.
        qs = qs.filter(
            Q(txid__lt=RawSQL("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", []))
            | Q(txid=RawSQL("pg_current_xact_id_if_assigned()::text::bigint", []))
        )
    rows = list(qs.order_by("txid", "id")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursor_encode(txid=rows[-1].txid, event_id=rows[-1].id) if rows else cursor
    return EventPage(events=rows, next_cursor=next_cursor, has_more=has_more)


def event_registrations(*, customer: Customer, events: Sequence[TrackingEvent]) -> list[FeedEntry]:
    """Each event with the customer's shipment(s)/parcel(s) of its tracked item, in event order (2 queries)."""
    item_ids = {e.tracked_item_id for e in events}
    if not item_ids:
        return []
    owners: dict[int, list[tuple[Shipment, Parcel | None]]] = defaultdict(list)
    for shipment in Shipment.objects.filter(customer=customer, tracked_item_id__in=item_ids).order_by("created_at"):
        owners[shipment.tracked_item_id].append((shipment, None))
    parcels = (
        Parcel.objects.filter(shipment__customer=customer, tracked_item_id__in=item_ids)
        .select_related("shipment")
        .order_by("shipment__created_at", "id")
    )
    for parcel in parcels:
        owners[parcel.tracked_item_id].append((parcel.shipment, parcel))
    return [FeedEntry(shipment=s, parcel=p, event=e) for e in events for s, p in owners.get(e.tracked_item_id, ())]


def events_feed(*, customer: Customer, after: str | None, limit: int) -> FeedPage:
    """The customer's events after ``after``; ``limit`` counts events (an event of a
    number registered twice, e.g. as a shipment and as a parcel, yields one entry each)."""
    page = events_after_cursor(cursor=after, limit=limit, events=customer_events(customer=customer))
    entries = event_registrations(customer=customer, events=page.events)
    return FeedPage(entries=entries, next_cursor=page.next_cursor, has_more=page.has_more, events=page.events)


# --- Track views ------------------------------------------------------------------


@dataclass(slots=True)
class EventRow:
    """The columns of a TrackingEvent that its public representation reads."""

    id: int
    tracked_item_id: int
    carrier_code: str
    carrier_sub_code: str
    carrier_text: str
    milestone: str
    code: str
    sub_code: str
    occurred_at: datetime
    utc_offset_minutes: int
    recorded_at: datetime
    location: dict
    eta: datetime | None
    signed_by: str
    weight_kg: float | None
    carrier_meta: list
    other: dict
    corrected_at: datetime | None


@dataclass
class TrackResult:
    """Shipments in request order, with what their representation needs."""

    shipments: list[Shipment]
    parcels: dict[uuid.UUID, list[Parcel]]
    events_by_item: dict[int, list[TrackingEvent]]
    not_found: list[str]

    @property
    def last_updated(self) -> datetime | None:
        times = [e.recorded_at for events in self.events_by_item.values() for e in events]
        return max(times) if times else None


_EVENT_COLUMNS = {f.attname: f for f in TrackingEvent._meta.concrete_fields}
_EVENT_FIELDS = [_EVENT_COLUMNS[name] for name in EventRow.__slots__]
_EVENT_JSON = tuple(i for i, f in enumerate(_EVENT_FIELDS) if f.get_internal_type() == "JSONField")
_EVENTS_SQL = (
    f"SELECT {', '.join(connection.ops.quote_name(str(f.column)) for f in _EVENT_FIELDS)} "
    f"FROM {connection.ops.quote_name(TrackingEvent._meta.db_table)} "
    "WHERE tracked_item_id = ANY(%s) ORDER BY occurred_at, id"
)


def _event_row(row: Sequence[Any]) -> list[Any]:
    values = list(row)
    for i in _EVENT_JSON:
        raw = values[i]
        if isinstance(raw, str | bytes):
            values[i] = orjson.loads(raw)
    return values


def _event_rows(item_ids: set[int]) -> list[EventRow]:
    """Events of the items in time order. On PostgreSQL one plain SQL query with the JSON
    columns parsed by orjson: the ORM's query compiling and JSONField converters (json.loads
    of three columns per event) cost more than the query itself."""
    if connection.vendor != "postgresql":
        rows = TrackingEvent.objects.filter(tracked_item_id__in=item_ids).order_by("occurred_at", "id")
        return [EventRow(*row) for row in rows.values_list(*EventRow.__slots__)]
    with connection.cursor() as cursor:
        cursor.execute(_EVENTS_SQL, [list(item_ids)])
        return [EventRow(*_event_row(row)) for row in cursor.fetchall()]


def _columns(model: type[Model], alias: str) -> str:
    q = connection.ops.quote_name
    return ", ".join(f"{alias}.{q(str(f.column))}" for f in model._meta.concrete_fields)


def _instance(model: type[M], values: Sequence[Any]) -> M:
    """A model instance from its concrete columns' values as PostgreSQL returned them (JSON as text)."""
    fields = model._meta.concrete_fields
    decoded = [orjson.loads(v) if isinstance(v, str) and f.get_internal_type() == "JSONField" else v
               for f, v in zip(fields, values, strict=True)]  # fmt: skip
    return model.from_db(connection.alias, [f.attname for f in fields], decoded)


def _instances(model: type[M], *, where: str, params: Sequence[Any], order_by: str) -> list[M]:
    """Model instances from one plain SQL query (PostgreSQL), JSON columns parsed by orjson.

    For the track views' hot path: compiling an ORM query costs several times
    what PostgreSQL takes to answer it. ``where`` and ``order_by`` are SQL on
    the model's table, aliased ``t``.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"SELECT {_columns(model, 't')} FROM {table} t WHERE {where} ORDER BY {order_by}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_instance(model, row) for row in rows]


def _shipment_with_parcels(*, customer: Customer, pk: uuid.UUID) -> tuple[Shipment, list[Parcel]] | None:
    """The customer's shipment and its parcels (by tracking id) in one round trip (PostgreSQL)."""
    q = connection.ops.quote_name
    width = len(Shipment._meta.concrete_fields)
    sql = (
        f"SELECT {_columns(Shipment, 's')}, {_columns(Parcel, 'p')} FROM {q(Shipment._meta.db_table)} s "
        f"LEFT JOIN {q(Parcel._meta.db_table)} p ON p.shipment_id = s.id "
        "WHERE s.id = %s AND s.customer_id = %s ORDER BY p.carrier_tracking_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk, customer.pk])
        rows = cursor.fetchall()
    if not rows:
        return None
    shipment = _instance(Shipment, rows[0][:width])
    return shipment, [_instance(Parcel, row[width:]) for row in rows if row[width] is not None]


def _parcels_of(shipment_ids: list[uuid.UUID]) -> list[Parcel]:
    if connection.vendor != "postgresql":
        return list(Parcel.objects.filter(shipment__in=shipment_ids).order_by("carrier_tracking_id"))
    return _instances(Parcel, where="t.shipment_id = ANY(%s)", params=[shipment_ids], order_by="t.carrier_tracking_id")


def _load_details(
    shipments: list[Shipment], loaded_parcels: list[Parcel] | None = None
) -> tuple[dict[uuid.UUID, list[Parcel]], dict[int, list[TrackingEvent]]]:
    """Parcels (unless given: ``loaded_parcels``, all those of ``shipments``) and events, by owner."""
    parcels: dict[uuid.UUID, list[Parcel]] = defaultdict(list)
    item_ids = {s.tracked_item_id for s in shipments}
    if shipments:
        for parcel in _parcels_of([s.pk for s in shipments]) if loaded_parcels is None else loaded_parcels:
            parcels[parcel.shipment_id].append(parcel)
            item_ids.add(parcel.tracked_item_id)
    events: dict[int, list[TrackingEvent]] = defaultdict(list)
    if item_ids:
        # Plain rows, not model instances: a batch of 100 shipments carries
        # thousands of events and the representation only reads attributes.
        for event in _event_rows(item_ids):
            events[event.tracked_item_id].append(event)  # type: ignore[arg-type]
    return parcels, events


def shipment_for_customer(*, customer: Customer, shipment_id: str) -> TrackResult | None:
    """One shipment with its parcels and events, or None (also for another customer's)."""
    try:
        pk = uuid.UUID(str(shipment_id))
    except ValueError:
        return None
    if connection.vendor == "postgresql":
        found = _shipment_with_parcels(customer=customer, pk=pk)
        if found is None:
            return None
        shipment, loaded = found
        parcels, events = _load_details([shipment], loaded)
    else:
        first = Shipment.objects.filter(customer=customer, pk=pk).first()
        if first is None:
            return None
        shipment = first
        parcels, events = _load_details([shipment])
    return TrackResult(shipments=[shipment], parcels=parcels, events_by_item=events, not_found=[])


def shipments_track(
    *,
    customer: Customer,
    ids: Sequence[uuid.UUID] = (),
    uuid_refs: Sequence[str] = (),
    carrier_tracking_ids: Sequence[str] = (),
) -> TrackResult:
    """Shipments matching any of the ids, uuid_refs or carrier tracking ids, in request order.

    ids first, then uuid_refs, then carrier tracking ids; a uuid_ref or a
    tracking id may match several shipments (oldest first); a shipment appears
    once. Values nothing matched are listed in ``not_found`` (as sent).
    """
    query = Q()
    if ids:
        query |= Q(pk__in=set(ids))
    if uuid_refs:
        query |= Q(uuid_ref__in=set(uuid_refs))
    if carrier_tracking_ids:
        query |= Q(carrier_tracking_id__in=set(carrier_tracking_ids))
    found = list(Shipment.objects.filter(query, customer=customer).order_by("created_at", "pk")) if query else []

    by_id = {s.pk: s for s in found}
    by_ref: dict[str, list[Shipment]] = defaultdict(list)
    by_tracking: dict[str, list[Shipment]] = defaultdict(list)
    for shipment in found:
        if shipment.uuid_ref:
            by_ref[shipment.uuid_ref].append(shipment)
        by_tracking[shipment.carrier_tracking_id].append(shipment)

    ordered: list[Shipment] = []
    seen: set[uuid.UUID] = set()
    not_found: list[str] = []
    lookups = [
        *((str(value), [by_id[value]] if value in by_id else []) for value in ids),
        *((value, by_ref.get(value, [])) for value in uuid_refs),
        *((value, by_tracking.get(value, [])) for value in carrier_tracking_ids),
    ]
    for value, matches in lookups:
        if not matches:
            not_found.append(value)
        for shipment in matches:
            if shipment.pk not in seen:
                seen.add(shipment.pk)
                ordered.append(shipment)
    parcels, events = _load_details(ordered)
    return TrackResult(shipments=ordered, parcels=parcels, events_by_item=events, not_found=not_found)


def tracking_updates(*, item_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The latest re-label (``other.new_tracking_id``/``new_tracking_url``) of each tracked item that has one.

    Gluey's ``carrier_tracking_update`` is repeated on every event after the
    re-label; one query on a small partial index (only re-labelling events).
    """
    ids = set(item_ids)
    if not ids:
        return {}
    rows = (
        TrackingEvent.objects.filter(tracked_item_id__in=ids, other__has_key="new_tracking_id")
        .order_by("tracked_item_id", "occurred_at", "id")
        .values_list("tracked_item_id", "occurred_at", "other")
    )
    return {item_id: {"occurred_at": when, **other} for item_id, when, other in rows}
