"""The recording statements, in PostgreSQL and SQLite.

``tracking.services.recording`` says what recording does; this module says how
each step is written in SQL. Every function runs a constant number of
statements per chunk of rows whatever the batch size. On PostgreSQL each column
travels as one array literal that the server unnests: one constant to parse
instead of a VALUES list of thousands of parameters. SQLite (the embedded
default of ``make run``) gets the plain VALUES form of the same statement.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models.expressions import RawSQL

from gluey.db import pg_array, prepared_rows, statement_rows
from tracking.models import (
    UNMAPPED,
    CodeMapping,
    ItemHistory,
    Parcel,
    Shipment,
    StatusCode,
    TrackedItem,
    TrackingEvent,
    UnmappedCode,
)
from tracking.prediction import DELIVERED, FINISHED_MILESTONES, SCAN_MILESTONES

CHUNK = 1000

# Columns of a recorded event as recording supplies them, with their PostgreSQL
# element types (for the array form of the insert), in the order every
# statement below uses. The harmonised columns (HARMONISED) are not among them:
# the insert looks them up in the mapping table itself.
SOURCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tracked_item_id", "bigint"),
    ("carrier_id", "varchar"),
    ("txid", "bigint"),
    ("dedupe_key", "bigint"),
    ("carrier_code", "varchar"),
    ("carrier_sub_code", "varchar"),
    ("carrier_text", "text"),
    ("estimate", "boolean"),
    ("occurred_at", "timestamptz"),
    ("utc_offset_minutes", "smallint"),
    ("recorded_at", "timestamptz"),
    ("location", "jsonb"),
    ("eta", "timestamptz"),
    ("signed_by", "varchar"),
    ("weight_kg", "float8"),
    ("carrier_meta", "jsonb"),
    ("channel", "varchar"),
    ("inbound_message_id", "bigint"),
    ("other", "jsonb"),
)
HARMONISED = ("milestone", "code", "sub_code", "unmapped")
# Recording also gives each row its rendered TrackingEvent without the gluey codes
# (``tracking.representations.track_event_tail``); the insert puts the codes it looked up in
# front and stores the whole as ``track_json``.
INPUT_COLUMNS = SOURCE_COLUMNS + (("track_tail", "text"),)
EVENT_COLUMNS = tuple(name for name, _ in SOURCE_COLUMNS) + HARMONISED + ("track_json",)
_JSON_COLUMNS = {name for name, kind in SOURCE_COLUMNS if kind == "jsonb"}
_TIME_COLUMNS = {name for name, kind in SOURCE_COLUMNS if kind == "timestamptz"}


# The statements are built from names that never change in a process: quote each once (every
# ``connection`` attribute is a lookup through Django's per-thread proxy, ~70 a call uncached).
@functools.cache
def _postgres() -> bool:
    return connection.vendor == "postgresql"


@functools.cache
def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model: Any) -> str:
    return _quoted(model._meta.db_table)


# Up to this many rows a recording statement runs prepared; a larger batch is planned for
# what it holds (the planner sees the array constants' sizes), and its planning time is noise.
PREPARED_MAX_ROWS = 50


def _recording_rows(name: str, sql: str, params: Sequence[Any], rows: int) -> list[tuple[Any, ...]]:
    """A recording statement's rows: prepared for the small calls webhooks make, planned afresh for big batches."""
    return statement_rows(name, sql, params, prepare=rows <= PREPARED_MAX_ROWS)


# (item id, current status time, status milestone, status code, followed by a shipment or parcel,
# kept: registered once, so its history is stored). "kept" is the row's own expires_at, cleared by
# registration's update of the row: a lock that waited for that update returns the updated row,
# where the followed test's subqueries still see the snapshot from before the wait.
ItemState = tuple[int, datetime | None, str, str, bool, bool]


def _followed_sql(item: str) -> str:
    """True when a registered shipment or parcel follows the tracked item (both are indexed lookups)."""
    return (
        f"(EXISTS (SELECT 1 FROM {_table(Shipment)} s WHERE s.tracked_item_id = {item}) "
        f"OR EXISTS (SELECT 1 FROM {_table(Parcel)} p WHERE p.tracked_item_id = {item}))"
    )


def _tracked_items_lock_sqlite(
    *, carrier_id: str, tracking_ids: Sequence[str], created_at: datetime, expires_at: datetime
) -> tuple[dict[str, ItemState], int]:
    """SQLite: lock the tracked items, creating the missing ones; and the feed's transaction id.

    Returns (tracking id → ItemState, transaction id). SQLite has one writer
    at a time, so the transaction itself is the lock. PostgreSQL locks and
    creates items in the statement that stores the events (``events_store``).
    """
    created = connection.ops.adapt_datetimefield_value(created_at)
    expires = connection.ops.adapt_datetimefield_value(expires_at)
    with connection.cursor() as cursor:
        for start in range(0, len(tracking_ids), CHUNK):
            chunk = tracking_ids[start : start + CHUNK]
            params: list[Any] = []
            for tracking_id in chunk:
                params.extend((carrier_id, tracking_id, created, expires))
            cursor.execute(
                f"INSERT INTO {_table(TrackedItem)} (carrier_id, tracking_id, created_at, expires_at, "
                "status_milestone, status_code, status_sub_code, check_failures, invalid_reason) VALUES "
                + ", ".join(["(%s, %s, %s, %s, '', '', '', 0, '')"] * len(chunk))
                + " ON CONFLICT DO NOTHING",
                params,
            )
    qs = TrackedItem.objects.filter(carrier_id=carrier_id, tracking_id__in=tracking_ids).order_by("id")
    followed = RawSQL(_followed_sql(_table(TrackedItem) + ".id"), ())
    rows = qs.annotate(followed=followed).values_list(
        "tracking_id", "id", "status_at", "status_milestone", "status_code", "followed", "expires_at"
    )
    items = {tid: (pk, at, milestone, code, bool(f), exp is None) for tid, pk, at, milestone, code, f, exp in rows}
    return items, sqlite_feed_txid()


def sqlite_feed_txid() -> int:
    """SQLite's stand-in for a transaction id: the highest one stored (writers are serial).

    New events sort after everything stored, including events a correction
    moved forward (``tracking.services.mappings`` gives them this plus one).
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(txid), 0) FROM {_table(TrackingEvent)}")
        return int(cursor.fetchone()[0])


def _json_text(value: object) -> str:
    """orjson: several times json.dumps' speed on the three JSON columns of every event.

    Non-finite floats become null (jsonb would refuse NaN); the rare value
    orjson does not take (an integer beyond 64 bits) goes through json, which
    writes a datetime as orjson does (``isoformat``).
    """
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, default=lambda v: v.isoformat())


def _row_values(r: dict[str, object], adapt_dt: Any) -> tuple[Any, ...]:
    return tuple(
        _json_text(r[name])
        if name in _JSON_COLUMNS
        else (adapt_dt(r[name]) if name in _TIME_COLUMNS and r[name] is not None else r[name])
        for name, _ in INPUT_COLUMNS
    )


@functools.cache
def _harmonised_select(source: str) -> str:
    """SELECT the event columns from ``source`` (aliased v), looking up the harmonised status.

    The same lookup as ``tracking.harmonise.harmonise`` (the contract): the
    (code, sub-code) row first, then the code's sub-code-less row, else
    UNMAPPED and flagged. Doing it in the insert saves recording a statement
    and reads the mapping in the same snapshot as everything it writes.
    """
    from tracking.representations import GLUEY_KEYS, TRACK_JSON_HEAD  # it reads rows through this module

    mapping = _table(CodeMapping)
    status = _table(StatusCode)
    milestone, code, sub_code = UNMAPPED
    plain = ", ".join(f"v.{_quoted(name)}" for name, _ in SOURCE_COLUMNS)
    harmonised = [
        f"COALESCE(s.milestone, '{milestone}')",
        f"COALESCE(s.code, '{code}')",
        f"COALESCE(s.sub_code, '{sub_code}')",
    ]
    # The description as tracking.representations.status_description gives it ("" if the taxonomy lacks it).
    description = (
        f"COALESCE(s.description, (SELECT u.description FROM {status} u WHERE u.milestone = '{milestone}' "
        f"AND u.code = '{code}' AND u.sub_code = '{sub_code}'), '')"
    )
    if _postgres():
        # Written out member by member, as compact as orjson writes them in Python: json_build_object
        # puts " : " and ", " between members, 11 bytes of every stored event that each track read
        # then carries from PostgreSQL and to the client. to_json escapes each value as it does.
        members = " || ',' || ".join(
            f"'\"{key}\":' || to_json({value})::text" for key, value in zip(GLUEY_KEYS, [*harmonised, description])
        )
        gluey = f"'{{' || {members} || '}}'"
    else:
        members = ", ".join(f"'{key}', {value}" for key, value in zip(GLUEY_KEYS, [*harmonised, description]))
        gluey = f"json_object({members})"
    track_json = f"'{TRACK_JSON_HEAD}' || {gluey} || ',' || v.track_tail"
    return (
        f"SELECT {plain}, {', '.join(harmonised)}, s.id IS NULL, {track_json} FROM {source} "
        f"LEFT JOIN {mapping} exact ON exact.carrier_id = v.carrier_id AND exact.carrier_code = v.carrier_code "
        "AND exact.carrier_sub_code = v.carrier_sub_code AND v.carrier_sub_code <> '' "
        f"LEFT JOIN {mapping} fallback ON fallback.carrier_id = v.carrier_id "
        "AND fallback.carrier_code = v.carrier_code AND fallback.carrier_sub_code = '' "
        f"LEFT JOIN {status} s ON s.id = COALESCE(exact.status_id, fallback.status_id)"
    )


# Ids follow the order of the rows given (carrier-time ties go to the later recorded), so the
# insert selects in that order whatever join the planner picks.
_IN_ORDER = "ORDER BY v.ord"


Inserted = tuple[int, int, int, str, str, str, bool]


def histories_sql(items: str, fields: Sequence[str]) -> str:
    """The history of each tracked item in ``items`` (an SQL array of ids) that has events, one row
    each, as ``ItemHistory`` keeps it: the item id, its events' stored JSON joined in carrier-time
    order, the count of events stored without JSON, the latest recorded_at, whether it is settled,
    and as JSON rows of ``fields`` (``selectors.EventRow``) the notable events and the first scan.
    PostgreSQL joins the stored JSON, so a read does no per-event work in Python.

    The aggregates read their events in carrier-time order from an ordered subquery (one index
    scan, no sort per aggregate: PostgreSQL's documented alternative to ORDER BY inside each
    aggregate); OFFSET 0 keeps the planner from merging the subquery into the aggregate.
    tests/api/test_track_stored_json.py records events out of order and reads them in order.
    """
    events = _table(TrackingEvent)
    columns = {f.attname: str(f.column) for f in TrackingEvent._meta.concrete_fields}
    as_array = "json_build_array({})".format(", ".join(f"{{a}}.{_quoted(columns[name])}" for name in fields))
    notable = (
        "e.other <> '{}'::jsonb OR e.eta IS NOT NULL OR e.signed_by <> '' OR e.weight_kg IS NOT NULL "
        "OR e.carrier_meta <> '[]'::jsonb"
    )
    scan = pg_array(sorted(SCAN_MILESTONES))
    finished = pg_array(sorted(FINISHED_MILESTONES))
    settled = f"(e.milestone = '{DELIVERED[0]}' AND e.code = '{DELIVERED[1]}') OR e.milestone = ANY('{finished}')"
    selected = ", ".join(f"e.{_quoted(columns[name])}" for name in (*fields, "track_json"))
    ordered = (
        f"SELECT {selected} FROM {events} e WHERE e.tracked_item_id = ANY({items}) "
        "ORDER BY e.tracked_item_id, e.occurred_at, e.id OFFSET 0"
    )
    return (
        "SELECT h.item, h.events, h.unrendered, h.last_recorded, h.settled, h.notable, "
        # The first scan matters only to a prediction, which a settled item does not get.
        f"(SELECT {as_array.format(a='fs')}::text FROM {events} fs WHERE fs.id = h.first_scan AND NOT h.settled) "
        "AS first_scan FROM (SELECT e.tracked_item_id AS item, string_agg(e.track_json, ',') AS events, "
        "count(*) FILTER (WHERE e.track_json IS NULL) AS unrendered, max(e.recorded_at) AS last_recorded, "
        f"bool_or({settled}) AS settled, "
        f"(array_agg(e.id) FILTER (WHERE e.milestone = ANY('{scan}')))[1] AS first_scan, "
        f"(json_agg({as_array.format(a='e')}) FILTER (WHERE {notable}))::text AS notable "
        f"FROM ({ordered}) e GROUP BY e.tracked_item_id) h"
    )


# ItemHistory's columns, in the order histories_sql gives them.
HISTORY_COLUMNS = (
    "tracked_item_id",
    "events_json",
    "unrendered",
    "last_recorded_at",
    "settled",
    "notable",
    "first_scan",
)


@functools.cache
def _refresh_sql(fields: tuple[str, ...], *, kept_only: bool = True) -> str:
    """Upsert the histories of the items in the array parameter; ``kept_only``: of those among them
    registered once (``expires_at`` cleared), the only ones ever read (the caller knows otherwise),
    with an empty history for each that has no events yet, so a read finds a row for every
    registered item (``selectors._track_sql``)."""
    table = _table(ItemHistory)
    columns = ", ".join(HISTORY_COLUMNS)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in HISTORY_COLUMNS[1:])
    upsert = f"ON CONFLICT (tracked_item_id) DO UPDATE SET {updates}"
    if not kept_only:
        return f"INSERT INTO {table} ({columns}) {histories_sql('%s::bigint[]', fields)} {upsert}"
    kept = f"SELECT t.id FROM {_table(TrackedItem)} t WHERE t.id = ANY(%s::bigint[]) AND t.expires_at IS NULL"
    return (
        f"WITH kept AS ({kept}), written AS (INSERT INTO {table} ({columns}) "
        f"{histories_sql('ARRAY(SELECT id FROM kept)', fields)} {upsert} RETURNING tracked_item_id) "
        f"INSERT INTO {table} ({columns}) SELECT k.id, '', 0, NULL, false, NULL, NULL FROM kept k "
        f"WHERE k.id NOT IN (SELECT tracked_item_id FROM written) {upsert}"
    )


def item_histories_refresh(item_ids: Iterable[int], *, fields: Sequence[str]) -> None:
    """Rewrite the ItemHistory of these tracked items, those registered once (``expires_at``
    cleared: only those are read), from their events, empty for those without (PostgreSQL;
    elsewhere reads aggregate events themselves). The caller holds the items' row locks, as
    recording does, so two writers of one item's events cannot leave an older history behind."""
    if not _postgres():
        return
    ids = sorted(set(item_ids))
    sql = _refresh_sql(tuple(fields))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        _recording_rows("gluey_item_histories", sql, [pg_array(chunk, "bigint")], len(chunk))


def events_store(
    *, carrier_id: str, rows: Sequence[dict[str, Any]], created_at: datetime, expires_at: datetime
) -> tuple[dict[str, ItemState], list[Inserted], int]:
    """Lock the events' tracked items in id order (creating the missing ones) and insert the events:
    INSERT … ON CONFLICT DO NOTHING RETURNING, so only the rows we created come back.

    ``rows`` are keyed by INPUT_COLUMNS, with ``tracking_id`` in place of the
    item and transaction ids, which this fills in. Returns (tracking id →
    ItemState, inserted rows, transaction id); an inserted row is (id, tracked
    item id, dedupe key, milestone, code, sub-code, unmapped).
    """
    items: dict[str, ItemState]
    if not _postgres():
        items, txid = _tracked_items_lock_sqlite(
            carrier_id=carrier_id,
            tracking_ids=sorted({str(r["tracking_id"]) for r in rows}),
            created_at=created_at,
            expires_at=expires_at,
        )
        for row in rows:
            row["tracked_item_id"], row["txid"] = items[row["tracking_id"]][0], txid
        return items, _events_insert_sqlite(rows), txid
    items = {}
    inserted: list[Inserted] = []
    txid = 0
    pending = list(rows)
    while pending:
        tracking_ids = sorted({str(r["tracking_id"]) for r in pending})
        ids = pg_array(tracking_ids)
        params = [carrier_id, ids, carrier_id, created_at, expires_at, ids, _json_rows(pending)]
        for tid, pk, at, milestone, code, followed, kept, txid, *event in _recording_rows(
            "gluey_events_store", _store_sql(), params, len(pending)
        ):
            items[tid] = (pk, at, milestone, code, followed, kept)
            if event[0] is not None:
                inserted.append((event[0], pk, *event[1:]))
        # An item another transaction created after this statement's snapshot was neither locked
        # nor created here: its events go again, in a statement that sees (and locks) it.
        pending = [r for r in pending if r["tracking_id"] not in items]
    for row in rows:
        row["tracked_item_id"], row["txid"] = items[row["tracking_id"]][0], txid
    return items, inserted, txid


# The columns of the JSON rows events_store sends: what the recording supplies, with the tracking id
# (the item is found or created by the statement) and the row's position.
_STORE_INPUT = (
    (("tracking_id", "varchar"),)
    + tuple((name, kind) for name, kind in INPUT_COLUMNS if name not in ("tracked_item_id", "txid"))
    + (("ord", "bigint"),)
)


def _json_rows(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as one JSON array (``_json_text``: datetimes as RFC 3339, with their offsets)
    with each row's position as ``ord``; the statement reads it with jsonb_to_recordset."""
    return _json_text([{**row, "ord": ord_} for ord_, row in enumerate(rows)])


@functools.cache
def _store_sql() -> str:
    """events_store's statement (PostgreSQL): one round trip for the lock, the new items and the events.

    ``locked`` takes the existing items' row locks in id order, as every writer of
    events does; ``created`` inserts the rest only after that (it reads ``locked``), as
    the statements before this one did in turn. An item inserted concurrently and
    committed after this statement's snapshot is in neither: its events are not
    inserted, and the caller runs them again. The answer is one row per item and
    inserted event (an item without new events has NULLs for the event).
    """
    items = _table(TrackedItem)
    definition = ", ".join(f"{_quoted(name)} {kind}" for name, kind in _STORE_INPUT)
    source = (
        "(SELECT r.*, i.id AS tracked_item_id, pg_current_xact_id()::text::bigint AS txid "
        f"FROM jsonb_to_recordset(%s::jsonb) AS r ({definition}) JOIN items i ON i.tracking_id = r.tracking_id) v"
    )
    columns = ", ".join(_quoted(c) for c in EVENT_COLUMNS)
    return (
        "WITH locked AS ("
        f"SELECT t.tracking_id, t.id, t.status_at, t.status_milestone, t.status_code, {_followed_sql('t.id')} AS followed, "
        f"t.expires_at IS NULL AS kept FROM {items} t WHERE t.carrier_id = %s AND t.tracking_id = ANY(%s::varchar[]) "
        "ORDER BY t.id FOR UPDATE), "
        f"created AS (INSERT INTO {items} (carrier_id, tracking_id, created_at, expires_at, status_milestone, "
        "status_code, status_sub_code, check_failures, invalid_reason) "
        "SELECT %s, n, %s, %s, '', '', '', 0, '' FROM unnest(%s::varchar[]) AS n "
        "WHERE n NOT IN (SELECT tracking_id FROM locked) ON CONFLICT DO NOTHING RETURNING tracking_id, id), "
        "items AS (SELECT tracking_id, id, status_at, status_milestone, status_code, followed, kept FROM locked "
        "UNION ALL SELECT tracking_id, id, NULL, '', '', false, false FROM created), "
        f"inserted AS (INSERT INTO {_table(TrackingEvent)} ({columns}) {_harmonised_select(source)} {_IN_ORDER} "
        "ON CONFLICT DO NOTHING RETURNING id, tracked_item_id, dedupe_key, milestone, code, sub_code, unmapped) "
        "SELECT i.*, pg_current_xact_id()::text::bigint, e.id, e.dedupe_key, e.milestone, e.code, e.sub_code, "
        "e.unmapped FROM items i LEFT JOIN inserted e ON e.tracked_item_id = i.id"
    )


def _events_insert_sqlite(rows: Sequence[dict[str, object]]) -> list[Inserted]:
    """SQLite's insert of rows keyed by INPUT_COLUMNS: a VALUES list per chunk. Values are adapted
    by hand (datetimes via the backend, JSON as text): the generic per-field preparation costs
    more than the insert itself."""
    table = _table(TrackingEvent)
    columns = ", ".join(_quoted(c) for c in EVENT_COLUMNS)
    names = ", ".join(_quoted(name) for name, _ in INPUT_COLUMNS)
    returning = "RETURNING id, tracked_item_id, dedupe_key, milestone, code, sub_code, unmapped"
    adapt_dt = connection.ops.adapt_datetimefield_value
    row_sql = "(" + ", ".join(["%s"] * (len(INPUT_COLUMNS) + 1)) + ")"
    returned: list[Inserted] = []
    for start in range(0, len(rows), CHUNK):
        chunk = [_row_values(r, adapt_dt) for r in rows[start : start + CHUNK]]
        with connection.cursor() as cursor:
            # WHERE true: SQLite's parser needs it between a join's ON and the upsert's ON CONFLICT.
            cursor.execute(
                f"WITH v ({names}, ord) AS (VALUES {', '.join([row_sql] * len(chunk))}) "
                f"INSERT INTO {table} ({columns}) {_harmonised_select('v')} WHERE true {_IN_ORDER} "
                f"ON CONFLICT DO NOTHING {returning}",
                [value for ord_, row in enumerate(chunk) for value in (*row, ord_)],
            )
            rows_back = cursor.fetchall()
        returned.extend(
            (pk, item, key, milestone, code, sub, bool(unmapped))
            for pk, item, key, milestone, code, sub, unmapped in rows_back
        )
    return returned


def unmapped_codes_add(*, carrier_id: str, counts: dict[tuple[str, str], tuple[int, str]], now: datetime) -> None:
    """Add to the unmapped-code counters: (code, sub-code) → (count, example text)."""
    table = _table(UnmappedCode)
    stamp = connection.ops.adapt_datetimefield_value(now)
    params: list[Any] = []
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


def tracked_items_set_state(
    *,
    events: Sequence[TrackingEvent],
    touched: Sequence[int] = (),
    now: datetime,
    history_fields: Sequence[str] = (),
    history_items: Collection[int] = (),
) -> None:
    """Make each event the current state of its tracked item (one event per item), in one statement per chunk.

    ``touched``: items that got events none of which may move their state;
    only their ``last_event_recorded_at`` is stamped (their state columns get
    NULLs here, which COALESCE turns into "unchanged"). On PostgreSQL the same
    statement rewrites the ItemHistory of those in ``history_items`` (as
    ``item_histories_refresh`` does, with ``history_fields``), saving recording
    a round trip; a chunk without any runs the plain update.
    """
    table = _table(TrackedItem)
    stamp = connection.ops.adapt_datetimefield_value(now)
    rows: list[tuple[Any, ...]] = [
        (e.tracked_item_id, e.id, e.milestone, e.code, e.sub_code, e.occurred_at) for e in events
    ]
    rows.extend((item_id, None, None, None, None, None) for item_id in touched)
    set_sql = (
        f"current_event_id = COALESCE(v.event_id, {table}.current_event_id), "
        f"status_milestone = COALESCE(v.milestone, {table}.status_milestone), "
        f"status_code = COALESCE(v.code, {table}.status_code), "
        f"status_sub_code = COALESCE(v.sub_code, {table}.status_sub_code), "
        f"status_at = COALESCE(v.status_at, {table}.status_at), last_event_recorded_at = %s"
    )
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        if _postgres():
            kinds = ("bigint", "bigint", "text", "text", "text", "timestamptz")
            values = (
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], "
                "%s::timestamptz[]) AS v (item_id, event_id, milestone, code, sub_code, status_at)"
            )
            arrays = [pg_array(column, kind) for column, kind in zip(zip(*chunk), kinds)]
            history, name = "", "gluey_items_set_state"
            kept = [row[0] for row in chunk if row[0] in history_items]
            if kept:
                history = f", history AS ({_refresh_sql(tuple(history_fields), kept_only=False)})"
                name += "_history"
                arrays.append(pg_array(kept, "bigint"))
            _recording_rows(
                name,
                f"WITH v AS ({values}){history} UPDATE {table} SET {set_sql} FROM v WHERE {table}.id = v.item_id",
                [*arrays, stamp],
                len(chunk),
            )
            continue
        params: list[Any] = []
        for item_id, event_id, milestone, code, sub_code, status_at in chunk:
            at = connection.ops.adapt_datetimefield_value(status_at) if status_at is not None else None
            params.extend((item_id, event_id, milestone, code, sub_code, at))
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH v (item_id, event_id, milestone, code, sub_code, status_at) AS "
                f"(VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(chunk))}) "
                f"UPDATE {table} SET {set_sql} FROM v WHERE {table}.id = v.item_id",
                [*params, stamp],
            )


def ids_in(ids: set[int]) -> Any:
    """Right-hand side for ``__in`` over many ids: one array parameter on PostgreSQL."""
    if _postgres():
        return RawSQL("SELECT unnest(%s::bigint[])", (pg_array(sorted(ids), "bigint"),))
    return ids


# Reads recording makes for followed numbers, prepared like its writes: as ORM queries each cost
# ~0.75 ms of PostgreSQL planning and ~1 ms of Django compiling, several times what they execute
# in (0.07-0.26 ms), once per recording call of a followed number.


class _Hydrate:
    """Build a model instance from its concrete columns (``columns_sql`` order), as the ORM does."""

    def __init__(self, model: Any) -> None:
        fields = model._meta.concrete_fields
        self.model, self.width = model, len(fields)
        self.names = [field.attname for field in fields]
        self.columns = [str(field.column) for field in fields]
        self.converters = [
            (i, field.from_db_value) for i, field in enumerate(fields) if hasattr(field, "from_db_value")
        ]

    def columns_sql(self, alias: str) -> str:
        return ", ".join(f"{alias}.{_quoted(column)}" for column in self.columns)

    def __call__(self, values: Sequence[Any]) -> Any:
        values = list(values)
        for i, convert in self.converters:
            values[i] = convert(values[i], None, connection)
        return self.model.from_db(DEFAULT_DB_ALIAS, self.names, values)


@functools.cache
def _hydrators() -> tuple[_Hydrate, _Hydrate, _Hydrate]:
    from tracking.models import Customer

    return _Hydrate(Parcel), _Hydrate(Shipment), _Hydrate(Customer)


@functools.cache
def _followers_sql() -> str:
    from tracking.models import Customer

    parcel, shipment, customer = _hydrators()
    joined = (
        f"{shipment.columns_sql('s')}, {customer.columns_sql('c')} FROM {_table(Shipment)} s "
        f"JOIN {_table(Customer)} c ON c.id = s.customer_id"
    )
    return (
        f"SELECT {parcel.columns_sql('p')}, {joined} JOIN {_table(Parcel)} p ON p.shipment_id = s.id "
        "WHERE p.tracked_item_id = ANY(%s::bigint[]) "
        f"UNION ALL SELECT {', '.join(['NULL'] * parcel.width)}, {joined} WHERE s.tracked_item_id = ANY(%s::bigint[])"
    )


def followers(item_ids: Collection[int]) -> tuple[dict[int, list[Shipment]], dict[int, list[Parcel]]]:
    """The shipments and parcels that follow these tracked items (the outbox's addressees), with
    their customers (and a parcel's shipment) loaded, in the models' own order: one statement."""
    shipments: dict[int, list[Shipment]] = defaultdict(list)
    parcels: dict[int, list[Parcel]] = defaultdict(list)
    if not _postgres():
        rhs = ids_in(set(item_ids))
        for found in Shipment.objects.filter(tracked_item_id__in=rhs).select_related("customer"):
            shipments[found.tracked_item_id].append(found)
        for one in Parcel.objects.filter(tracked_item_id__in=rhs).select_related("shipment__customer"):
            parcels[one.tracked_item_id].append(one)
        return shipments, parcels
    parcel, shipment, customer = _hydrators()
    ids = pg_array(sorted(set(item_ids)), "bigint")
    found_shipments: list[Shipment] = []
    for row in prepared_rows("gluey_followers", _followers_sql(), [ids, ids]):
        owner = shipment(row[parcel.width : parcel.width + shipment.width])
        Shipment.customer.field.set_cached_value(owner, customer(row[parcel.width + shipment.width :]))
        if row[0] is None:
            found_shipments.append(owner)
        else:
            one = parcel(row[: parcel.width])
            Parcel.shipment.field.set_cached_value(one, owner)
            parcels[one.tracked_item_id].append(one)
    found_shipments.sort(key=lambda s: s.created_at, reverse=True)  # Shipment.Meta.ordering
    for found in found_shipments:
        shipments[found.tracked_item_id].append(found)
    return shipments, parcels


def item_events(item_ids: Collection[int], fields: Sequence[str]) -> list[tuple[Any, ...]]:
    """``fields`` of the mapped events of these tracked items, by item and carrier time."""
    if not _postgres():
        rows = TrackingEvent.objects.filter(tracked_item_id__in=set(item_ids), unmapped=False)
        return list(rows.order_by("tracked_item_id", "occurred_at", "id").values_list(*fields))
    columns: dict[str, Any] = {f.attname: f for f in TrackingEvent._meta.concrete_fields}
    selected = ", ".join(_quoted(str(columns[name].column)) for name in fields)
    sql = (
        f"SELECT {selected} FROM {_table(TrackingEvent)} WHERE tracked_item_id = ANY(%s::bigint[]) "
        "AND NOT unmapped ORDER BY tracked_item_id, occurred_at, id"
    )
    # The fields' own conversions (JSONField decodes its text), as the ORM applies them.
    converters = [
        (i, columns[name].from_db_value) for i, name in enumerate(fields) if hasattr(columns[name], "from_db_value")
    ]
    name = "gluey_item_events_" + hashlib.sha1("\x1f".join(fields).encode()).hexdigest()[:12]
    out = []
    for row in prepared_rows(name, sql, [pg_array(sorted(set(item_ids)), "bigint")]):
        if converters:
            values = list(row)
            for i, convert in converters:
                values[i] = convert(values[i], None, connection)
            row = tuple(values)
        out.append(row)
    return out


def item_relabels(item_ids: Collection[int]) -> list[tuple[int, datetime, dict[str, Any]]]:
    """(item, occurred_at, other) of the re-labelling events of these items (those whose ``other``
    has ``new_tracking_id``), by item and carrier time: the partial index event_relabel_idx."""
    if not _postgres():
        return list(
            TrackingEvent.objects.filter(tracked_item_id__in=set(item_ids), other__has_key="new_tracking_id")
            .order_by("tracked_item_id", "occurred_at", "id")
            .values_list("tracked_item_id", "occurred_at", "other")
        )
    sql = (
        f"SELECT tracked_item_id, occurred_at, other FROM {_table(TrackingEvent)} "
        "WHERE tracked_item_id = ANY(%s::bigint[]) AND other ? 'new_tracking_id' "
        "ORDER BY tracked_item_id, occurred_at, id"
    )
    decode: Any = TrackingEvent._meta.get_field("other").from_db_value  # JSONField's, as the ORM applies it
    rows = prepared_rows("gluey_item_relabels", sql, [pg_array(sorted(set(item_ids)), "bigint")])
    return [(item, when, decode(other, None, connection)) for item, when, other in rows]
