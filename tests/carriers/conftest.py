"""Personas for the Event Service tests.

"acme-post" is a generic_json carrier that pushes signed webhooks; helpers
sign bodies with the public ``standardwebhooks`` library, as a carrier would.
``celery_worker`` runs a real worker in a thread against the configured broker
(Redis in CI, the filesystem broker locally).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from standardwebhooks.webhooks import Webhook

from gluey.celery import app as celery_app


def signed_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


def generic_body(*events: dict, tracking_id: str = "JD0002234001100086") -> bytes:
    if not events:
        events = (
            {
                "tracking_id": tracking_id,
                "code": "DLV",
                "sub_code": "NB",
                "description": "Delivered to neighbour",
                "occurred_at": "2026-11-28T14:03:00+01:00",
                "location": {"city": "Leeds", "postal_code": "LS1 4AP", "iso_country": "GB"},
            },
        )
    return json.dumps({"events": list(events)}).encode()


@pytest.fixture
def post_webhook(client) -> Callable[..., object]:
    def post(carrier, body: bytes, *, headers: dict[str, str] | None = None, sign: bool = True, **kwargs):
        all_headers = dict(headers or {})
        if sign:
            all_headers = {**signed_headers(carrier.webhook_secret, body), **all_headers}
        return client.post(
            f"/carriers/{carrier.pk}/webhook", data=body, content_type="application/json", headers=all_headers, **kwargs
        )

    return post


@pytest.fixture(scope="session", autouse=True)
def private_filesystem_broker(tmp_path_factory) -> Iterator[None]:
    """With the filesystem broker (local runs), use a folder of our own: the shared
    var/broker may hold other runs' messages, which an in-thread worker would pick up."""
    if not str(celery_app.conf.broker_url or "").startswith("filesystem://"):
        yield
        return
    folder = str(tmp_path_factory.mktemp("broker"))
    saved = dict(celery_app.conf.broker_transport_options or {})
    celery_app.conf.broker_transport_options = {
        **saved,
        "data_folder_in": folder,
        "data_folder_out": folder,
        "control_folder": folder,
    }
    _reset_broker_pools()
    yield
    celery_app.conf.broker_transport_options = saved
    _reset_broker_pools()


def _reset_broker_pools() -> None:
    """Drop pooled broker connections so the next publish uses the current transport options."""
    from kombu import pools

    pools.reset()  # kombu keeps pools in a global registry; start a fresh one
    celery_app._pool = None  # type: ignore[attr-defined]  # private, not in celery-types
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


@pytest.fixture
def celery_worker() -> Iterator[object]:
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        shutdown_timeout=10,
        queues=["ingest", "poll", "sftp", "default"],
    ) as worker:
        yield worker


def wait_until(predicate: Callable[[], bool], timeout: float = 40.0) -> bool:
    """Poll ``predicate``; SQLite's shared in-memory test database reports a table
    locked (instead of waiting) while the worker thread writes, so retry then."""
    from django.db import OperationalError

    def check() -> bool:
        try:
            return predicate()
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def minutes_ago(n: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)


@pytest.fixture
def taxonomy(transactional_db) -> None:
    """Transactional tests flush every table after themselves, the migration-loaded
    taxonomy included; put it back for the next one."""
    import csv
    from pathlib import Path

    from tracking.models import StatusCode

    if StatusCode.objects.exists():
        return
    path = Path(__file__).resolve().parents[2] / "tracking" / "taxonomy.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    StatusCode.objects.bulk_create(
        [
            StatusCode(milestone=r["milestone"], code=r["code"], sub_code=r["sub_code"], description=r["description"])
            for r in rows
        ]
    )
