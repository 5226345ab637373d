"""The per-key API rate limit: a counter per fixed window that cannot lose updates.

DRF's SimpleRateThrottle reads a list of timestamps from the cache, appends
and writes it back: two concurrent requests read the same list and one of the
appends is lost (300 concurrent requests were counted as 269). Here requests
are added with atomic operations, and a key is never let past its rate:

- with a Redis cache (``CACHE_URL=redis://…``): each process takes a key's
  requests from the window's counter a few at a time (a lease: ``INCRBY``, and
  ``EXPIRE`` on the window's first, in one script call) and lets them through
  without asking Redis again. A lease is at most 1/64 of what the window has
  left and at most 16, so near the limit every request is counted on its own;
  the part of a lease past the limit is given back at once. A read then costs
  Redis a round trip once per lease instead of once per request: on the track
  read, that round trip was an eighth of the request's CPU. The price: requests
  leased by a process that gets no more of that key's requests in the window
  are counted unused, so a key whose requests are spread over many processes
  may be refused up to (processes × 15) requests short of its rate. No
  database write per request;
- otherwise: one ``INSERT … ON CONFLICT DO UPDATE … RETURNING count`` on
  ``tracking.ApiRateCounter`` (PostgreSQL and SQLite) per request, which
  restarts the count when the window has moved on.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
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


# One round trip: INCRBY, and EXPIRE on the window's first request. The window's number
# is in the key, so the expiry only has to outlive the window. A give-back (a negative
# amount) to a counter that has expired meanwhile is dropped: it would leave a key
# without an expiry.
_INCR_EXPIRE = """
local amount = tonumber(ARGV[2])
if amount < 0 and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local count = redis.call('INCRBY', KEYS[1], amount)
if count == amount then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_script_sha = hashlib.sha1(_INCR_EXPIRE.encode()).hexdigest()  # Redis names scripts by their SHA-1

# A lease is at most this many requests, and at most this share of what the window has left.
LEASE_MAX = 16
LEASE_SHARE = 64


@dataclass
class _Lease:
    """A process's part of one key's window: requests it may still let through, and the window's
    count as Redis last answered it."""

    window: int
    left: int = 0
    counted: int = 0


_leases: dict[str, _Lease] = {}
_leases_lock = threading.Lock()


def _redis_add(name: str, amount: int, *, seconds: int) -> int:
    """Add ``amount`` to the counter ``name`` (expiring after ``seconds``); the count after it."""
    client = _redis()
    try:
        return int(client.evalsha(_script_sha, 1, name, seconds, amount))
    except NoScriptError:  # a restarted or flushed Redis: load it again
        return int(client.eval(_INCR_EXPIRE, 1, name, seconds, amount))


def _redis_admit(*, key: str, window: int, seconds: int, limit: int) -> bool:
    """Whether one more request of ``key`` fits in ``window``: from this process's lease, else
    from a new one taken from the window's counter in Redis (see the module docstring)."""
    counter = cache.make_key(f"gluey:rate:{key}")  # the cache's prefix too: one lease per counter
    name = f"{counter}:{window}"
    with _leases_lock:
        lease = _leases.get(counter)
        if lease is None or lease.window != window:
            if len(_leases) >= 10_000:  # one per key in use; a key whose lease went takes a new one
                _leases.clear()
            lease = _leases[counter] = _Lease(window)
        if lease.left:
            lease.left -= 1
            return True
        size = max(1, min(LEASE_MAX, (limit - lease.counted) // LEASE_SHARE))
    count = _redis_add(name, size, seconds=seconds + 1)
    granted = max(0, min(size, limit - (count - size)))
    # What the lease holds past the limit goes back, so the counter keeps every request
    # (a refused one too) and nothing more.
    back = size - max(granted, 1)
    if back:
        count = _redis_add(name, -back, seconds=seconds + 1)
    with _leases_lock:
        lease.counted = max(lease.counted, count)
        lease.left += max(granted - 1, 0)
    return granted > 0


def _database_count(*, key: str, window: int) -> int:
    """Count one request for ``key`` in ``window``; returns the window's count including it."""
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
    key = f"{SCOPE}:{prefix}"
    try:
        if redis_cache():
            return _redis_admit(key=key, window=window, seconds=seconds, limit=limit), wait
        if connection.in_atomic_block:
            # A failed counter query must not poison the surrounding transaction.
            with transaction.atomic():
                count = _database_count(key=key, window=window)
        else:
            count = _database_count(key=key, window=window)
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
