"""Statements PostgreSQL parses and plans once per connection, and the array literals they take.

The apps' hot statements (recording, the track reads, the outbox, the ingest
drain's claim and marks) run a few hundred times a second with the same shape:
``prepared_rows`` prepares each once per connection; ``pg_array`` sends a list
as one array constant, so a statement's shape does not depend on how many
values it takes. See docs/architecture.md, "Reads".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import timezone
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorWrapper

_NUMERIC = {"bigint", "smallint", "float8"}


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


# On Django's (per-thread) connection: (the raw connection, names of the statements prepared on it).
_PREPARED = "_gluey_prepared"
# Name → SQL of every statement prepared so far (the same on every connection), for logs and tests.
PREPARED_SQL: dict[str, str] = {}


def prepared_rows(name: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``%s`` placeholders; PostgreSQL) run as the prepared statement ``name`` of this connection.

    PostgreSQL parses and plans a hot statement once per connection instead
    of on every call: that halves its CPU per track read (0.30 → 0.16 ms for a
    single shipment) and takes a fifth off recording one event. A statement
    prepared in a transaction that rolls back stays prepared. Needs a session
    of its own per connection (direct, or a pooler in session mode), as
    Django's persistent connections have (docs/architecture.md, "Reads").

    Unless queries are being logged (DEBUG, tests counting them), the statement
    goes straight to a psycopg2 cursor: Django's cursor wrapper cost a third
    of a single read's Python. Errors are still Django's (wrap_database_errors)
    and a broken transaction is still refused. A statement that returns no
    rows (an UPDATE) gives an empty list.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: every attribute of the ``connection`` proxy is a lookup
    if db.queries_logged:
        with db.cursor() as cursor:
            return _execute_prepared(db, cursor, name, sql, params)
    db.ensure_connection()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors, db.connection.cursor() as raw:
        return _execute_prepared(db, raw, name, sql, params)


def statement_rows(
    name: str, sql: str, params: Sequence[Any], *, prepare: bool = True, using: str = DEFAULT_DB_ALIAS
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the ``using`` connection: prepared as ``name`` (``prepared_rows``) when
    ``prepare`` and that is the default PostgreSQL connection, else run as it is (SQLite, or a
    statement the caller wants planned for its values). No rows for a statement that returns none."""
    db = connections[using]
    if prepare and using == DEFAULT_DB_ALIAS and db.vendor == "postgresql":
        return prepared_rows(name, sql, params)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


def _execute_prepared(db: Any, cursor: Any, name: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    raw = db.connection
    state: tuple[Any, set[str]] | None = getattr(db, _PREPARED, None)
    if state is None or state[0] is not raw:  # a new connection: nothing prepared on it yet
        state = (raw, set())
        setattr(db, _PREPARED, state)
    done = state[1]
    if name not in done:
        numbered = iter(range(1, len(params) + 1))
        cursor.execute(f"PREPARE {name} AS " + re.sub("%s", lambda _: f"${next(numbered)}", sql))
        done.add(name)
        PREPARED_SQL[name] = sql
    # psycopg2's own zone factory, called in C, instead of Django's Python one per timestamp: the
    # same datetime.UTC for the UTC session Django opens with USE_TZ.
    (cursor.cursor if isinstance(cursor, CursorWrapper) else cursor).tzinfo_factory = timezone
    cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
    return cursor.fetchall() if cursor.description is not None else []
