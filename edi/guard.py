"""A last line of defence for the library's promise: only EdiError escapes.

Parsers validate what they read, so this should never fire; if a file finds
a path that slipped through, the caller still gets an EdiError (marked
"unexpected", which the fuzz tests look for) rather than a crash mid-import.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from edi.errors import EdiError

T = TypeVar("T")

INTERNAL_ERRORS = (ValueError, IndexError, KeyError, TypeError, AttributeError, OverflowError, UnicodeError)


def guarded(items: Iterator[T]) -> Iterator[T]:
    try:
        yield from items
    except EdiError:
        raise
    except INTERNAL_ERRORS as exc:
        raise EdiError(f"unexpected parse failure: {type(exc).__name__}: {exc}") from exc
