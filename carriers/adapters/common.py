"""Small helpers the HTTP carrier adapters share: JSON loading with clear errors,
time parsing, OAuth client-credential tokens cached across workers, and one
place that turns an HTTP response into a CarrierError with retry semantics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from carriers.adapters.base import CarrierError, RequestHook
from edi.zones import resolve_zone

# Connect and read timeouts for every carrier API call.
TIMEOUT = (5.0, 30.0)
USER_AGENT = "gluey-tracking/1 (+event-service)"


_CM_PER_UNIT = {"CM": 1.0, "MM": 0.1, "M": 100.0, "IN": 2.54, "INCH": 2.54, "INCHES": 2.54, "FT": 30.48}


def dimensions_cm(length: Any, width: Any, height: Any, unit: Any) -> tuple[float, float | None, float | None] | None:
    """(length, width, height) in centimetres from a carrier's sides and unit; None when the length or unit is unusable."""
    factor = _CM_PER_UNIT.get(text(unit).upper())
    if factor is None:
        return None

    def side(value: Any) -> float | None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return round(number * factor, 2) if number > 0 and number < 1e6 else None

    first = side(length)
    return None if first is None else (first, side(width), side(height))


def load_json(payload: bytes, what: str) -> Any:
    """JSON from bytes; every way it can fail is a permanent CarrierError naming the problem."""
    try:
        return json.loads(payload)
    except UnicodeDecodeError as exc:
        raise CarrierError(f"{what} is not UTF-8: {utf8_problem(payload, exc)}", permanent=True) from None
    except RecursionError:
        raise CarrierError(f"{what} is nested too deeply to be a carrier's payload", permanent=True) from None
    except ValueError as exc:
        raise CarrierError(f"{what} is not valid JSON: {exc}", permanent=True) from None


def utf8_problem(payload: bytes, exc: UnicodeDecodeError | None = None) -> str:
    """Where bytes stop being UTF-8, in words (``exc`` from a failed decode, else found here)."""
    if exc is None or exc.object != payload:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as found:
            exc = found
        else:
            return "no problem"
    return f"byte 0x{payload[exc.start]:02x} at position {exc.start} cannot start or continue a character"


def as_dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CarrierError(f"{where} must be an object", permanent=True)
    return value


def as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CarrierError(f"{where} must be a list", permanent=True)
    return value


def text(value: Any, limit: int = 1000) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return ""
    return value.strip()[:limit]


_OFFSET = re.compile(r"^([+-])?(\d{1,2}):?(\d{2})?$")


def parse_offset(value: str) -> timezone | None:
    """'-05:00', '-5:00', '+0100', '-7' → a fixed offset; anything else → None."""
    match = _OFFSET.match((value or "").strip())
    if not match:
        return None
    sign = -1 if match.group(1) == "-" else 1
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes >= 60:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_iso(value: Any, where: str, *, default_zone: str = "UTC") -> datetime:
    """An ISO 8601 time; one without an offset is read in ``default_zone``."""
    raw = text(value, 64)
    if not raw:
        raise CarrierError(f"{where} is missing", permanent=True)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise CarrierError(f"{where} is not an ISO 8601 time: {raw!r}", permanent=True) from None
    if parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=zone(default_zone))
    return parsed


def parse_local_iso(
    value: Any, where: str, *, country: str = "", state: str = "", default_zone: str = "UTC"
) -> tuple[datetime, str]:
    """An ISO 8601 time and where its zone came from (the ``zone_source`` events record).

    With an offset (or ``Z``) the time is ``explicit``; without one it is local
    time at the event's place, read in the zone of its country and state when
    that resolves (``location``, see ``edi.zones``), else in the carrier's
    default zone (``partner_default``).
    """
    raw = text(value, 64)
    if not raw:
        raise CarrierError(f"{where} is missing", permanent=True)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise CarrierError(f"{where} is not an ISO 8601 time: {raw!r}", permanent=True) from None
    if parsed.utcoffset() is not None:
        return parsed, "explicit"
    place_zone, source = resolve_zone(country, state, default_zone or "UTC")
    return parsed.replace(tzinfo=place_zone), source


def zone(name: str) -> Any:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    raw = (headers.get("Retry-After") or headers.get("retry-after") or "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def raise_for_status(response: requests.Response, carrier_name: str, *, ok: tuple[int, ...] = ()) -> None:
    """Turn a failed HTTP response into a CarrierError with the right retry semantics.

    429 and 5xx are temporary (with the carrier's Retry-After); 401/403 are
    permanent until someone fixes the credentials; both are about the whole
    carrier. Any other 4xx is about this request (its numbers): permanent, and
    not a reason to stop polling the carrier's other numbers.
    """
    status = response.status_code
    if status < 400 or status in ok:
        return
    detail = response.text[:300].strip().replace("\n", " ")
    if status == 429 or status >= 500:
        raise CarrierError(
            f"{carrier_name} API answered {status}: {detail}", retry_after=retry_after_seconds(response.headers)
        )
    raise CarrierError(
        f"{carrier_name} API answered {status}: {detail}", permanent=True, carrier_wide=status in (401, 403)
    )


def http(method: str, url: str, carrier_name: str, **kwargs: Any) -> requests.Response:
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        return requests.request(method, url, headers=headers, timeout=TIMEOUT, allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        raise CarrierError(f"{carrier_name} API unreachable: {type(exc).__name__}: {exc}") from None


def oauth_token(
    *,
    cache_key: str,
    token_url: str,
    carrier_name: str,
    client_id: str,
    client_secret: str,
    style: str = "basic",
    before_fetch: Callable[[], None] | None = None,
) -> str:
    """A client-credentials access token, cached (in the shared Django cache) until shortly before it expires.

    ``style``: "basic" sends the client id/secret as HTTP Basic auth (UPS),
    "form" in the form body (FedEx), "json" as a JSON body (USPS).
    """
    from django.core.cache import cache

    if not client_id or not client_secret:
        raise CarrierError(
            f"{carrier_name}: client_id and client_secret must be set in the carrier's credentials", permanent=True
        )
    key = f"carriers:oauth:{cache_key}"
    token = cache.get(key)
    if token:
        return token
    if before_fetch is not None:
        before_fetch()  # a token request counts against the carrier's quota like any call
    if style == "basic":
        response = http(
            "POST", token_url, carrier_name, data={"grant_type": "client_credentials"}, auth=(client_id, client_secret)
        )
    elif style == "json":
        response = http(
            "POST",
            token_url,
            carrier_name,
            json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )
    else:
        response = http(
            "POST",
            token_url,
            carrier_name,
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )
    raise_for_status(response, f"{carrier_name} OAuth")
    data = load_json(response.content, f"{carrier_name} OAuth response")
    token = text(as_dict(data, "OAuth response").get("access_token"), 10_000)
    if not token:
        raise CarrierError(f"{carrier_name} OAuth response has no access_token", permanent=True)
    try:
        expires_in = int(data.get("expires_in") or 3600)
    except (TypeError, ValueError):
        expires_in = 3600
    cache.set(key, token, timeout=max(30, expires_in - 60))
    return token


def oauth_forget(cache_key: str) -> None:
    from django.core.cache import cache

    cache.delete(f"carriers:oauth:{cache_key}")


@dataclass(frozen=True)
class BearerClient:
    """The request skeleton the OAuth carriers (UPS, FedEx, USPS) share.

    Every request spends quota through ``before_request`` (the token request
    too). A 401 means the cached token may be stale: forget it, fetch a new one
    and send the request once more; a second 401 is a carrier-wide credentials
    problem.
    """

    carrier_name: str
    token_url: str
    cache_key: str
    client_id: str
    client_secret: str
    style: str
    before_request: RequestHook

    def token(self) -> str:
        return oauth_token(
            cache_key=self.cache_key,
            token_url=self.token_url,
            carrier_name=self.carrier_name,
            client_id=self.client_id,
            client_secret=self.client_secret,
            style=self.style,
            before_fetch=lambda: self.before_request("token"),
        )

    def request(
        self, method: str, url: str, *, headers: Mapping[str, str], ok: tuple[int, ...] = (), **kwargs: Any
    ) -> requests.Response:
        response = self._send(method, url, headers, **kwargs)
        if response.status_code == 401:
            oauth_forget(self.cache_key)
            response = self._send(method, url, headers, **kwargs)
            if response.status_code == 401:
                oauth_forget(self.cache_key)
                raise CarrierError(
                    f"{self.carrier_name} refused our credentials (401 after a fresh token): "
                    f"{response.text[:200].strip()}",
                    permanent=True,
                )
        raise_for_status(response, self.carrier_name, ok=ok)
        return response

    def _send(self, method: str, url: str, headers: Mapping[str, str], **kwargs: Any) -> requests.Response:
        token = self.token()
        self.before_request("track")
        return http(method, url, self.carrier_name, headers={"Authorization": f"Bearer {token}", **headers}, **kwargs)


def base_url(config: Mapping[str, Any], default: str) -> str:
    return str(config.get("base_url") or default).rstrip("/")
