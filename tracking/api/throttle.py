"""The per-key API rate limit: a counter per fixed window that cannot lose updates.

DRF's SimpleRateThrottle reads a list of timestamps from the cache, appends
and writes it back: two concurrent requests read the same list and one of the
appends is lost (300 concurrent requests were counted as 269). Here each
request adds one with a single atomic operation and is allowed while the
result is within the rate:

- with a Redis cache (``CACHE_URL=redis://…``): ``INCR``, and ``EXPIRE`` on the
  window's first request, in one script call (one round trip) — no database
  write per request;
- otherwise: one ``INSERT … ON CONFLICT DO UPDATE … RETURNING count`` on
  ``tracking.ApiRateCounter`` (PostgreSQL and SQLite), which restarts the
  count when the window has moved on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from redis.exceptions import NoScriptError, RedisError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from tracking.models import ApiRateCounter

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """DRF's rate syntax ("600/min") → (requests, seconds)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period[:1]]


def redis_cache() -> bool:
    return "redis" in settings.CACHES["default"]["BACKEND"].lower()


_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    """A client of the cache's Redis (Django's cache API needs three round trips for an INCR)."""
    location = settings.CACHES["default"]["LOCATION"]
    url = location[0] if isinstance(location, (list, tuple)) else str(location).split(",")[0]
    client = _clients.get(url)
    if client is None:
        # Threads racing here must all get the first client: a client replaced while another
        # thread uses it is garbage-collected, and closes its pool's connections under that thread.
        client = _clients.setdefault(url, redis.Redis.from_url(url))
    return client


# One round trip: INCR, and EXPIRE on the window's first request. The window's number
# is in the key, so the expiry only has to outlive the window.
_INCR_EXPIRE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_script_sha = hashlib.sha1(_INCR_EXPIRE.encode()).hexdigest()  # Redis names scripts by their SHA-1


def rate_count(*, key: str, window: int, seconds: int) -> int:
    """Count one request for ``key`` in ``window``; returns the window's count including it."""
    if redis_cache():
        name = cache.make_key(f"gluey:rate:{key}:{window}")
        client = _redis()
        try:
            return int(client.evalsha(_script_sha, 1, name, seconds + 1))
        except NoScriptError:  # a restarted or flushed Redis: load it again
            return int(client.eval(_INCR_EXPIRE, 1, name, seconds + 1))
    q = connection.ops.quote_name
    table = q(ApiRateCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({q('key')}, period, hits) VALUES (%s, %s, 1) "
            f"ON CONFLICT ({q('key')}) DO UPDATE SET hits = CASE WHEN {table}.period = excluded.period "
            f"THEN {table}.hits + 1 ELSE 1 END, period = excluded.period RETURNING hits",
            [key, window],
        )
        return int(cursor.fetchone()[0])


SCOPE = "api_key"
# Where the lean track path (tracking/api/hot.py) leaves its count in request.META, so that a
# request it hands over to DRF is not counted twice.
COUNTED = "gluey.rate_limit"


def rate_check(*, prefix: str) -> tuple[bool, float]:
    """Count one request of the API key ``prefix``: (allowed, seconds until the window ends).

    Fails open if the counter is unavailable (logged), so a cache or database
    hiccup cannot take the API down.
    """
    limit, seconds = parse_rate(APIKeyRateThrottle.THROTTLE_RATES[SCOPE])
    now = time.time()
    window = int(now // seconds)
    wait = (window + 1) * seconds - now
    try:
        if connection.in_atomic_block and not redis_cache():
            # A failed counter query must not poison the surrounding transaction.
            with transaction.atomic():
                count = rate_count(key=f"{SCOPE}:{prefix}", window=window, seconds=seconds)
        else:
            count = rate_count(key=f"{SCOPE}:{prefix}", window=window, seconds=seconds)
    except (DatabaseError, RedisError, OSError):
        logger.warning("rate limit counter unavailable; request allowed", exc_info=True)
        return True, wait
    return count <= limit, wait


class APIKeyRateThrottle(BaseThrottle):
    """Per API key (by its public prefix); rate from DEFAULT_THROTTLE_RATES["api_key"] (``rate_check``)."""

    scope = SCOPE
    THROTTLE_RATES: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
    _wait = 0.0

    def allow_request(self, request: Request, view: APIView) -> bool:
        prefix = getattr(getattr(request.user, "api_key", None), "prefix", None)
        if prefix is None:
            return True
        counted = request.META.get(COUNTED)
        allowed, self._wait = counted if counted is not None else rate_check(prefix=prefix)
        return allowed

    def wait(self) -> float | None:
        return max(1.0, self._wait)
