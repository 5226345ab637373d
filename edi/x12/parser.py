"""Walking an X12 file: the general parser and the readers' fast path.

:func:`parse` walks a file's segments once and yields what it finds:

* ``("set", Transaction, problems)`` at each SE (or where a missing SE is
  noticed), with the set's content already modelled for 214s;
* ``("group", GroupResult)`` at each GE, with every set's result, for 997s;
* ``("interchange", InterchangeResult)`` at each IEA;
* ``("problem", EdiError)`` for problems outside any group.

With ``strict=True`` the first problem raises instead; that is what the
readers use. The 997 builder and ``validate`` use ``strict=False`` and get
every envelope problem plus the first content problem of each set.

:func:`iter_214` is the readers' hot path: strict, 214 sets only, and a
well-formed set never goes through the segment-by-segment state machine
(:mod:`edi.x12.envelope`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from edi.model import StatusEvent, Transaction
from edi.x12.envelope import (  # noqa: F401
    ENVELOPE_TAGS,
    KEEP_SETS,
    Envelope,
    GroupResult,
    InterchangeResult,
    SetResult,
)
from edi.x12.tokenizer import PieceReader
from edi.x12.ts214 import build_214, read_214, syntax_for


class _Markers:
    """Delimiter-dependent strings the parser looks for, made once per file."""

    def __init__(self, sep: str, term: str) -> None:
        self.sep, self.term = sep, term
        self.se_head, self.se_marker = "SE" + sep, term + "SE" + sep
        self.ge, self.gs, self.iea, self.isa = (term + tag + sep for tag in ("GE", "GS", "IEA", "ISA"))
        self.syntax = syntax_for(sep, term)

    def whole_set(self, text: str, last_at: int) -> bool:
        """True when a piece is exactly ST..SE: SE is its last segment and its
        only SE, and no group or interchange segment hides inside."""
        return (
            last_at > 0
            and text.startswith(self.se_head, last_at + 1)
            and text.find(self.se_marker) == last_at
            and self.ge not in text
            and self.iea not in text
            and self.gs not in text
            and self.isa not in text
        )


def _segments(env: Envelope, segs: list[str], segno: int) -> int:
    """The slow path: hand segments one by one to the envelope state machine."""
    delims = env.reader.delimiters
    assert delims is not None
    sep = delims.element
    for raw in segs:
        if not raw:
            continue
        segno += 1
        tag = raw.split(sep, 1)[0]
        segments = env.segments
        if segments is not None and tag not in ENVELOPE_TAGS:
            segments.append(raw)
            continue
        env.segment(tag, raw.split(sep), segno)
    return segno


def parse(
    fileobj: IO[bytes], *, default_zone: str = "UTC", encoding: str | None = None, strict: bool = True
) -> Iterator[tuple[Any, ...]]:
    """Every item of the file (see the module docstring), strict or collecting."""
    reader = PieceReader(fileobj, encoding)
    env = Envelope(strict, default_zone, reader)
    out = env.out
    segno = 0
    marks: _Markers | None = None
    for kind, pieces in reader:
        if marks is None:
            delims = reader.delimiters
            assert delims is not None
            marks = _Markers(delims.element, delims.segment)
        term, sep = marks.term, marks.sep
        for text in pieces:
            if kind != "loose":
                last_at = text.rfind(term)
                if env.tx is None and env.group is not None and marks.whole_set(text, last_at):
                    first_at = text.find(term)
                    body = text[first_at + 1 : last_at] if first_at < last_at else ""
                    n_body = body.count(term) + 1 if body else 0
                    segno += 1
                    env.whole_set(text[:first_at], body, n_body, text[last_at + 1 :], segno)
                    segno += n_body + 1
                else:
                    segs = text.split(term)
                    segs[0] = "ST" + sep + segs[0]
                    segno = _segments(env, segs, segno)
            else:
                segno = _segments(env, text.split(term), segno)
            if out:
                yield from out
                out.clear()
    env.end(segno)
    yield from out


def iter_214(
    fileobj: IO[bytes], default_zone: str = "UTC", encoding: str | None = None, *, events_only: bool = False
) -> Iterator[Any]:
    """Strict reading of 214 transaction sets only: the readers' hot path.

    Yields Transactions, or with ``events_only`` each set's list of events
    (no Transaction built at all). Does what ``parse(strict=True)`` does,
    with a well-formed set's checks inline; anything unusual, including any
    failed check, goes through the envelope state machine, which raises the
    precise error.
    """
    reader = PieceReader(fileobj, encoding)
    env = Envelope(True, default_zone, reader)
    out = env.out
    segno = 0
    term = sep = se_head = se_marker = ge = gs = iea = isa = ""
    syntax: Any = None
    for kind, pieces in reader:
        if syntax is None:
            delims = reader.delimiters
            assert delims is not None
            marks = _Markers(delims.element, delims.segment)
            term, sep, se_head, se_marker = marks.term, marks.sep, marks.se_head, marks.se_marker
            ge, gs, iea, isa, syntax = marks.ge, marks.gs, marks.iea, marks.isa, marks.syntax
        clean = kind == "clean"
        # Envelope state as locals; refreshed whenever the slow path runs.
        group = env.group if env.tx is None else None
        seen = env.seen_sets
        for text in pieces:
            if kind != "loose":
                last_at = text.rfind(term)
                # One whole set, ST..SE and nothing else (see _Markers.whole_set).
                if (
                    group is not None
                    and last_at > 0
                    and text.startswith(se_head, last_at + 1)
                    and text.find(se_marker) == last_at
                    and (clean or (ge not in text and iea not in text and gs not in text and isa not in text))
                ):
                    first_at = text.find(term)
                    n_body = text.count(term, first_at + 1, last_at) + 1 if first_at < last_at else 0
                    st = text[:first_at].split(sep)
                    se = text[last_at + 1 :].split(sep)
                    segno += 1
                    if (
                        len(st) == 2
                        and len(se) == 3
                        and st[0] == "214"
                        and se[2] == st[1]
                        and 4 <= len(st[1]) <= 9
                        and st[1].isalnum()
                        and st[1] not in seen
                        and se[1] == str(n_body + 2)
                    ):
                        if len(seen) < KEEP_SETS:
                            seen.add(st[1])
                        group.n_sets += 1
                        if events_only:
                            events: list[StatusEvent] = []
                            read_214(
                                events, text, syntax, segno + 1, default_zone, first_at + 1, last_at, group.info.created
                            )
                            yield events
                        else:
                            info = group.info
                            tx = Transaction(
                                "214",
                                st[1],
                                info.version,
                                "",
                                "",
                                "",
                                (),
                                [],
                                segno,
                                info.control_number,
                                env.isa.control_number if env.isa else "",
                            )
                            build_214(tx, text[first_at + 1 : last_at], syntax, segno + 1, default_zone, info.created)
                            yield tx
                    else:
                        body = text[first_at + 1 : last_at] if first_at < last_at else ""
                        env.whole_set(text[:first_at], body, n_body, text[last_at + 1 :], segno)
                    segno += n_body + 1
                else:
                    segs = text.split(term)
                    segs[0] = "ST" + sep + segs[0]
                    segno = _segments(env, segs, segno)
                    group, seen = env.group if env.tx is None else None, env.seen_sets
            else:
                segno = _segments(env, text.split(term), segno)
                group, seen = env.group if env.tx is None else None, env.seen_sets
            if out:
                yield from _wanted(out, events_only)
                out.clear()
    env.end(segno)
    yield from _wanted(out, events_only)


def _wanted(items: list[tuple[Any, ...]], events_only: bool) -> Iterator[Any]:
    for item in items:
        if item[0] == "set" and item[1].set_id == "214":
            yield item[1].events if events_only else item[1]
