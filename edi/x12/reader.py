"""Read X12 214 interchanges as a stream of transactions or events.

Public API::

    iter_transactions(fileobj, default_zone="UTC", *, encoding=None) -> Iterator[Transaction]
    iter_events(fileobj, default_zone="UTC", *, encoding=None) -> Iterator[StatusEvent]
    validate(fileobj, *, default_zone="UTC", encoding=None) -> list[EdiError]

``fileobj`` is a binary file object, read in chunks, never whole. Only 214
transaction sets are yielded; other sets in the same file are checked for
their envelope and skipped. ``default_zone`` is the trading partner's zone,
used for local times whose place does not resolve to a zone. ``encoding``
is ``None`` (detect UTF-8, else windows-1252), ``"utf-8"``,
``"iso-8859-1"`` or ``"windows-1252"``.

The readers are strict: the first malformed envelope or segment raises
:class:`~edi.errors.EdiError`. ``validate`` instead lists every envelope
problem it finds (and the first content problem of each set).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import IO

from edi.errors import EdiError
from edi.guard import guarded
from edi.model import StatusEvent, Transaction
from edi.x12.parser import iter_214, parse


def iter_transactions(
    fileobj: IO[bytes], default_zone: str = "UTC", *, encoding: str | None = None
) -> Iterator[Transaction]:
    """Yield each 214 transaction set, with its events, as it is read."""
    yield from guarded(iter_214(fileobj, default_zone, encoding))


def iter_events(fileobj: IO[bytes], default_zone: str = "UTC", *, encoding: str | None = None) -> Iterator[StatusEvent]:
    """Yield every status event of every 214 in the file, in file order."""
    # Chained in C: a Python generator layer per event shows on big files.
    return chain.from_iterable(guarded(iter_214(fileobj, default_zone, encoding, events_only=True)))


def validate(fileobj: IO[bytes], *, default_zone: str = "UTC", encoding: str | None = None) -> list[EdiError]:
    """Every envelope problem in the file (an empty list for a good file)."""
    problems: list[EdiError] = []
    try:
        for item in guarded(parse(fileobj, default_zone=default_zone, encoding=encoding, strict=False)):
            kind = item[0]
            if kind == "set":
                problems.extend(item[2])
            elif kind == "group" or kind == "interchange":
                problems.extend(item[1].problems)
            else:
                problems.append(item[1])
    except EdiError as err:
        problems.append(err)
    return problems
