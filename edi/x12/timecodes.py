"""X12 time codes (data element 623) to time zones, and back.

``LT`` (local time) and an absent code mean "the time where the event
happened": those resolve through the event's place, see :mod:`edi.zones`.
The ``01``-``24`` codes are whole-hour UTC offsets: 01..12 are +1..+12 and
13..24 are -12..-1 (X12 writes ISO's "+" and "-" as P and M codes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

from edi.zones import get_zone

_FIXED_HOURS = {
    "ES": -5,
    "ED": -4,
    "CS": -6,
    "CD": -5,
    "MS": -7,
    "MD": -6,
    "PS": -8,
    "PD": -7,
    "AS": -9,
    "AD": -8,
    "HS": -10,
    "HD": -9,
    "TS": -4,
    "TD": -3,
}
_FIXED_MINUTES = {"NS": -210, "ND": -150}
_PREVAILING = {
    "ET": "America/New_York",
    "CT": "America/Chicago",
    "MT": "America/Denver",
    "PT": "America/Los_Angeles",
    "AT": "America/Anchorage",
    "HT": "Pacific/Honolulu",
    "NT": "America/St_Johns",
    "TT": "America/Halifax",
}

LOCAL_CODES = frozenset({"", "LT"})


def _build() -> dict[str, tzinfo]:
    zones: dict[str, tzinfo] = {"UT": UTC, "GM": UTC}
    for code, hours in _FIXED_HOURS.items():
        zones[code] = timezone(timedelta(hours=hours))
    for code, minutes in _FIXED_MINUTES.items():
        zones[code] = timezone(timedelta(minutes=minutes))
    for h in range(1, 13):
        zones[f"{h:02d}"] = timezone(timedelta(hours=h))
        zones[f"{25 - h:02d}"] = timezone(timedelta(hours=-h))
    return zones


_ZONES = _build()
# Read directly by the 214 fast path; prevailing-time codes are added on first use.
ZONE_CODES = _ZONES


def zone_for_code(code: str) -> tzinfo | None:
    """The zone an explicit time code names, or None when it is unknown.

    Prevailing-time codes (ET, CT, ...) are resolved lazily so that tzdata is
    read only when a file uses them.
    """
    zone = _ZONES.get(code)
    if zone is None and code in _PREVAILING:
        zone = get_zone(_PREVAILING[code])
        _ZONES[code] = zone
    return zone


def code_for_datetime(value: datetime) -> tuple[datetime, str]:
    """(datetime to print, time code) for an aware datetime.

    Whole-hour offsets keep their offset through the numeric codes; any other
    offset (India's +05:30, say) is written in UTC so the instant survives.
    """
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("datetime must be timezone-aware")
    if not offset:
        return value, "UT"
    seconds = int(offset.total_seconds())
    if seconds % 3600 == 0 and -12 <= seconds // 3600 <= 12:
        hours = seconds // 3600
        return value, f"{hours:02d}" if hours > 0 else f"{25 + hours:02d}"
    return value.astimezone(UTC), "UT"
