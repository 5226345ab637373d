"""PostgreSQL goes away during ingest and comes back.

Carriers keep posting while a real worker records. During the outage the
webhook answers 500 (nothing is acknowledged that is not stored) and the
carrier tries again; the worker's tasks fail and retry. Afterwards every
body that was acknowledged (202, or 200 for a repeat) has its events recorded
exactly once.

By default the outage is scoped to the test database — every session is
terminated and new connections are refused for two seconds, which is what a
client sees of a restart — because this machine's PostgreSQL is shared.
``GLUEY_FAULTS_RESTART_POSTGRES=1`` restarts the cluster itself
(``pg_ctlcluster … restart``, in two steps); PostgreSQL is running again when
the test ends either way.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import close_old_connections, connection
from django.test import Client

from carriers.models import InboundMessage, InboundStatus
from tests.carriers.conftest import signed_headers
from tests.factories import make_carrier
from tests.faults.support import (
    DeadlineExceeded,
    database_outage,
    purge_queues,
    wait_until,
)
from tracking.models import TrackingEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.postgres]

T0 = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
PER_BODY = 20


def body(n: int) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "tracking_id": f"PGR{n:03d}{i % 4}",
                    "code": ("HUB", "DEP", "ARR", "OFD")[i % 4],
                    "occurred_at": (T0 + timedelta(minutes=n, seconds=i)).isoformat(),
                    "location": {"city": "York", "iso_country": "GB"},
                }
                for i in range(PER_BODY)
            ]
        }
    ).encode()


def post_until_acknowledged(client: Client, carrier, data: bytes, deadline: float) -> tuple[int, int]:
    """Post like a carrier: again and again until the body is acknowledged. Returns (status, failures)."""
    failures = 0
    while True:
        close_old_connections()
        try:
            response = client.post(
                f"/carriers/{carrier.pk}/webhook",
                data=data,
                content_type="application/json",
                headers=signed_headers(carrier.webhook_secret, data),
            )
            status = response.status_code
        except Exception:  # noqa: BLE001 - the test client re-raises what a real server answers with a 500
            status = 500
        if status in (200, 202):
            return status, failures
        assert status >= 500, f"a body was refused for good ({status}) instead of failing for now"
        failures += 1
        if time.monotonic() > deadline:
            raise DeadlineExceeded("the webhook never acknowledged after the outage")
        time.sleep(0.1)


def test_postgres_restart_during_ingest_loses_and_doubles_nothing(real_stack, workers):
    purge_queues("ingest")
    carrier = make_carrier()
    worker = workers(["ingest"], pool="prefork", concurrency=2)
    client = Client(raise_request_exception=False)
    bodies = [body(n) for n in range(30)]
    deadline = time.monotonic() + 90
    refused_during_outage = 0
    outage_kind = ""
    ended = threading.Event()

    def processed() -> bool:
        close_old_connections()
        return not InboundMessage.objects.filter(status=InboundStatus.PENDING).exists()

    for n, data in enumerate(bodies):
        if n == 10:
            # The worker has recorded the first ten and sits idle on open connections
            # when the database goes away (and comes back two seconds later).
            wait_until(processed, 30, lambda: f"the first bodies recorded:\n{worker.output()}")
            outage = database_outage()
            outage_kind = outage.__enter__()

            def end_outage(outage=outage) -> None:
                time.sleep(2.0)
                outage.__exit__(None, None, None)
                ended.set()

            threading.Thread(target=end_outage, daemon=True).start()
        _, failures = post_until_acknowledged(client, carrier, data, deadline)
        refused_during_outage += failures
    assert ended.wait(30)
    connection.close()
    # The outage was real for the carriers: some posts failed and were retried.
    assert refused_during_outage > 0, f"no post failed during the outage ({outage_kind})"

    # No sweeper here: a two-second outage is well inside the tasks' own retries.
    wait_until(processed, 60, lambda: f"the worker to process every stored message:\n{worker.output()}")
    originals = InboundMessage.objects.exclude(status=InboundStatus.DUPLICATE)
    assert originals.count() == len(bodies)
    assert set(originals.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    # Every acknowledged event is recorded, and only once.
    assert TrackingEvent.objects.count() == len(bodies) * PER_BODY
    for message in originals:
        assert TrackingEvent.objects.filter(inbound_message_id=message.pk).count() == PER_BODY
