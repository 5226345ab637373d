"""Numeric fields of EDI envelopes (counts and control numbers), which senders may pad with zeros."""

from __future__ import annotations


def same_number(declared: str, actual: str | int) -> bool:
    """Whether a numeric envelope field (a count or control number) says ``actual``.

    X12 numeric fields may carry leading zeros (GE01 ``000019``, IEA01
    ``00001``, a GE02 of ``0042`` for GS06 ``42``), so they compare as numbers;
    anything that is not all digits compares as text.
    """
    expected = str(actual).strip()
    if declared.isascii() and declared.isdigit() and expected.isascii() and expected.isdigit():
        return int(declared) == int(expected)
    return declared == expected
