"""Time zones for events whose file gives a local time without a zone.

A place resolves to a zone only when the answer is unambiguous at the level
the file gives: a US state or Canadian province (its prevailing zone), or a
country that has one zone. Anything else falls back to the trading partner's
default zone, and the event records which of the two was used.
"""

from __future__ import annotations

from datetime import tzinfo
from functools import lru_cache
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

# Countries with a single civil time zone (or one that covers nearly all
# freight, as mainland Spain and Portugal do).
_COUNTRIES = {
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "FR": "Europe/Paris",
    "DE": "Europe/Berlin",
    "NL": "Europe/Amsterdam",
    "BE": "Europe/Brussels",
    "LU": "Europe/Luxembourg",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "IT": "Europe/Rome",
    "CH": "Europe/Zurich",
    "AT": "Europe/Vienna",
    "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo",
    "FI": "Europe/Helsinki",
    "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague",
    "SK": "Europe/Bratislava",
    "HU": "Europe/Budapest",
    "RO": "Europe/Bucharest",
    "BG": "Europe/Sofia",
    "GR": "Europe/Athens",
    "TR": "Europe/Istanbul",
    "SI": "Europe/Ljubljana",
    "HR": "Europe/Zagreb",
    "RS": "Europe/Belgrade",
    "EE": "Europe/Tallinn",
    "LV": "Europe/Riga",
    "LT": "Europe/Vilnius",
    "IS": "Atlantic/Reykjavik",
    "UA": "Europe/Kyiv",
    "JP": "Asia/Tokyo",
    "KR": "Asia/Seoul",
    "CN": "Asia/Shanghai",
    "HK": "Asia/Hong_Kong",
    "TW": "Asia/Taipei",
    "SG": "Asia/Singapore",
    "MY": "Asia/Kuala_Lumpur",
    "TH": "Asia/Bangkok",
    "VN": "Asia/Ho_Chi_Minh",
    "PH": "Asia/Manila",
    "IN": "Asia/Kolkata",
    "PK": "Asia/Karachi",
    "BD": "Asia/Dhaka",
    "AE": "Asia/Dubai",
    "SA": "Asia/Riyadh",
    "QA": "Asia/Qatar",
    "IL": "Asia/Jerusalem",
    "EG": "Africa/Cairo",
    "ZA": "Africa/Johannesburg",
    "MA": "Africa/Casablanca",
    "NG": "Africa/Lagos",
    "KE": "Africa/Nairobi",
    "NZ": "Pacific/Auckland",
    "CO": "America/Bogota",
    "PE": "America/Lima",
    "AR": "America/Argentina/Buenos_Aires",
    "CL": "America/Santiago",
    "PA": "America/Panama",
    "GT": "America/Guatemala",
    "CR": "America/Costa_Rica",
    "DO": "America/Santo_Domingo",
    "PR": "America/Puerto_Rico",
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
    return _COUNTRIES.get(country)


@lru_cache(maxsize=4096)
def resolve_zone(
    iso_country: str, state: str, default_zone: str
) -> tuple[tzinfo, Literal["location", "partner_default"]]:
    """(zone, zone_source) for a local time at a place."""
    name = zone_for_place(iso_country, state)
    if name is not None:
        return get_zone(name), "location"
    return get_zone(default_zone), "partner_default"
