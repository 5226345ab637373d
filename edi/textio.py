"""Reading binary file objects as text, in chunks, whatever the encoding.

Carriers send UTF-8, ISO-8859-1 and windows-1252 without saying which. With
``encoding=None`` a file is read as UTF-8 until a chunk is not valid UTF-8,
then as windows-1252 from that chunk on (bytes windows-1252 leaves undefined
are read as ISO-8859-1). Earlier chunks were valid UTF-8, which for these
files means plain ASCII, so switching late loses nothing.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import IO

from edi.errors import EdiError

CHUNK_SIZE = 1 << 20

_ALIASES = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8",
    "latin-1": "iso-8859-1",
    "latin1": "iso-8859-1",
    "iso-8859-1": "iso-8859-1",
    "iso8859-1": "iso-8859-1",
    "cp1252": "windows-1252",
    "windows-1252": "windows-1252",
    "win1252": "windows-1252",
    "ascii": "utf-8",
    "us-ascii": "utf-8",
}


def normalise_encoding(encoding: str | None) -> str | None:
    if encoding is None or encoding == "" or encoding.lower() == "auto":
        return None
    try:
        return _ALIASES[encoding.strip().lower()]
    except KeyError:
        raise EdiError(f"unsupported encoding {encoding!r} (use utf-8, iso-8859-1 or windows-1252)") from None


def _decode_1252(data: bytes) -> str:
    try:
        return data.decode("windows-1252")
    except UnicodeDecodeError:
        return data.decode("iso-8859-1")


def iter_text(fileobj: IO[bytes] | IO[str], encoding: str | None = None, chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """Yield the file's text in chunks of about ``chunk_size`` bytes."""
    enc = normalise_encoding(encoding)
    first = True
    if enc == "iso-8859-1":
        # Single-byte: every chunk decodes on its own.
        while True:
            data = fileobj.read(chunk_size)
            if not data:
                return
            yield data if isinstance(data, str) else data.decode("iso-8859-1")
    if enc == "windows-1252":
        while True:
            data = fileobj.read(chunk_size)
            if not data:
                return
            yield data if isinstance(data, str) else _decode_1252(data)
    decoder = codecs.getincrementaldecoder("utf-8")()
    fallback = False
    while True:
        data = fileobj.read(chunk_size)
        if not data:
            break
        if isinstance(data, str):
            yield data
            continue
        if first:
            first = False
            if data.startswith(codecs.BOM_UTF8):
                data = data[3:]
        if fallback:
            yield _decode_1252(data)
            continue
        try:
            text = decoder.decode(data)
        except UnicodeDecodeError as exc:
            if enc == "utf-8":
                raise EdiError(f"file is not valid UTF-8 near byte {exc.start}") from None
            pending = decoder.getstate()[0]
            fallback = True
            text = _decode_1252(pending + data)
        if text:
            yield text
    if not fallback:
        pending = decoder.getstate()[0]
        if pending:
            if enc == "utf-8":
                raise EdiError("file ends inside a UTF-8 character")
            yield _decode_1252(pending)


class PrefixedReader:
    """A binary reader that first returns bytes already read from another.

    Format detection must look at a file's first bytes without losing them
    on a stream that cannot seek (an sFTP download, a pipe).
    """

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data = self._head + self._rest.read()
                self._head = b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)

    def readable(self) -> bool:
        return True
