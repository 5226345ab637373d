"""EDIFACT service characters and segment splitting, release character included.

The UNA service string advice (``UNA:+.? '``) names the component and
element separators, decimal mark, release character and segment terminator;
without it the ISO 9735 defaults apply. A release character makes the next
character literal (``?+`` is a plus sign inside a value). Splitting handles
that with a few ``str.replace`` calls per chunk, not a character loop:
released pairs become private-use placeholders, the text is split on the
real delimiters, and the placeholders are turned back into characters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from edi.errors import EdiError
from edi.textio import CHUNK_SIZE, iter_text

# Private-use characters stand in for released delimiters while splitting.
_PH_RELEASE, _PH_TERM, _PH_ELEM, _PH_COMP, _PH_REP = "\ue000", "\ue001", "\ue002", "\ue003", "\ue004"
_PLACEHOLDERS = (_PH_RELEASE, _PH_TERM, _PH_ELEM, _PH_COMP, _PH_REP)


@dataclass(frozen=True, slots=True)
class ServiceChars:
    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    repetition: str = " "
    terminator: str = "'"

    def restore_table(self) -> dict[int, str]:
        return {
            ord(_PH_RELEASE): self.release,
            ord(_PH_TERM): self.terminator,
            ord(_PH_ELEM): self.element,
            ord(_PH_COMP): self.component,
            ord(_PH_REP): self.repetition,
        }

    def escape_table(self) -> dict[int, str]:
        chars = {self.release, self.terminator, self.element, self.component}
        return {ord(c): self.release + c for c in chars if c and c != " "}


def parse_una(text: str) -> ServiceChars:
    if len(text) < 9:
        raise EdiError("UNA service string advice is shorter than 9 characters", 1, "UNA")
    chars = ServiceChars(
        component=text[3], element=text[4], decimal=text[5], release=text[6], repetition=text[7], terminator=text[8]
    )
    delims = [chars.component, chars.element, chars.terminator]
    if len(set(delims)) != 3 or any(c.isalnum() or c in "\r\n" for c in delims):
        raise EdiError("UNA delimiters must be distinct and not letters or digits", 1, "UNA")
    if chars.release in delims or chars.release.isalnum():
        raise EdiError("UNA release character clashes with a delimiter", 1, "UNA")
    return chars


class SegmentReader:
    """Iterate an EDIFACT file as lists of elements (each a list of components).

    ``chars`` is set before the first segment is produced. ``segment_number``
    counts segments from the start of the file, UNA included.
    """

    def __init__(self, fileobj: IO[bytes], encoding: str | None = None, chunk_size: int = CHUNK_SIZE) -> None:
        self._chunks = iter_text(fileobj, encoding, chunk_size)
        self.chars: ServiceChars | None = None
        self.segment_number = 0

    def __iter__(self) -> Iterator[tuple[str, list[list[str]]]]:
        chunks = self._chunks
        text = ""
        for chunk in chunks:
            text += chunk
            if len(text.lstrip()) >= 16:
                break
        text = text.lstrip(" \t\r\n\x00\ufeff")
        if not text:
            raise EdiError("file is empty")
        if text.startswith("UNA"):
            chars = parse_una(text)
            text = text[9:]
            self.segment_number = 1
        elif text.startswith("UNB"):
            chars = ServiceChars()
        else:
            raise EdiError("not an EDIFACT interchange: the file does not start with UNA or UNB", 1, text[:3])
        self.chars = chars
        rel, term, elem, comp, rep = chars.release, chars.terminator, chars.element, chars.component, chars.repetition
        released = [(rel + rel, _PH_RELEASE), (rel + term, _PH_TERM), (rel + elem, _PH_ELEM), (rel + comp, _PH_COMP)]
        if rep and rep != " ":
            released.append((rel + rep, _PH_REP))
        restore = chars.restore_table()
        tail = ""
        carried = False
        source: str | None = text
        while True:
            final = source is None
            text = tail + ("" if final else source)  # type: ignore[operator]
            if "\n" in text or "\r" in text:
                # Line breaks are never data in EDIFACT: files wrap lines and
                # end segments with CR/LF; drop them all.
                text = text.replace("\r", "").replace("\n", "")
            if not final and any(p in source for p in _PLACEHOLDERS):  # type: ignore[operator]
                raise EdiError(
                    "file contains private-use characters U+E000-U+E004, which are not supported",
                    self.segment_number + 1,
                )
            # The tail of the last chunk may hold placeholders already.
            escaped = rel in text or carried
            if rel in text:
                if not final and text.endswith(rel):
                    # A release character may be escaping the next chunk's first character.
                    n = len(text) - len(text.rstrip(rel))
                    if n % 2:
                        text, carry = text[:-1], rel
                    else:
                        carry = ""
                else:
                    carry = ""
                for pair, ph in released:
                    if pair in text:
                        text = text.replace(pair, ph)
                text += carry
            parts = text.split(term)
            tail = "" if final else parts.pop()
            carried = escaped and bool(tail)
            for raw in parts:
                raw = raw.strip()
                if not raw:
                    continue
                self.segment_number += 1
                elements = raw.split(elem)
                if escaped:
                    yield (
                        elements[0].translate(restore),
                        [[c.translate(restore) for c in e.split(comp)] for e in elements[1:]],
                    )
                else:
                    yield elements[0], [e.split(comp) for e in elements[1:]]
            if final:
                return
            source = next(chunks, None)
