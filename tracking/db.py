"""The recording statements, in PostgreSQL and SQLite.

``tracking.services.recording`` says what recording does; this module says how
each step is written in SQL. Every function runs a constant number of
statements per chunk of rows whatever the batch size. On PostgreSQL each column
travels as one array literal that the server unnests: one constant to parse
instead of a VALUES list of thousands of parameters. SQLite (the embedded
default of ``make run``) gets the plain VALUES form of the same statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL

from tracking.models import TrackedItem, TrackingEvent, UnmappedCode

CHUNK = 1000

# Columns of a recorded event, in the order every statement below uses.
EVENT_COLUMNS = (
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
    "estimate",
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
    "other",
)

# PostgreSQL element types of EVENT_COLUMNS, for the array form of the insert.
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
    "jsonb",
)

_NUMERIC = {"bigint", "smallint", "float8"}


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def pg_array(values: Iterable[object], kind: str = "text") -> str:
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
                "NULL" if v is None else seen.get(v) or seen.setdefault(v, '"' + v.isoformat() + '"')  # type: ignore[attr-defined]
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


ItemState = tuple[int, datetime | None, str, str]


def tracked_items_lock(
    *, carrier_id: str, tracking_ids: Sequence[str], created_at: datetime, expires_at: datetime
) -> tuple[dict[str, ItemState], int]:
    """Lock the tracked items (in id order), creating the missing ones; and this transaction's id.

    Returns (tracking id → (item id, current status time, status milestone,
    status code), transaction id). On
    PostgreSQL the common case — every item exists — is one statement that
    also reads the transaction id (the feed cursor compares it with the
    snapshot's xmin): lock what exists, then insert what is missing (rows this
    transaction inserts are its own until it commits), then lock whatever a
    concurrent transaction inserted first.
    """
    if not _postgres():
        return _tracked_items_lock_sqlite(carrier_id, tracking_ids, created_at, expires_at), sqlite_feed_txid()
    table = _table(TrackedItem)
    found: dict[str, ItemState] = {}
    txid = 0
    lock = (
        f"SELECT tracking_id, id, status_at, status_milestone, status_code, pg_current_xact_id()::text::bigint "
        f"FROM {table} "
        "WHERE carrier_id = %s AND tracking_id = ANY(%s::varchar[]) ORDER BY id FOR UPDATE"
    )
    with connection.cursor() as cursor:
        cursor.execute(lock, [carrier_id, pg_array(tracking_ids)])
        for tid, pk, status_at, milestone, code, txid in cursor.fetchall():
            found[tid] = (pk, status_at, milestone, code)
        missing = [tid for tid in tracking_ids if tid not in found]
        if not missing:
            return found, txid
        for start in range(0, len(missing), CHUNK):
            cursor.execute(
                f"INSERT INTO {table} (carrier_id, tracking_id, created_at, expires_at, status_milestone, "
                "status_code, status_sub_code, check_failures, invalid_reason) "
                "SELECT %s, t, %s, %s, '', '', '', 0, '' FROM unnest(%s::varchar[]) AS t "
                "ON CONFLICT DO NOTHING RETURNING tracking_id, id, pg_current_xact_id()::text::bigint",
                [carrier_id, created_at, expires_at, pg_array(missing[start : start + CHUNK])],
            )
            for tid, pk, txid in cursor.fetchall():
                found[tid] = (pk, None, "", "")
        raced = [tid for tid in missing if tid not in found]
        if raced:
            cursor.execute(lock, [carrier_id, pg_array(raced)])
            for tid, pk, status_at, milestone, code, txid in cursor.fetchall():
                found[tid] = (pk, status_at, milestone, code)
    return found, txid


def sqlite_feed_txid() -> int:
    """SQLite's stand-in for a transaction id: the highest one stored (writers are serial).

    New events sort after everything stored, including events a correction
    moved forward (``tracking.services.mappings`` gives them this plus one).
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(txid), 0) FROM {_table(TrackingEvent)}")
        return int(cursor.fetchone()[0])


def _tracked_items_lock_sqlite(
    carrier_id: str, tracking_ids: Sequence[str], created_at: datetime, expires_at: datetime
) -> dict[str, ItemState]:
    # SQLite has one writer at a time: the transaction itself is the lock.
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
    rows = qs.values_list("tracking_id", "id", "status_at", "status_milestone", "status_code")
    return {tid: (pk, at, milestone, code) for tid, pk, at, milestone, code in rows}


def _row_values(r: dict[str, object], adapt_dt: Any) -> tuple[Any, ...]:
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
        r["estimate"],
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
        json.dumps(r["other"]),
    )


def events_insert(rows: Sequence[dict[str, object]]) -> list[tuple[int, int, int]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: only the rows we created come back.

    ``rows`` are keyed by EVENT_COLUMNS. Values are adapted by hand (datetimes
    via the backend, JSON as text): the generic per-field preparation costs more
    than the insert itself. Returns (id, tracked item id, dedupe key) per new row.
    """
    table = _table(TrackingEvent)
    columns = ", ".join(connection.ops.quote_name(c) for c in EVENT_COLUMNS)
    postgres = _postgres()
    adapt_dt = (lambda v: v) if postgres else connection.ops.adapt_datetimefield_value
    returned: list[tuple[int, int, int]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = [_row_values(r, adapt_dt) for r in rows[start : start + CHUNK]]
            if postgres:
                arrays = [pg_array(column, kind) for column, kind in zip(zip(*chunk), _PG_TYPES)]
                casts = ", ".join(f"%s::{kind}[]" for kind in _PG_TYPES)
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({casts}) "
                    "ON CONFLICT DO NOTHING RETURNING id, tracked_item_id, dedupe_key",
                    arrays,
                )
            else:
                row_sql = "(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_sql] * len(chunk))} "
                    "ON CONFLICT DO NOTHING RETURNING id, tracked_item_id, dedupe_key",
                    [value for row in chunk for value in row],
                )
            returned.extend(cursor.fetchall())
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


def tracked_items_set_state(*, events: Sequence[TrackingEvent], now: datetime) -> None:
    """Make each event the current state of its tracked item (one event per item)."""
    table = _table(TrackedItem)
    stamp = connection.ops.adapt_datetimefield_value(now)
    set_sql = (
        "current_event_id = v.event_id, status_milestone = v.milestone, status_code = v.code, "
        "status_sub_code = v.sub_code, status_at = v.status_at, last_event_recorded_at = %s"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(events), CHUNK):
            chunk = events[start : start + CHUNK]
            if _postgres():
                columns: list[list[Any]] = [
                    [e.tracked_item_id for e in chunk],
                    [e.id for e in chunk],
                    [e.milestone for e in chunk],
                    [e.code for e in chunk],
                    [e.sub_code for e in chunk],
                    [e.occurred_at for e in chunk],
                ]
                kinds = ("bigint", "bigint", "text", "text", "text", "timestamptz")
                cursor.execute(
                    f"UPDATE {table} SET {set_sql} FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], "
                    "%s::varchar[], %s::varchar[], %s::timestamptz[]) "
                    f"AS v (item_id, event_id, milestone, code, sub_code, status_at) WHERE {table}.id = v.item_id",
                    [stamp, *(pg_array(c, k) for c, k in zip(columns, kinds))],
                )
            else:
                params: list[Any] = []
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


def ids_in(ids: set[int]) -> Any:
    """Right-hand side for ``__in`` over many ids: one array parameter on PostgreSQL."""
    if _postgres():
        return RawSQL("SELECT unnest(%s::bigint[])", (pg_array(sorted(ids), "bigint"),))
    return ids
