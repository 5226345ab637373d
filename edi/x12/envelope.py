"""The X12 envelope state machine: ISA/GS/ST ... SE/GE/IEA, segment by segment.

:class:`Envelope` keeps the interchange, group and set that are open and
checks every trailer: SE01 segment counts and SE02 = ST02, GE01 set counts
and GE02 = GS06, IEA01 group counts and IEA02 = ISA13. Problems carry the
997 code that describes them. In strict mode the first problem raises; in
collecting mode (validate, 997) problems are recorded where they belong.
The parser feeds it whole well-formed sets through :meth:`Envelope.whole_set`
and everything else segment by segment through :meth:`Envelope.segment`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edi.errors import EdiError
from edi.model import GroupInfo, InterchangeInfo, Transaction
from edi.numeric import same_number
from edi.x12.tokenizer import Delimiters, PieceReader
from edi.x12.ts214 import build_214, syntax_for
from edi.zones import get_zone

ENVELOPE_TAGS = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA"})
_SEGMENT_ID = re.compile("[A-Z][A-Z0-9]{1,2}").fullmatch


def group_created(el: list[str], default_zone: str) -> datetime | None:
    """GS04 (CCYYMMDD) and GS05 (HHMM[SS[d..]]) in the partner's zone, or None."""
    date, time = el[4].strip(), el[5].strip()
    if len(date) != 8 or not date.isdigit() or len(time) < 4 or not time[:4].isdigit():
        return None
    seconds = int(time[4:6]) if len(time) >= 6 and time[4:6].isdigit() else 0
    try:
        return datetime(
            int(date[:4]),
            int(date[4:6]),
            int(date[6:]),
            int(time[:2]),
            int(time[2:4]),
            seconds,
            tzinfo=get_zone(default_zone),
        )
    except ValueError:
        return None


@dataclass(slots=True)
class SetResult:
    set_id: str
    control_number: str
    problems: list[EdiError] = field(default_factory=list)


# Per-set results kept in full for this many sets of a group; past it only
# sets with problems are kept (and counted), so memory stays flat on files
# with a million sets. Duplicate control numbers are checked up to it too.
KEEP_SETS = 10_000


@dataclass(slots=True)
class GroupResult:
    info: GroupInfo
    interchange: InterchangeInfo | None
    sets: list[SetResult] = field(default_factory=list)
    n_sets: int = 0
    # GE01 as the file gave it ("" when the GE is missing).
    declared_sets: str = ""
    problems: list[EdiError] = field(default_factory=list)
    delimiters: Delimiters | None = None


@dataclass(slots=True)
class InterchangeResult:
    info: InterchangeInfo | None
    problems: list[EdiError] = field(default_factory=list)


def _isa_info(el: list[str], segno: int) -> InterchangeInfo:
    if len(el) < 17:
        raise EdiError(f"ISA has {len(el) - 1} elements, expected 16", segno, "ISA", ack=("TA1", "024"))
    control = el[13].strip()
    if not (control.isascii() and control.isdigit()):
        raise EdiError(f"interchange control number {el[13]!r} is not numeric", segno, "ISA", 13, ack=("TA1", "018"))
    return InterchangeInfo(
        sender_qualifier=el[5].strip(),
        sender_id=el[6].strip(),
        receiver_qualifier=el[7].strip(),
        receiver_id=el[8].strip(),
        control_number=control,
        version=el[12].strip(),
        test=el[15].strip().upper() == "T",
    )


class Envelope:
    """Envelope state and the handling of ISA/GS/ST/SE/GE/IEA segments.

    Kept out of the hot loop in :func:`parse`, which only sees the current
    set's builder; closures over loop variables would turn them into cell
    variables and slow every segment down.
    """

    def __init__(self, strict: bool, default_zone: str, reader: PieceReader) -> None:
        get_zone(default_zone)  # a misconfigured partner zone fails before reading
        self.strict = strict
        self.default_zone = default_zone
        self.reader = reader
        self.isa: InterchangeInfo | None = None
        self.isa_open = False
        self.isa_problems: list[EdiError] = []
        self.n_groups = 0
        self.group: GroupResult | None = None
        self.seen_sets: set[str] = set()
        self.tx: Transaction | None = None
        self.tx_result: SetResult | None = None
        # The current set's segments between ST and SE, as raw strings.
        self.segments: list[str] | None = None
        self.st_segno = 0
        self.out: list[tuple[Any, ...]] = []

    def problem(self, err: EdiError, into: list[EdiError] | None) -> None:
        if self.strict:
            raise err
        if into is not None:
            into.append(err)
        else:
            self.out.append(("problem", err))

    # -- closing -----------------------------------------------------------
    def close_set(self, segno: int, trailer: list[str] | None, body: str | None = None, body_count: int = 0) -> None:
        """Close the current set; ``body`` is its text when the fast path read it whole."""
        tx, result, segments = self.tx, self.tx_result, self.segments
        assert tx is not None and result is not None
        count = (body_count if body is not None else len(segments or ())) + 2
        if tx.set_id == "214":
            delims = self.reader.delimiters
            assert delims is not None
            try:
                build_214(
                    tx,
                    body if body is not None else delims.segment.join(segments or ()),
                    syntax_for(delims.element, delims.segment),
                    self.st_segno + 1,
                    self.default_zone,
                    self.group.info.created if self.group is not None else None,
                )
            except EdiError as err:
                self.problem(err, result.problems)
        if trailer is None:
            self.problem(
                EdiError(f"transaction set {tx.control_number} has no SE trailer", segno, "SE", ack=("AK5", "2")),
                result.problems,
            )
        else:
            se01 = trailer[1].strip() if len(trailer) > 1 else ""
            se02 = trailer[2].strip() if len(trailer) > 2 else ""
            if not (se01.isascii() and se01.isdigit() and int(se01) == count):
                self.problem(
                    EdiError(f"SE01 says {se01!r} segments, the set has {count}", segno, "SE", 1, ack=("AK5", "4")),
                    result.problems,
                )
            if not same_number(se02, tx.control_number):
                self.problem(
                    EdiError(
                        f"SE02 {se02!r} does not match ST02 {tx.control_number!r}", segno, "SE", 2, ack=("AK5", "3")
                    ),
                    result.problems,
                )
        group = self.group
        if not self.strict and segments:
            self.check_segment_ids(
                self.reader.delimiters.segment.join(segments),  # type: ignore[union-attr]
                self.st_segno + 1,
                result.problems,
            )
        if group is not None:
            group.n_sets += 1
            if not self.strict and (result.problems or group.n_sets <= KEEP_SETS):
                group.sets.append(result)
        self.out.append(("set", tx, result.problems))
        self.tx, self.tx_result, self.segments = None, None, None

    def whole_set(self, st_text: str, body: str, n_body: int, se_text: str, segno: int) -> None:
        """ST, body and SE of one well-formed set in one call (the parser's fast path).

        Same checks as :meth:`st` followed by :meth:`close_set`, without the
        bookkeeping those need to handle a set arriving segment by segment.
        """
        group = self.group
        delims = self.reader.delimiters
        assert group is not None and delims is not None
        sep = delims.element
        st = st_text.split(sep)
        st01 = st[0].strip()
        st02 = st[1].strip() if len(st) > 1 else ""
        info = group.info
        tx = Transaction(
            st01,
            st02,
            info.version,
            "",
            "",
            "",
            (),
            [],
            segno,
            info.control_number,
            self.isa.control_number if self.isa else "",
        )
        problems: list[EdiError] = []
        if not (4 <= len(st02) <= 9 and st02.isalnum()):
            self.problem(
                EdiError(f"invalid transaction set control number {st02!r}", segno, "ST", 2, ack=("AK5", "7")), problems
            )
        elif st02 in self.seen_sets:
            self.problem(
                EdiError(
                    f"transaction set control number {st02} repeats in the group", segno, "ST", 2, ack=("AK5", "23")
                ),
                problems,
            )
        elif len(self.seen_sets) < KEEP_SETS:
            self.seen_sets.add(st02)
        if st01 == "214":
            try:
                build_214(tx, body, syntax_for(sep, delims.segment), segno + 1, self.default_zone, info.created)
            except EdiError as err:
                self.problem(err, problems)
        elif not st01:
            self.problem(EdiError("ST01 is empty", segno, "ST", 1, ack=("AK5", "6")), problems)
        se = se_text.split(sep)
        count = n_body + 2
        se01 = se[1].strip() if len(se) > 1 else ""
        if not (se01.isascii() and se01.isdigit() and int(se01) == count):
            self.problem(
                EdiError(
                    f"SE01 says {se01!r} segments, the set has {count}", segno + count - 1, "SE", 1, ack=("AK5", "4")
                ),
                problems,
            )
        se02 = se[2].strip() if len(se) > 2 else ""
        if not same_number(se02, st02):
            self.problem(
                EdiError(f"SE02 {se02!r} does not match ST02 {st02!r}", segno + count - 1, "SE", 2, ack=("AK5", "3")),
                problems,
            )
        group.n_sets += 1
        if not self.strict:
            self.check_segment_ids(body, segno + 1, problems)
            if problems or group.n_sets <= KEEP_SETS:
                group.sets.append(SetResult(st01, st02, problems))
        self.out.append(("set", tx, problems))

    def check_segment_ids(self, body: str, first_segno: int, problems: list[EdiError]) -> None:
        """Note segments whose id is not an X12 segment id (for 997s: accepted with errors).

        The reader skips segments it does not model, as real files carry
        many; an id that cannot be a segment id at all is worth reporting.
        """
        if not body:
            return
        delims = self.reader.delimiters
        assert delims is not None
        for i, raw in enumerate(body.split(delims.segment)):
            tag = raw.split(delims.element, 1)[0]
            if not _SEGMENT_ID(tag):
                problems.append(
                    EdiError(
                        f"unrecognized segment id {tag[:10]!r}",
                        first_segno + i,
                        tag[:3],
                        ack=("AK3", "1"),
                        set_position=i + 2,
                    )
                )
                return

    def close_group(self, segno: int, trailer: list[str] | None) -> None:
        group = self.group
        assert group is not None
        gs06 = group.info.control_number
        if trailer is None:
            self.problem(
                EdiError(f"functional group {gs06} has no GE trailer", segno, "GE", ack=("AK9", "3")), group.problems
            )
        else:
            ge01 = trailer[1].strip() if len(trailer) > 1 else ""
            ge02 = trailer[2].strip() if len(trailer) > 2 else ""
            group.declared_sets = ge01
            if not same_number(ge01, group.n_sets):
                self.problem(
                    EdiError(
                        f"GE01 says {ge01!r} transaction sets, the group has {group.n_sets}",
                        segno,
                        "GE",
                        1,
                        ack=("AK9", "5"),
                    ),
                    group.problems,
                )
            if not same_number(ge02, gs06):
                self.problem(
                    EdiError(f"GE02 {ge02!r} does not match GS06 {gs06!r}", segno, "GE", 2, ack=("AK9", "4")),
                    group.problems,
                )
        self.out.append(("group", group))
        self.group = None

    def close_interchange(self, segno: int, trailer: list[str] | None) -> None:
        if trailer is None:
            self.problem(
                EdiError("interchange has no IEA trailer", segno, "IEA", ack=("TA1", "023")), self.isa_problems
            )
        else:
            iea01 = trailer[1].strip() if len(trailer) > 1 else ""
            iea02 = trailer[2].strip() if len(trailer) > 2 else ""
            if not same_number(iea01, self.n_groups):
                self.problem(
                    EdiError(
                        f"IEA01 says {iea01!r} groups, the interchange has {self.n_groups}",
                        segno,
                        "IEA",
                        1,
                        ack=("TA1", "021"),
                    ),
                    self.isa_problems,
                )
            if self.isa is not None and not same_number(iea02, self.isa.control_number):
                self.problem(
                    EdiError(
                        f"IEA02 {iea02!r} does not match ISA13 {self.isa.control_number!r}",
                        segno,
                        "IEA",
                        2,
                        ack=("TA1", "001"),
                    ),
                    self.isa_problems,
                )
        self.out.append(("interchange", InterchangeResult(self.isa, self.isa_problems)))
        self.isa, self.isa_open, self.isa_problems, self.n_groups = None, False, [], 0

    # -- opening -----------------------------------------------------------
    def st(self, el: list[str], segno: int) -> None:
        group = self.group
        if group is None:
            self.problem(EdiError("ST outside a functional group", segno, "ST"), None)
        st01 = el[1].strip() if len(el) > 1 else ""
        st02 = el[2].strip() if len(el) > 2 else ""
        if group is not None:
            tx = Transaction(
                st01,
                st02,
                group.info.version,
                "",
                "",
                "",
                (),
                [],
                segno,
                group.info.control_number,
                self.isa.control_number if self.isa else "",
            )
        else:
            tx = Transaction(st01, st02, "", segment_number=segno)
        result = SetResult(st01, st02)
        self.tx, self.tx_result, self.segments, self.st_segno = tx, result, [], segno
        if not st02 or not st02.isalnum() or not 4 <= len(st02) <= 9:
            self.problem(
                EdiError(f"invalid transaction set control number {st02!r}", segno, "ST", 2, ack=("AK5", "7")),
                result.problems,
            )
        elif st02 in self.seen_sets:
            self.problem(
                EdiError(
                    f"transaction set control number {st02} repeats in the group", segno, "ST", 2, ack=("AK5", "23")
                ),
                result.problems,
            )
        elif len(self.seen_sets) < KEEP_SETS:
            self.seen_sets.add(st02)
        if not st01:
            self.problem(EdiError("ST01 is empty", segno, "ST", 1, ack=("AK5", "6")), result.problems)

    def gs(self, el: list[str], segno: int) -> None:
        if not self.isa_open:
            self.problem(EdiError("GS outside an interchange", segno, "GS"), None)
        if self.group is not None:
            self.close_group(segno, None)
        if len(el) < 9:
            self.problem(EdiError(f"GS has {len(el) - 1} elements, expected 8", segno, "GS", ack=("AK9", "1")), None)
            el = el + [""] * (9 - len(el))
        control = el[6].strip()
        self.n_groups += 1
        self.seen_sets = set()
        self.group = GroupResult(
            GroupInfo(
                functional_id=el[1].strip(),
                control_number=control,
                sender_id=el[2].strip(),
                receiver_id=el[3].strip(),
                version=el[8].strip(),
                created=group_created(el, self.default_zone),
            ),
            self.isa,
            delimiters=self.reader.delimiters,
        )
        if not (control.isascii() and control.isdigit()):
            self.problem(
                EdiError(f"group control number {control!r} is not numeric", segno, "GS", 6, ack=("AK9", "6")),
                self.group.problems,
            )

    def isa_segment(self, el: list[str], segno: int) -> None:
        if self.isa_open:
            if self.group is not None:
                self.close_group(segno, None)
            self.problem(
                EdiError("interchange has no IEA trailer before the next ISA", segno, "IEA", ack=("TA1", "023")),
                self.isa_problems,
            )
            self.out.append(("interchange", InterchangeResult(self.isa, self.isa_problems)))
        self.isa, self.isa_open, self.isa_problems, self.n_groups = None, True, [], 0
        try:
            self.isa = _isa_info(el, segno)
        except EdiError as err:
            self.problem(err, self.isa_problems)

    def segment(self, tag: str, el: list[str], segno: int) -> None:
        """Handle a segment that is an envelope segment or outside any set."""
        if self.tx is not None:
            if tag == "SE":
                self.close_set(segno, el)
                return
            self.close_set(segno, None)
        if tag == "ST":
            self.st(el, segno)
        elif tag == "GS":
            self.gs(el, segno)
        elif tag == "GE":
            if self.group is None:
                self.problem(EdiError("GE without a GS", segno, "GE"), None)
            else:
                self.close_group(segno, el)
        elif tag == "ISA":
            self.isa_segment(el, segno)
        elif tag == "IEA":
            if self.group is not None:
                self.close_group(segno, None)
            if not self.isa_open:
                self.problem(EdiError("IEA without an ISA", segno, "IEA"), None)
            else:
                self.close_interchange(segno, el)
        elif tag == "SE":
            self.problem(EdiError("SE without an ST", segno, "SE"), self.group.problems if self.group else None)
        else:
            self.problem(
                EdiError(f"segment {tag[:3]!r} outside a transaction set", segno, tag[:3]),
                self.group.problems if self.group else None,
            )

    def end(self, segno: int) -> None:
        if self.tx is not None:
            self.close_set(segno, None)
        if self.group is not None:
            self.close_group(segno, None)
        if self.isa_open:
            self.close_interchange(segno, None)
