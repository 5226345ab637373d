"""Fault-injection personas.

acme follows tracking numbers of "acme-post" (a generic_json carrier that
pushes webhooks and drops files) and subscribes a real local receiver.
``workers`` starts real Celery worker subprocesses and stops whatever is left
at the end of the test; ``real_stack`` skips, with the reason, where the
test database or the broker cannot be shared with another process.
"""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.faults.support import Worker, worker_env
from tests.notifications.receiver import Receiver

TAXONOMY = Path(__file__).resolve().parents[2] / "tracking" / "taxonomy.csv"


def load_taxonomy() -> None:
    """Transactional tests flush every table afterwards, the migration-loaded taxonomy included."""
    from tracking.models import StatusCode

    if StatusCode.objects.exists():
        return
    with TAXONOMY.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    StatusCode.objects.bulk_create(
        [
            StatusCode(milestone=r["milestone"], code=r["code"], sub_code=r["sub_code"], description=r["description"])
            for r in rows
        ]
    )


@pytest.fixture
def taxonomy(transactional_db) -> None:
    load_taxonomy()


def postgres_reason() -> str | None:
    if connection.vendor != "postgresql":
        return (
            "needs PostgreSQL: a worker subprocess cannot open SQLite's in-memory test database "
            "(set DATABASE_URL=postgres://…, as CI does)"
        )
    return None


def redis_reason() -> str | None:
    if not django_settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return (
            "needs a Redis broker (CELERY_BROKER_URL=redis://…, as CI sets): the worker subprocesses and "
            "this test must share a broker that keeps unacknowledged messages apart"
        )
    return None


@pytest.fixture
def real_stack(taxonomy) -> None:
    """PostgreSQL for the test database and Redis for the broker, or skip saying which is missing."""
    for reason in (postgres_reason(), redis_reason()):
        if reason:
            pytest.skip(reason)


@pytest.fixture
def postgres_stack(taxonomy) -> None:
    """Concurrent writers in threads: PostgreSQL, or skip."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: threads on SQLite's shared in-memory test database lock tables "
            "instead of waiting for each other (set DATABASE_URL=postgres://…, as CI does)"
        )


@pytest.fixture
def workers() -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(queues: list[str], *, broker_url: str | None = None, **kwargs: object) -> Worker:
        worker = Worker(queues, worker_env(broker_url=broker_url), **kwargs).start()  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def loopback_allowed(settings) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.fixture(autouse=True)
def fast_webhooks(settings) -> None:
    settings.WEBHOOK_CONNECT_TIMEOUT = 2.0
    settings.WEBHOOK_TOTAL_TIMEOUT = 5.0
