"""The rate limit counts every request, however many arrive at once.

300 requests from 20 threads at once with a limit of 250: exactly 250 are
answered and 50 refused, once with the counter in the database (an atomic
upsert) and once in Redis (leases taken with INCRBY). A lost update would let
more through. With Redis, a process takes a few requests at a time while the
window has plenty left, never more than the limit, and gives back what a lease
holds past it.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.core.cache import cache
from django.db import connection
from django.urls import path
from rest_framework.response import Response

from tests.api.conftest import client_for
from tracking.api.auth import CustomerAPIView
from tracking.api.throttle import LEASE_MAX, SCOPE, APIKeyRateThrottle, rate_check
from tracking.models import ApiRateCounter

pytestmark = [pytest.mark.urls(__name__)]


class Probe(CustomerAPIView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("probe", Probe.as_view())]


def burst(key: str, requests: int, threads: int = 20) -> list[int]:
    def one(_: int) -> int:
        try:
            return client_for(key).get("/probe").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(requests)))


@pytest.fixture
def limit_250(monkeypatch):
    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "250/hour"})


REDIS_URL = "redis://127.0.0.1:6379/6"


@pytest.fixture
def redis_counter(settings):
    """The rate limit counted in Redis, under a prefix of this test's own; returns a function
    giving the Redis counter of an API key prefix in the current window."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}",  # counts of other runs stay apart; nothing flushed
        }
    }
    client = redis.Redis.from_url(REDIS_URL)

    def counted(prefix: str, seconds: int) -> int:
        window = int(time.time() // seconds)
        return int(client.get(cache.make_key(f"gluey:rate:{SCOPE}:{prefix}") + f":{window}") or 0)

    return counted


@pytest.mark.django_db(transaction=True)
def test_300_concurrent_requests_are_counted_300_in_the_database(acme, limit_250, postgres_only):
    codes = burst(acme.api_key, 300)
    assert codes.count(200) == 250 and codes.count(429) == 50
    assert ApiRateCounter.objects.get().hits == 300


@pytest.mark.django_db(transaction=True)
def test_300_concurrent_requests_are_counted_300_in_redis_without_a_database_write(acme, limit_250, redis_counter):
    codes = burst(acme.api_key, 300)
    assert codes.count(200) == 250 and codes.count(429) == 50
    assert redis_counter(acme.api_key.partition(".")[0], 3600) == 300  # leased past the limit: given back
    assert not ApiRateCounter.objects.exists()


def test_a_process_leases_requests_from_redis_while_the_window_has_plenty_left(monkeypatch, redis_counter):
    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "6400/hour"})
    prefix = f"lease{uuid.uuid4().hex[:8]}"
    assert all(rate_check(prefix=prefix)[0] for _ in range(LEASE_MAX))
    assert redis_counter(prefix, 3600) == LEASE_MAX  # one lease: one round trip for sixteen requests
    assert rate_check(prefix=prefix)[0]
    assert redis_counter(prefix, 3600) == 2 * LEASE_MAX


def test_a_give_back_to_an_expired_counter_leaves_no_key_behind(redis_counter):
    from tracking.api import throttle

    name = f"throttle-test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(REDIS_URL)
    assert throttle._redis_add(name, 3, seconds=60) == 3 and 0 < client.ttl(name) <= 60
    assert throttle._redis_add(name, -2, seconds=60) == 1
    client.delete(name)  # the window's counter expired between a lease and its give-back
    assert throttle._redis_add(name, -2, seconds=60) == 0
    assert not client.exists(name)


def test_leases_never_let_a_key_past_its_limit_when_other_processes_take_most_of_it(monkeypatch, redis_counter):
    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "1000/hour"})
    prefix = f"lease{uuid.uuid4().hex[:8]}"
    assert rate_check(prefix=prefix)[0]  # leases 1000 // 64 = 15: one used, 14 left here
    assert redis_counter(prefix, 3600) == 15
    name = cache.make_key(f"gluey:rate:{SCOPE}:{prefix}") + f":{int(time.time() // 3600)}"
    redis.Redis.from_url(REDIS_URL).incrby(name, 980)  # other processes' requests meanwhile
    admitted = 1 + sum(rate_check(prefix=prefix)[0] for _ in range(40))
    # Ours: the 15 leased before, then what the next lease found left (1000 - 995 = 5).
    assert admitted == 20 and admitted + 980 == 1000
    # The lease's part past the limit went back; each refused request was counted alone.
    assert redis_counter(prefix, 3600) == 1000 + 40 - 19


@pytest.mark.django_db
def test_the_database_counter_starts_again_in_the_next_window(acme, limit_250, monkeypatch):
    from tracking.api import throttle

    clock = [1_000_000.0]
    monkeypatch.setattr(throttle.time, "time", lambda: clock[0])
    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    api = client_for(acme.api_key)
    assert [api.get("/probe").status_code for _ in range(3)] == [200, 200, 429]
    clock[0] += 60
    assert api.get("/probe").status_code == 200
    assert ApiRateCounter.objects.get().hits == 1


@pytest.mark.django_db
def test_a_revoked_key_is_refused_at_once_although_keys_are_cached(acme):
    from tracking.models import CustomerAPIKey

    api = client_for(acme.api_key)
    assert api.get("/probe").status_code == 200
    assert api.get("/probe").status_code == 200  # served from the key cache
    key = CustomerAPIKey.objects.get(customer=acme)
    key.revoked = True
    key.save()
    assert api.get("/probe").status_code == 401
