"""Time zones for events whose file or payload gives a local time without a zone.

A place resolves to a zone only when the answer is unambiguous at the level
given, in this order:

1. coordinates (X12 MS1, a carrier's geo point): the zone whose boundary
   contains the point, from ``timezonefinder`` (the IANA zone boundaries);
2. a US state, Canadian province or Australian state: its prevailing zone;
3. a country: from the IANA database's own ``zone.tab`` (shipped by
   ``tzdata``), when all of the country's zones keep the same offsets, or
   for a few countries whose principal zone carries nearly all freight.

Anything else falls back to the trading partner's (carrier's) default zone,
and the event records which way was used (``zone_source``: ``explicit``,
``coordinates``, ``location`` or ``partner_default``).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from importlib import resources
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edi.errors import EdiError

# The zone most of each state's population lives in; split states (TX, FL,
# IN, KY, TN, ...) take their larger part, which is what carriers' own
# terminals report in practice.
_US_STATES = {
    "AL": "America/Chicago",
    "AK": "America/Anchorage",
    "AZ": "America/Phoenix",
    "AR": "America/Chicago",
    "CA": "America/Los_Angeles",
    "CO": "America/Denver",
    "CT": "America/New_York",
    "DE": "America/New_York",
    "DC": "America/New_York",
    "FL": "America/New_York",
    "GA": "America/New_York",
    "HI": "Pacific/Honolulu",
    "ID": "America/Boise",
    "IL": "America/Chicago",
    "IN": "America/Indiana/Indianapolis",
    "IA": "America/Chicago",
    "KS": "America/Chicago",
    "KY": "America/New_York",
    "LA": "America/Chicago",
    "ME": "America/New_York",
    "MD": "America/New_York",
    "MA": "America/New_York",
    "MI": "America/Detroit",
    "MN": "America/Chicago",
    "MS": "America/Chicago",
    "MO": "America/Chicago",
    "MT": "America/Denver",
    "NE": "America/Chicago",
    "NV": "America/Los_Angeles",
    "NH": "America/New_York",
    "NJ": "America/New_York",
    "NM": "America/Denver",
    "NY": "America/New_York",
    "NC": "America/New_York",
    "ND": "America/Chicago",
    "OH": "America/New_York",
    "OK": "America/Chicago",
    "OR": "America/Los_Angeles",
    "PA": "America/New_York",
    "RI": "America/New_York",
    "SC": "America/New_York",
    "SD": "America/Chicago",
    "TN": "America/Chicago",
    "TX": "America/Chicago",
    "UT": "America/Denver",
    "VT": "America/New_York",
    "VA": "America/New_York",
    "WA": "America/Los_Angeles",
    "WV": "America/New_York",
    "WI": "America/Chicago",
    "WY": "America/Denver",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
    "GU": "Pacific/Guam",
}

_CA_PROVINCES = {
    "AB": "America/Edmonton",
    "BC": "America/Vancouver",
    "MB": "America/Winnipeg",
    "NB": "America/Moncton",
    "NL": "America/St_Johns",
    "NS": "America/Halifax",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
    "ON": "America/Toronto",
    "PE": "America/Halifax",
    "QC": "America/Toronto",
    "SK": "America/Regina",
    "YT": "America/Whitehorse",
}

_AU_STATES = {
    "NSW": "Australia/Sydney",
    "VIC": "Australia/Melbourne",
    "QLD": "Australia/Brisbane",
    "SA": "Australia/Adelaide",
    "WA": "Australia/Perth",
    "TAS": "Australia/Hobart",
    "ACT": "Australia/Sydney",
    "NT": "Australia/Darwin",
}

# Countries with several zones in the IANA database whose principal zone
# carries nearly all freight (mainland Spain and Portugal, eastern China...).
_PRINCIPAL_ZONES = {
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "CN": "Asia/Shanghai",
    "CL": "America/Santiago",
    "NZ": "Pacific/Auckland",
    "EC": "America/Guayaquil",
    "DK": "Europe/Copenhagen",
    "FR": "Europe/Paris",
    "NL": "Europe/Amsterdam",
    "GB": "Europe/London",
}

# X12 often sends three-letter country codes.
_ISO3 = {
    "USA": "US",
    "CAN": "CA",
    "MEX": "MX",
    "GBR": "GB",
    "DEU": "DE",
    "FRA": "FR",
    "NLD": "NL",
    "BEL": "BE",
    "ESP": "ES",
    "ITA": "IT",
    "CHE": "CH",
    "AUT": "AT",
    "POL": "PL",
    "IRL": "IE",
    "PRT": "PT",
    "SWE": "SE",
    "DNK": "DK",
    "NOR": "NO",
    "FIN": "FI",
    "CZE": "CZ",
    "HUN": "HU",
    "CHN": "CN",
    "JPN": "JP",
    "KOR": "KR",
    "IND": "IN",
    "SGP": "SG",
    "HKG": "HK",
    "TWN": "TW",
    "AUS": "AU",
    "NZL": "NZ",
    "BRA": "BR",
    "ARG": "AR",
    "CHL": "CL",
    "COL": "CO",
    "ZAF": "ZA",
    "ARE": "AE",
    "ISR": "IL",
    "TUR": "TR",
    "PRI": "PR",
    "LUX": "LU",
    "GRC": "GR",
    "ROU": "RO",
}


def normalise_country(code: str) -> str:
    """Two-letter ISO country code for a two- or three-letter one."""
    code = code.strip().upper()
    if len(code) == 3:
        return _ISO3.get(code, code)
    return code


@lru_cache(maxsize=512)
def get_zone(name: str) -> tzinfo:
    """A ZoneInfo by name, raising EdiError (not ZoneInfoNotFoundError)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise EdiError(f"unknown time zone {name!r}") from exc


@lru_cache(maxsize=1)
def _country_zones() -> dict[str, str]:
    """Country → zone, from the IANA ``zone.tab``: one entry per country that resolves unambiguously."""
    listed: dict[str, list[str]] = {}
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) >= 3:
                listed.setdefault(parts[0], []).append(parts[2])
    year = datetime.now(UTC).year
    probes = (datetime(year, 1, 15, tzinfo=UTC), datetime(year, 7, 15, tzinfo=UTC))
    result: dict[str, str] = {}
    for country, names in listed.items():
        offsets = {tuple(probe.astimezone(ZoneInfo(name)).utcoffset() for probe in probes) for name in names}
        if len(offsets) == 1:
            result[country] = names[0]
    result.update(_PRINCIPAL_ZONES)
    return result


@lru_cache(maxsize=1)
def _finder() -> object:
    from timezonefinder import TimezoneFinder  # loads its boundary data (about half a second): only when needed

    return TimezoneFinder(in_memory=False)


@lru_cache(maxsize=4096)
def zone_for_point(lat: float, lng: float) -> str | None:
    """The zone containing a point, or None (at sea the IANA answer is a nautical Etc/ zone: not a place's zone)."""
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    name = _finder().timezone_at(lng=lng, lat=lat)  # type: ignore[attr-defined]
    if not name or name.startswith("Etc/"):
        return None
    return str(name)


@lru_cache(maxsize=4096)
def zone_for_place(iso_country: str, state: str) -> str | None:
    """The zone name a (country, state) pair resolves to, or None."""
    country = normalise_country(iso_country) if iso_country else ""
    state = state.strip().upper()
    if country in ("", "US") and state in _US_STATES:
        return _US_STATES[state]
    if country in ("", "CA") and state in _CA_PROVINCES:
        # Without a country, a two-letter code is read as a US state first.
        return _CA_PROVINCES[state]
    if country == "AU" and state in _AU_STATES:
        return _AU_STATES[state]
    return _country_zones().get(country) if country else None


@lru_cache(maxsize=4096)
def resolve_zone(
    iso_country: str, state: str, default_zone: str, lat: float | None = None, lng: float | None = None
) -> tuple[tzinfo, Literal["coordinates", "location", "partner_default"]]:
    """(zone, zone_source) for a local time at a place."""
    if lat is not None and lng is not None:
        name = zone_for_point(lat, lng)
        if name is not None:
            return get_zone(name), "coordinates"
    name = zone_for_place(iso_country, state)
    if name is not None:
        return get_zone(name), "location"
    return get_zone(default_zone), "partner_default"
