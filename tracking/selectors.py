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
import functools
import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple

import orjson
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.db.models.expressions import RawSQL

from gluey.db import prepared_rows
from tracking import db
from tracking.models import Customer, ItemHistory, Parcel, Shipment, TrackingEvent

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
# Plain rows, not model instances: a 100-shipment batch carries a thousand events
# and the representation only reads attributes. On PostgreSQL each read is one
# plain SQL statement with JSON columns sent as text and parsed by orjson
# (compiling an ORM query, building model instances and the JSONField
# converters cost several times what PostgreSQL takes to answer); elsewhere the
# ORM fills the same rows.


class ShipmentRow(NamedTuple):
    """The columns of a Shipment that its track representation reads (ids as text: a read only shows them)."""

    id: str
    uuid_ref: str
    tracking_level: str
    carrier_id: str
    carrier_tracking_id: str
    reference_shipper: str
    reference_receiver: str
    meta_data: list[Any]
    tracked_item_id: int

    @property
    def pk(self) -> str:
        return self.id


class ParcelRow(NamedTuple):
    """The columns of a Parcel that its track representation reads (ids as text)."""

    id: str
    shipment_id: str
    uuid_ref: str
    meta_data: list[Any]
    carrier_tracking_id: str
    tracked_item_id: int

    @property
    def pk(self) -> str:
        return self.id


class EventRow(NamedTuple):
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
    location: dict[str, Any]
    eta: datetime | None
    signed_by: str
    weight_kg: float | None
    carrier_meta: list[Any]
    other: dict[str, Any]
    corrected_at: datetime | None


# Events in carrier-time order; ties in the order they were recorded.
carrier_order = attrgetter("occurred_at", "id")


class RenderedHistory(NamedTuple):
    """A tracked item's history as the track API shows it, from the events' stored JSON.

    ``events_json``: the stored TrackingEvents (``TrackingEvent.track_json``),
    oldest first by carrier time, joined by commas ("" without events).
    ``notable``: the few events a summary field or a delivery prediction reads
    (an ETA, an ``other`` member, a signature, a weight, carrier meta data) and
    the first scan, oldest first: every other event contributes its JSON only.
    ``settled``: delivered or finished, so no prediction.
    """

    events_json: str
    notable: list[EventRow]
    settled: bool


@dataclass
class TrackResult:
    """Shipments in request order, with what their representation needs.

    Each tracked item's events are either in ``rendered`` (PostgreSQL, every
    event stored with its JSON) or, as rows, in ``events_by_item``.
    """

    shipments: list[ShipmentRow]
    parcels: dict[str, list[ParcelRow]]
    events_by_item: dict[int, list[EventRow]]
    not_found: list[str]
    # The latest recorded_at of the events (None without events): ``x-last-updated``.
    last_updated: datetime | None = None
    rendered: dict[int, RenderedHistory] = field(default_factory=dict)


def _select_list(model: type[Model], alias: str, names: Sequence[str]) -> str:
    """Columns of ``names`` (attribute names), JSON ones as text for orjson, UUIDs as text."""
    return ", ".join(_selected(model, alias, names))


def _selected(model: type[Model], alias: str, names: Sequence[str]) -> list[str]:
    q = connection.ops.quote_name
    fields = {f.attname: f for f in model._meta.concrete_fields}
    parts = []
    for name in names:
        column = f"{alias}.{q(str(fields[name].column))}"
        as_text = fields[name].get_internal_type() == "JSONField" or fields[name].db_type(connection) == "uuid"
        parts.append(f"{column}::text" if as_text else column)
    return parts


def _json_positions(model: type[Model], names: Sequence[str]) -> tuple[int, ...]:
    fields = {f.attname: f for f in model._meta.concrete_fields}
    return tuple(i for i, name in enumerate(names) if fields[name].get_internal_type() == "JSONField")


_POSTGRES = connection.vendor == "postgresql"
_SHIPMENT_COLUMNS = ShipmentRow._fields
_PARCEL_COLUMNS = ParcelRow._fields
_SHIPMENT_WIDTH = len(_SHIPMENT_COLUMNS)
_SHIPMENT_JSON = _json_positions(Shipment, _SHIPMENT_COLUMNS)
_PARCEL_JSON = _json_positions(Parcel, _PARCEL_COLUMNS)
_q = connection.ops.quote_name
_EVENT_JSON = _json_positions(TrackingEvent, EventRow._fields)
_PARCEL_WIDTH = len(_PARCEL_COLUMNS)
_EVENTS_SQL = (
    f"SELECT {_select_list(TrackingEvent, 'e', EventRow._fields)} FROM {_q(TrackingEvent._meta.db_table)} e "
    "WHERE e.tracked_item_id = ANY(%s::bigint[]) ORDER BY e.occurred_at, e.id"
)


def _track_sql() -> str:
    """Shipments, their parcels and the history of each, in one statement whatever their number:
    one row per owner, each shipment's own first (NULL parcel columns), then its parcels' by
    tracking id, each with its item's stored history (``_history`` reads it), and whether it has none.
    "{where}" (on alias s) is filled in per kind of read.

    Only stored histories are read here: registering a number writes its row, with or without
    events, so an item lacks one only when its events were written some other way, and
    ``_with_events`` reads those items' events with a second statement. Aggregating their events
    in this one instead (a UNION of the grouped aggregate) made every read's plan twice the size,
    and PostgreSQL's CPU per single read with it (0.056 → 0.096 ms). The shipments' rows and their
    parcels' are two branches of a UNION, each joined to its items' histories, and sorted by
    column position: a quarter less PostgreSQL CPU on a 100-shipment read than gathering the
    owners first (a lateral UNION per shipment) and joining the histories to them after
    (docs/architecture.md, "Reads").

    The rows are sorted by the shipment's creation time, which stays in PostgreSQL, and the
    history's latest recorded_at comes as text (``_with_events`` parses it): psycopg2 builds a
    datetime for every timestamp it is sent, and those two per row were a tenth of a
    100-shipment read's Python."""
    shipment = _selected(Shipment, "s", _SHIPMENT_COLUMNS)
    history = [
        "COALESCE(x.events_json, '')",
        "COALESCE(x.unrendered, 0)",
        "x.last_recorded_at::text",
        "COALESCE(x.settled, false)",
        "x.notable",
        "x.first_scan",
        "x.tracked_item_id IS NULL",
    ]
    first = [*shipment, *["NULL"] * _PARCEL_WIDTH, *history]
    named = [f"c{i}" for i in range(1, len(first) + 1)]
    histories = _q(ItemHistory._meta.db_table)
    # ORDER BY the shipment's created_at and id, then the parcel's number (NULL: the shipment's own row).
    number = named[_SHIPMENT_WIDTH + _PARCEL_COLUMNS.index("carrier_tracking_id")]
    return (
        f"WITH s AS MATERIALIZED (SELECT * FROM {_q(Shipment._meta.db_table)} s "
        "WHERE s.customer_id = %s AND ({where})) "
        f"SELECT {', '.join(named)} FROM ("
        f"SELECT s.created_at AS o, {', '.join(f'{e} AS {n}' for e, n in zip(first, named))} FROM s "
        f"LEFT JOIN {histories} x ON x.tracked_item_id = s.tracked_item_id "
        f"UNION ALL SELECT s.created_at, {', '.join(shipment)}, {_select_list(Parcel, 'p', _PARCEL_COLUMNS)}, "
        f"{', '.join(history)} FROM s "
        f"JOIN {_q(Parcel._meta.db_table)} p ON p.shipment_id = s.id "
        f"LEFT JOIN {histories} x ON x.tracked_item_id = p.tracked_item_id"
        f") u ORDER BY o, c1, {number} NULLS FIRST"
    )


_TRACK_SQL = _track_sql()


def _decoded(values: Sequence[Any], positions: tuple[int, ...]) -> list[Any]:
    out = list(values)
    for i in positions:
        out[i] = orjson.loads(out[i])
    return out


@functools.cache
def _track_sql_where(where: str) -> str:
    return _TRACK_SQL.replace("{where}", where)


def _shipments_with_parcels(
    customer: Customer, name: str, where: str, params: Sequence[Any], orm_filter: Q
) -> tuple[list[ShipmentRow], dict[str, list[ParcelRow]], dict[int, Sequence[Any]] | None]:
    """The customer's shipments matching ``where`` (SQL on alias ``s``, prepared as ``name``; ``orm_filter``
    off PostgreSQL), oldest first, their parcels by tracking id, and on PostgreSQL the
    ``db.histories_sql`` columns of every tracked item among them (None elsewhere)."""
    shipments: list[ShipmentRow] = []
    parcels: dict[str, list[ParcelRow]] = defaultdict(list)
    if not _POSTGRES:
        found = Shipment.objects.filter(orm_filter, customer=customer).order_by("created_at", "pk")
        shipments = [ShipmentRow(str(row[0]), *row[1:]) for row in found.values_list(*_SHIPMENT_COLUMNS)]
        owned = Parcel.objects.filter(shipment__in=[s.id for s in shipments]).order_by("carrier_tracking_id")
        for row in owned.values_list(*_PARCEL_COLUMNS):
            parcels[str(row[1])].append(ParcelRow(str(row[0]), str(row[1]), *row[2:]))
        return shipments, parcels, None
    histories: dict[int, Sequence[Any]] = {}
    first_history = _SHIPMENT_WIDTH + _PARCEL_WIDTH
    # A parcel registered under its shipment's own number shares its history (one entry per item).
    # _make: the tuple built in C, not through the named tuple's keyword-taking __new__.
    for row in prepared_rows(name, _track_sql_where(where), [customer.pk, *params]):
        if row[_SHIPMENT_WIDTH] is None:  # the shipment's own row
            shipments.append(ShipmentRow._make(_decoded(row[:_SHIPMENT_WIDTH], _SHIPMENT_JSON)))
            histories[shipments[-1].tracked_item_id] = row[first_history:]
        else:
            parcel = ParcelRow._make(_decoded(row[_SHIPMENT_WIDTH:first_history], _PARCEL_JSON))
            parcels[parcel.shipment_id].append(parcel)
            histories[parcel.tracked_item_id] = row[first_history:]
    return shipments, parcels, histories


def _event_rows(item_ids: set[int]) -> list[EventRow]:
    """Every event of the tracked items, oldest first (one query)."""
    if not item_ids:
        return []
    if not _POSTGRES:
        found = TrackingEvent.objects.filter(tracked_item_id__in=item_ids).order_by("occurred_at", "id")
        return [EventRow(*values) for values in found.values_list(*EventRow._fields)]
    rows = prepared_rows("gluey_track_events", _EVENTS_SQL, ["{" + ",".join(map(str, item_ids)) + "}"])
    return [_event(row) for row in rows]


def _event(values: Sequence[Any]) -> EventRow:
    """An EventRow from its columns as _EVENTS_SQL selects them (JSON as text)."""
    out = list(values)
    location, meta, other = _EVENT_JSON
    out[location], out[meta], out[other] = (
        orjson.loads(out[location]),
        orjson.loads(out[meta]),
        orjson.loads(out[other]),
    )
    return EventRow._make(out)


# EventRow fields that are datetimes: JSON (``db.histories_sql``) gives them as ISO 8601 strings.
_EVENT_TIMES = tuple(i for i, name in enumerate(EventRow._fields) if name.endswith("_at") or name == "eta")
_time = datetime.fromisoformat


def _event_from_json(values: list[Any]) -> EventRow:
    for i in _EVENT_TIMES:
        if values[i] is not None:
            values[i] = _time(values[i])
    return EventRow._make(values)


def _history(values: Sequence[Any]) -> tuple[RenderedHistory | None, str | None]:
    """The history columns of a ``_TRACK_SQL`` row (``ItemHistory``'s, and whether none is
    stored): the history (None if none is stored or an event has no stored JSON) and its latest
    recorded_at, as text."""
    events, unrendered, last_recorded, settled, notable, first_scan, missing = values
    if missing or unrendered:
        return None, last_recorded
    rows = [_event_from_json(v) for v in orjson.loads(notable)] if notable else []
    if first_scan is not None:
        scan = _event_from_json(orjson.loads(first_scan))
        if all(row.id != scan.id for row in rows):
            rows.append(scan)
            rows.sort(key=carrier_order)
    return RenderedHistory(events, rows, settled), last_recorded


def _with_events(
    shipments: list[ShipmentRow],
    parcels: dict[str, list[ParcelRow]],
    not_found: list[str],
    histories: dict[int, Sequence[Any]] | None,
) -> TrackResult:
    """The result, with each tracked item's events: from ``histories`` (``db.histories_sql`` columns by item,
    PostgreSQL), else as rows read here. Items with events stored without JSON, or without a stored
    history (both written other than by recording) get rows too, read with one more query."""
    events: dict[int, list[EventRow]] = defaultdict(list)
    result = TrackResult(shipments=shipments, parcels=parcels, events_by_item=events, not_found=not_found)
    as_rows: set[int] = set()
    recorded: list[datetime] = []  # the latest recorded_at of each history, and of each row read
    if histories is None:
        as_rows = {s.tracked_item_id for s in shipments}
        for owned in parcels.values():
            as_rows.update(p.tracked_item_id for p in owned)
    else:
        for item_id, values in histories.items():
            history, last_recorded = _history(values)
            if history is None:
                as_rows.add(item_id)
            else:
                result.rendered[item_id] = history
            if last_recorded is not None:
                recorded.append(_time(last_recorded))
    for event in _event_rows(as_rows):
        events[event.tracked_item_id].append(event)
        recorded.append(event.recorded_at)
    result.last_updated = max(recorded, default=None)
    return result


def shipment_for_customer(*, customer: Customer, shipment_id: str) -> TrackResult | None:
    """One shipment with its parcels and the history of each (one query on PostgreSQL, three
    elsewhere), or None (also for another customer's)."""
    try:
        pk = uuid.UUID(str(shipment_id))
    except ValueError:
        return None
    # The id as text: psycopg2 quotes a str in C, a UUID through a Python adapter.
    shipments, parcels, histories = _shipments_with_parcels(
        customer, "gluey_track_one", "s.id = %s", [str(pk)], Q(pk=pk)
    )
    return _with_events(shipments, parcels, [], histories) if shipments else None


def shipments_track(
    *,
    customer: Customer,
    ids: Sequence[uuid.UUID | str] = (),
    uuid_refs: Sequence[str] = (),
    carrier_tracking_ids: Sequence[str] = (),
) -> TrackResult:
    """Shipments matching any of the ids (UUIDs, or their canonical text), uuid_refs or carrier
    tracking ids, in request order (one query on PostgreSQL).

    ids first, then uuid_refs, then carrier tracking ids; a uuid_ref or a
    tracking id may match several shipments (oldest first); a shipment appears
    once. Values nothing matched are listed in ``not_found`` (as sent).
    """
    query = Q()
    where: list[str] = []
    params: list[Any] = []
    kinds: list[str] = []
    if ids:
        query |= Q(pk__in=set(ids))
        where.append("s.id = ANY(%s::uuid[])")
        params.append("{" + ",".join({str(i) for i in ids}) + "}")
        kinds.append("ids")
    if uuid_refs:
        query |= Q(uuid_ref__in=set(uuid_refs))
        where.append("s.uuid_ref = ANY(%s::varchar[])")
        params.append(list(set(uuid_refs)))
        kinds.append("refs")
    if carrier_tracking_ids:
        query |= Q(carrier_tracking_id__in=set(carrier_tracking_ids))
        where.append("s.carrier_tracking_id = ANY(%s::varchar[])")
        params.append(list(set(carrier_tracking_ids)))
        kinds.append("numbers")
    found: list[ShipmentRow] = []
    parcels: dict[str, list[ParcelRow]] = {}
    histories: dict[int, Sequence[Any]] | None = {} if _POSTGRES else None
    if where:
        # One prepared statement per combination of the kinds of value.
        name = "gluey_track_" + "_".join(kinds)
        found, parcels, histories = _shipments_with_parcels(customer, name, " OR ".join(where), params, query)

    by_id = {s.id: s for s in found}
    by_ref: dict[str, list[ShipmentRow]] = defaultdict(list)
    by_tracking: dict[str, list[ShipmentRow]] = defaultdict(list)
    if uuid_refs or carrier_tracking_ids:  # a batch by id only, as most are, needs neither map
        for shipment in found:
            if shipment.uuid_ref:
                by_ref[shipment.uuid_ref].append(shipment)
            by_tracking[shipment.carrier_tracking_id].append(shipment)

    ordered: list[ShipmentRow] = []
    seen: set[str] = set()
    not_found: list[str] = []
    lookups = itertools.chain(
        ((text, [by_id[text]] if text in by_id else []) for text in map(str, ids)),
        ((value, by_ref.get(value, [])) for value in uuid_refs),
        ((value, by_tracking.get(value, [])) for value in carrier_tracking_ids),
    )
    for value, matches in lookups:
        if not matches:
            not_found.append(value)
        for shipment in matches:
            if shipment.id not in seen:
                seen.add(shipment.id)
                ordered.append(shipment)
    return _with_events(ordered, {s.id: parcels[s.id] for s in ordered if s.id in parcels}, not_found, histories)


def tracking_updates(*, item_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The latest re-label (``other.new_tracking_id``/``new_tracking_url``) of each tracked item that has one.

    Gluey's ``carrier_tracking_update`` is repeated on every event after the
    re-label; one query on a small partial index (only re-labelling events).
    """
    ids = set(item_ids)
    if not ids:
        return {}
    return {item_id: {"occurred_at": when, **other} for item_id, when, other in db.item_relabels(ids)}
