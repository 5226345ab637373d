"""The rate limit counts every request, however many arrive at once.

300 requests from 20 threads at once with a limit of 250: exactly 250 are
answered and 50 refused, once with the counter in the database (an atomic
upsert) and once in Redis (INCR). A lost update would let more through.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.urls import path
from rest_framework.response import Response

from tests.api.conftest import client_for
from tracking.api.auth import CustomerAPIView
from tracking.api.throttle import APIKeyRateThrottle
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


@pytest.mark.django_db(transaction=True)
def test_300_concurrent_requests_are_counted_300_in_the_database(acme, limit_250, postgres_only):
    codes = burst(acme.api_key, 300)
    assert codes.count(200) == 250 and codes.count(429) == 50
    assert ApiRateCounter.objects.get().hits == 300


@pytest.mark.django_db(transaction=True)
def test_300_concurrent_requests_are_counted_300_in_redis_without_a_database_write(acme, limit_250, settings):
    redis_url = "redis://127.0.0.1:6379/6"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"throttle-test-{uuid.uuid4().hex}",  # counts of other runs stay apart; nothing flushed
        }
    }
    codes = burst(acme.api_key, 300)
    assert codes.count(200) == 250 and codes.count(429) == 50
    assert not ApiRateCounter.objects.exists()


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
