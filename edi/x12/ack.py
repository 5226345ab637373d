"""Functional acknowledgments (997) for received X12 files.

Public API::

    build_997(fileobj, *, interchange_control_number=1, group_control_number=1,
              first_set_control_number=1, profile=None, created_at=None,
              encoding=None) -> bytes

One 997 transaction set per functional group received, all in one FA group
of one interchange addressed back to the sender. Each transaction set gets
an AK2 and an AK5: ``A`` accepted, ``E`` accepted with errors (a segment
whose id is not a valid X12 id; AK3 code 1) or ``R`` rejected (envelope or
content errors, with AK3/AK4 detail for content and AK5 codes for the
envelope). AK9 says ``A``, ``E``, ``P`` (some sets rejected) or ``R``.

The 997 uses the received file's delimiters and release unless a
:class:`~edi.x12.writer.X12Profile` is given. Past 10,000 sets in a group,
only sets with problems get an AK2 loop (AK2 is optional for accepted sets),
so memory stays flat on very large files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from edi.errors import EdiError
from edi.guard import guarded
from edi.model import InterchangeInfo
from edi.x12.envelope import GroupResult, SetResult
from edi.x12.parser import parse
from edi.x12.tokenizer import Delimiters
from edi.x12.writer import X12Profile

_RELEASE_BY_ISA12 = {"00401": "4010", "00501": "5010"}


@dataclass(slots=True)
class _SetAck:
    code: str
    ak5_codes: list[str]
    detail: list[tuple[str, ...]]  # ("AK3", id, position, code) / ("AK4", element, code, bad value)


def _ack_set(result: SetResult) -> _SetAck:
    codes: list[str] = []
    detail: list[tuple[str, ...]] = []
    rejected = warned = False
    if result.set_id != "214":
        rejected = True
        codes.append("1")  # transaction set not supported
    for err in result.problems:
        level, code = err.ack or ("AK5", "5")
        if level == "AK5":
            rejected = True
            if code not in codes:
                codes.append(code)
            continue
        segment_id = err.segment_id or ""
        position = str(err.set_position or "")
        if level == "AK4":
            detail.append(("AK3", segment_id, position, "8"))
            element = str(err.element or "")
            if err.component is not None:
                element += f":{err.component}"
            detail.append(("AK4", element, code, (err.bad_value or "")[:99]))
            rejected = True
        else:
            detail.append(("AK3", segment_id, position, code))
            if code == "1":
                warned = True
            else:
                rejected = True
        if "5" not in codes:
            codes.append("5")
    status = "R" if rejected else "E" if warned else "A"
    return _SetAck(status, codes[:5], detail)


def _group_segments(group: GroupResult, set_control: str, release: str) -> list[list[str]]:
    info = group.info
    segs: list[list[str]] = [["ST", "997", set_control]]
    segs.append(["AK1", info.functional_id, info.control_number] + ([info.version] if release == "5010" else []))
    accepted = 0
    any_errors = False
    for result in group.sets:
        ack = _ack_set(result)
        segs.append(["AK2", result.set_id, result.control_number])
        for item in ack.detail:
            if item[0] == "AK3":
                segs.append(["AK3", item[1], item[2], "", item[3]])
            else:
                segs.append(["AK4", item[1], "", item[2], item[3]])
        segs.append(["AK5", ack.code, *ack.ak5_codes])
        if ack.code != "R":
            accepted += 1
        any_errors = any_errors or ack.code == "E"
    # Sets past the kept window were accepted without problems.
    unlisted = group.n_sets - len(group.sets)
    accepted += unlisted
    group_codes = [err.ack[1] for err in group.problems if err.ack and err.ack[0] == "AK9"][:5]
    if group_codes or (group.n_sets and accepted == 0):
        status = "R"
    elif accepted < group.n_sets:
        status = "P"
    elif any_errors:
        status = "E"
    else:
        status = "A"
    declared = (
        group.declared_sets if group.declared_sets.isascii() and group.declared_sets.isdigit() else str(group.n_sets)
    )
    segs.append(["AK9", status, declared, str(group.n_sets), str(accepted), *group_codes])
    segs.append(["SE", str(len(segs) + 1), set_control])
    return segs


def build_997(
    fileobj: IO[bytes],
    *,
    interchange_control_number: int = 1,
    group_control_number: int = 1,
    first_set_control_number: int = 1,
    profile: X12Profile | None = None,
    created_at: datetime | None = None,
    encoding: str | None = None,
) -> bytes:
    """The 997 acknowledging every functional group in ``fileobj``.

    Raises EdiError only when the file cannot be read as X12 at all (no
    usable ISA); everything else is reported inside the 997.
    """
    groups: list[GroupResult] = []
    first_isa: InterchangeInfo | None = None
    delims: Delimiters | None = None
    for item in guarded(parse(fileobj, encoding=encoding, strict=False)):
        if item[0] == "group":
            group: GroupResult = item[1]
            groups.append(group)
            delims = delims or group.delimiters
            first_isa = first_isa or group.interchange
        elif item[0] == "interchange" and first_isa is None:
            first_isa = item[1].info
    if not groups:
        raise EdiError("no functional group to acknowledge")
    if first_isa is None:
        raise EdiError("the interchange header (ISA) is unreadable, so there is no one to acknowledge to")
    assert delims is not None
    release = _RELEASE_BY_ISA12.get(first_isa.version, "5010" if first_isa.version >= "00501" else "4010")
    if profile is None:
        profile = X12Profile(
            sender_id=first_isa.receiver_id or "UNKNOWN",
            receiver_id=first_isa.sender_id or "UNKNOWN",
            sender_qualifier=first_isa.receiver_qualifier or "ZZ",
            receiver_qualifier=first_isa.sender_qualifier or "ZZ",
            gs_sender_id=groups[0].info.receiver_id,
            gs_receiver_id=groups[0].info.sender_id,
            release=release,
            element_separator=delims.element,
            component_separator=delims.component,
            segment_terminator=delims.segment,
            repetition_separator=delims.repetition or "^",
            test=first_isa.test,
        )
    return _render(
        profile,
        groups,
        interchange_control_number,
        group_control_number,
        first_set_control_number,
        created_at or datetime.now(UTC),
    )


def _render(p: X12Profile, groups: list[GroupResult], icn: int, gcn: int, first_set: int, now: datetime) -> bytes:
    from edi.x12.writer import RELEASES, check_profile

    check_profile(p)
    isa12, gs08 = RELEASES[p.release]
    sep = p.element_separator
    end = p.segment_terminator + ("\n" if p.newline and p.segment_terminator != "\n" else "")
    bad = {sep, p.component_separator, p.segment_terminator}
    table = str.maketrans({c: " " for c in bad})
    lines = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        p.sender_qualifier.ljust(2),
        p.sender_id.ljust(15),
        p.receiver_qualifier.ljust(2),
        p.receiver_id.ljust(15),
        now.strftime("%y%m%d"),
        now.strftime("%H%M"),
        p.repetition_separator if p.release == "5010" else "U",
        isa12,
        f"{icn:09d}",
        "0",
        "T" if p.test else "P",
        p.component_separator,
    ]
    out = [sep.join(lines) + end]
    out.append(
        sep.join(
            [
                "GS",
                "FA",
                p.gs_sender_id or p.sender_id,
                p.gs_receiver_id or p.receiver_id,
                now.strftime("%Y%m%d"),
                now.strftime("%H%M"),
                str(gcn),
                "X",
                gs08,
            ]
        )
        + end
    )
    for n, group in enumerate(groups):
        for seg in _group_segments(group, f"{first_set + n:04d}", p.release):
            values = [v.translate(table) for v in seg]
            while len(values) > 1 and values[-1] == "":
                values.pop()
            out.append(sep.join(values) + end)
    out.append(sep.join(["GE", str(len(groups)), str(gcn)]) + end)
    out.append(sep.join(["IEA", "1", f"{icn:09d}"]) + end)
    return "".join(out).encode(p.encoding, errors="replace")
