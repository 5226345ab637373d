"""Split an X12 byte stream into segments, chunk by chunk.

The delimiters come from the ISA header: the element separator is its 4th
character, the component separator is ISA16, and the segment terminator is
the character after ISA16 (a newline when the file uses one). Real files add
CR/LF after terminators, wrap everything at 80 columns, or pad lines with
spaces; all of that is noise around the terminator, so each chunk drops
CR/LF (unless a newline *is* the terminator) and is split with ``str.split``
in C rather than scanned character by character in Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from edi.errors import EdiError
from edi.textio import CHUNK_SIZE, iter_text

_CRLF = "\r\n"


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str
    component: str
    segment: str
    repetition: str | None = None


def detect_delimiters(text: str) -> Delimiters:
    """Read the delimiters from text that starts with an ISA segment."""
    if not text.startswith("ISA") or len(text) < 4:
        raise EdiError("not an X12 interchange: the file does not start with ISA", 1, "ISA")
    sep = text[3]
    if sep.isalnum() or sep.isspace():
        raise EdiError(f"invalid element separator {sep!r}", 1, "ISA", 1)
    n = len(text)
    i, count = 4, 1
    while i < n and count < 16:
        if text[i] == sep:
            count += 1
        i += 1
    while i < n and text[i] in _CRLF:
        i += 1
    if count < 16 or i >= n:
        raise EdiError("ISA segment is incomplete: expected 16 elements", 1, "ISA")
    component = text[i]
    i += 1
    if i < n and text[i] in _CRLF:
        j = i
        while j < n and text[j] in _CRLF:
            j += 1
        # A newline straight before the next segment's id means the newline
        # is the terminator; anything else is an 80-column wrap before it.
        terminator = "\n" if j >= n or text[j].isalpha() else text[j]
    elif i < n:
        terminator = text[i]
    else:
        raise EdiError("ISA segment has no segment terminator", 1, "ISA", 16)
    if terminator.isalnum() or terminator == " ":
        raise EdiError(f"invalid segment terminator {terminator!r}", 1, "ISA", 16)
    if component.isalnum() or component == " ":
        raise EdiError(f"invalid component separator {component!r}", 1, "ISA", 16)
    if len({sep, component, terminator}) != 3:
        raise EdiError("ISA delimiters are not distinct", 1, "ISA", 16)
    repetition = None
    head = text[:i].replace("\r", "").replace("\n", "") if terminator != "\n" else text[:i]
    fields = head.split(sep)
    if len(fields) >= 13 and fields[12].strip() >= "00403":
        rep = fields[11]
        if len(rep) == 1 and not rep.isalnum() and rep not in (sep, component, terminator, " "):
            repetition = rep
    return Delimiters(sep, component, terminator, repetition)


class PieceReader:
    """Iterate a file as pieces of text, each one or more whole segments.

    Pieces are cut at every ``<terminator>ST<separator>``, so a piece of a
    ``"sets"`` (or ``"clean"``) batch holds one transaction set from just after its ``ST`` tag
    up to the end of its SE (plus any GE/IEA/GS/ISA that follow it); a
    ``"loose"`` piece holds segments before the first ST. Batches (a chunk's
    worth of sets) rather than single pieces keep generator overhead off the
    per-set path, and the parser handles a well-formed set with a few
    C-level string operations instead of looking at each segment twice.

    Text is normalised first: CR/LF dropped (unless a newline is the
    terminator), spaces around terminators and empty segments removed.
    ``delimiters`` is set before the first piece is produced.
    """

    def __init__(self, fileobj: IO[bytes], encoding: str | None = None, chunk_size: int = CHUNK_SIZE) -> None:
        self._chunks = iter_text(fileobj, encoding, chunk_size)
        self.delimiters: Delimiters | None = None

    def __iter__(self) -> Iterator[tuple[str, list[str]]]:
        chunks = self._chunks
        buf = ""
        for chunk in chunks:
            buf += chunk
            if len(buf.lstrip()) >= 512:
                break
        buf = buf.lstrip(" \t\r\n\x00\ufeff")
        if not buf:
            raise EdiError("file is empty")
        delims = detect_delimiters(buf)
        self.delimiters = delims
        term, sep = delims.segment, delims.element
        newline_mode = term == "\n"
        marker = term + "ST" + sep
        group_marks = tuple(term + tag + sep for tag in ("GE", "GS", "IEA", "ISA"))
        g_mark, i_mark = term + "G", term + "I"
        st_head = "ST" + sep
        pad_before, pad_after, double = " " + term, term + " ", term + term
        tail = ""
        text: str | None = buf
        while True:
            final = text is None
            if text is None:
                text = tail
            else:
                if newline_mode:
                    if "\r" in text:
                        text = text.replace("\r", "")
                else:
                    if "\n" in text:
                        text = text.replace("\n", "")
                    if "\r" in text:
                        text = text.replace("\r", "")
                if tail:
                    text = tail + text
            assert text is not None
            if pad_before in text or pad_after in text or double in text or "\t" in text or text[:1] == " ":
                parts = text.split(term)
                # The last part is a segment still being read: not stripped yet.
                rest = "" if final else parts.pop().lstrip()
                text = term.join([p for p in (s.strip() for s in parts) if p])
                if not final:
                    text = f"{text}{term}{rest}" if text else rest
            if final:
                complete, tail = text, ""
            else:
                cut = text.rfind(marker)
                if cut < 0:
                    tail = text
                    text = next(chunks, None)
                    continue
                complete, tail = text[:cut], text[cut + 1 :]
            if complete.endswith(term):
                complete = complete[:-1]
            pieces = complete.split(marker)
            head = pieces[0]
            if head.startswith(st_head):
                pieces[0] = head[len(st_head) :]
            else:
                if head:
                    yield "loose", [head]
                del pieces[0]
            if pieces:
                # "clean": no group or interchange segment anywhere in the
                # batch, so the parser need not look for them set by set.
                # (GE/GS start with G and IEA/ISA with I: one scan each first.)
                clean = (g_mark not in complete or all(m not in complete for m in group_marks[:2])) and (
                    i_mark not in complete or all(m not in complete for m in group_marks[2:])
                )
                yield "clean" if clean else "sets", pieces
            if final:
                return
            text = next(chunks, None)
