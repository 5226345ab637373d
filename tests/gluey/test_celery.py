"""One task round trip through the real broker (Redis in CI, the filesystem broker locally)."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache

from gluey.celery import app
from gluey.tasks import HEARTBEAT_KEY, heartbeat


@pytest.mark.slow  # a real broker round trip
@pytest.mark.django_db(transaction=True)
def test_heartbeat_round_trip_through_the_broker():
    cache.delete(HEARTBEAT_KEY)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["default"]):
        result = heartbeat.apply_async(queue="default", ignore_result=False)
        # The worker writes the heartbeat; the result backend is off, so poll the cache.
        import time

        deadline = time.monotonic() + 20
        while cache.get(HEARTBEAT_KEY) is None and time.monotonic() < deadline:
            time.sleep(0.1)
    assert result.id
    assert cache.get(HEARTBEAT_KEY) is not None
