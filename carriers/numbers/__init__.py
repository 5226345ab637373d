"""Tracking-number formats and their check digits: which carrier issued a number.

The rules are data, in ``formats.toml`` beside this file; this module only
loads them (failing loudly on a bad entry) and runs them. Pure: no database,
no Django, so the detection service, tests and benchmarks share one engine.

- ``normalise(number)`` — what every rule is matched against (no spaces or
  dashes, letters upper-case).
- ``formats()`` — every format by id; ``format_matches(number, ids)`` — the
  formats among ``ids`` whose pattern and check digit the number satisfies.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FORMATS_FILE = Path(__file__).with_name("formats.toml")
CHECKSUMS = frozenset({"none", "mod10", "mod11_10", "s10", "mod7"})
_SEPARATORS = re.compile(r"[\s\-]+")


class FormatError(ValueError):
    """formats.toml has an entry the engine cannot run."""


@dataclass(frozen=True)
class NumberFormat:
    id: str
    name: str
    regex: re.Pattern[str]
    checksum: str
    weights: tuple[int, ...]
    letters: str
    confidence: float
    valid: tuple[str, ...]
    invalid: tuple[str, ...]

    def matches(self, number: str) -> bool:
        """``number`` must already be normalised."""
        found = self.regex.fullmatch(number)
        if found is None:
            return False
        if self.checksum == "none":
            return True
        return _check_digit(self, found.group("payload")) == int(found.group("check"))


def normalise(number: str) -> str:
    return _SEPARATORS.sub("", number).upper()


def _value(char: str, letters: str) -> int:
    if char.isdigit():
        return int(char)
    if letters == "ups":
        # UPS counts A as 2, B as 3, … wrapping every ten letters.
        return (ord(char) - 3) % 10
    raise ValueError(char)


def _check_digit(fmt: NumberFormat, payload: str) -> int:
    if fmt.checksum == "mod7":
        return int(payload) % 7
    values = [_value(c, fmt.letters) for c in reversed(payload)]
    total = sum(v * fmt.weights[i % len(fmt.weights)] for i, v in enumerate(values))
    if fmt.checksum == "mod10":
        return (10 - total % 10) % 10
    if fmt.checksum == "mod11_10":
        return total % 11 % 10
    # s10
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def _build(entry: dict[str, object]) -> NumberFormat:
    where = f"format {entry.get('id', '?')!r}"
    try:
        fmt = NumberFormat(
            id=str(entry["id"]),
            name=str(entry["name"]),
            regex=re.compile(str(entry["regex"])),
            checksum=str(entry["checksum"]),
            weights=tuple(int(w) for w in entry.get("weights", ())),  # type: ignore[attr-defined]
            letters=str(entry.get("letters", "")),
            confidence=float(entry["confidence"]),  # type: ignore[arg-type]
            valid=tuple(str(v) for v in entry.get("valid", ())),  # type: ignore[attr-defined]
            invalid=tuple(str(v) for v in entry.get("invalid", ())),  # type: ignore[attr-defined]
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise FormatError(f"{where}: {type(exc).__name__}: {exc}") from None
    if fmt.checksum not in CHECKSUMS:
        raise FormatError(f"{where}: checksum must be one of {', '.join(sorted(CHECKSUMS))}")
    if fmt.checksum != "none" and not {"payload", "check"} <= set(fmt.regex.groupindex):
        raise FormatError(f"{where}: a checked format needs the named groups 'payload' and 'check'")
    if fmt.checksum in ("mod10", "mod11_10", "s10") and not fmt.weights:
        raise FormatError(f"{where}: checksum {fmt.checksum} needs weights")
    if not 0 < fmt.confidence <= 1:
        raise FormatError(f"{where}: confidence must be in (0, 1]")
    if not fmt.valid or not fmt.invalid:
        raise FormatError(f"{where}: give at least one valid and one invalid example")
    return fmt


@cache
def formats() -> dict[str, NumberFormat]:
    data = tomllib.loads(FORMATS_FILE.read_text(encoding="utf-8"))
    built: dict[str, NumberFormat] = {}
    for entry in data.get("format", []):
        fmt = _build(entry)
        if fmt.id in built:
            raise FormatError(f"format {fmt.id!r} is defined twice")
        built[fmt.id] = fmt
    return built


def unknown_formats(ids: Iterable[str]) -> list[str]:
    known = formats()
    return [i for i in ids if i not in known]


def format_matches(number: str, ids: Iterable[str]) -> list[NumberFormat]:
    """The formats among ``ids`` that ``number`` satisfies, most confident first."""
    number = normalise(number)
    known = formats()
    found = [known[i] for i in dict.fromkeys(ids) if i in known and known[i].matches(number)]
    return sorted(found, key=lambda f: -f.confidence)
