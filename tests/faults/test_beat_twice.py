"""Beat fires the same job twice (two beats by mistake, or a message delivered twice).

Every periodic job is sent twice at once through the real broker to a real
worker with four pool processes, so the two copies run side by side: sFTP
fetch, the poll dispatcher, the inbound sweeper, the delivery sweeper and an
sFTP export. Afterwards: each file ingested once, each due number polled
once, each message's events recorded once, each delivery sent once, and the
export has no duplicate and no gap.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone as djtz

from carriers.models import InboundMessage, InboundStatus, SftpFile
from carriers.services import inbound_message_store
from carriers.simulator.api import DhlLikeServer
from carriers.tasks import inbound_sweep, poll_dispatch, sftp_fetch
from gluey.sftp_server import SftpServer
from notifications.models import Delivery, DeliveryStatus, Export, SftpDestination
from notifications.services import endpoint_subscribe
from notifications.services import export_run as export_now
from notifications.tasks import delivery_sweep, export_run
from tests.factories import event, make_carrier, make_customer
from tests.faults.support import feed_settled, purge_queues, wait_until
from tracking.models import TrackedItem, TrackingEvent
from tracking.services import events_record, shipment_register

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

QUEUES = ["default", "ingest", "notify", "poll", "sftp"]
T0 = datetime(2026, 11, 6, 7, 0, tzinfo=UTC)


def file_body(n: int) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "tracking_id": f"FILE{n}",
                    "code": "HUB",
                    "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
                    "location": {"city": "Hull", "iso_country": "GB"},
                }
            ]
        }
    ).encode()


@contextlib.contextmanager
def dhl_api(lookup: Callable[[str], dict]) -> Iterator[DhlLikeServer]:
    """The simulator's DHL-shaped tracking API, answering from ``lookup``."""
    server = DhlLikeServer("127.0.0.1", 0, "dhl-key", lookup).start()
    try:
        yield server
    finally:
        server.stop()


def test_every_periodic_job_fired_twice_at_once_does_its_work_once(
    real_stack, workers, receiver, loopback_allowed, tmp_path
):
    purge_queues(*QUEUES)
    acme, _ = make_customer("acme")
    polled: Counter[str] = Counter()

    def lookup(number: str) -> dict:
        polled[number] += 1
        return {
            "id": number,
            "events": [
                {
                    "timestamp": "2026-11-06T09:00:00+01:00",
                    "statusCode": "transit",
                    "description": "Processed",
                    "location": {"address": {"addressLocality": "Bonn", "countryCode": "DE"}},
                }
            ],
        }

    with SftpServer(tmp_path / "sftp", password="pw") as server, dhl_api(lookup) as dhl:
        (server.root / "inbox").mkdir()
        # sFTP carrier with four files waiting.
        filer = make_carrier(
            "filer",
            host="127.0.0.1",
            port=server.port,
            username="gluey",
            password="pw",
            host_key=server.host_key_line,
            remote_dir="/inbox",
            pattern="*.json",
            stable_seconds=0,
        )
        for n in range(4):
            (server.root / "inbox" / f"f{n}.json").write_bytes(file_body(n))
        # A polling carrier with ten numbers due.
        dhl_carrier = make_carrier(
            "dhl",
            adapter="dhl",
            base_url=dhl.base_url,
            api_key="dhl-key",
            quota_per_second=10.0,
            quota_burst=10,
            quota_per_day=10_000,
            quota_per_item_day=100,
        )
        numbers = [f"00340434{n:010d}" for n in range(10)]
        for number in numbers:
            shipment_register(customer=acme, carrier_id=dhl_carrier.pk, carrier_tracking_id=number)
        TrackedItem.objects.filter(carrier=dhl_carrier).update(next_check_at=djtz.now() - timedelta(minutes=1))
        # Pushed messages a lost broker message left pending 10 minutes ago.
        push = make_carrier()
        stranded = [
            inbound_message_store(carrier=push, channel="webhook", body=file_body(100 + n), process=False).message.pk
            for n in range(5)
        ]
        InboundMessage.objects.filter(pk__in=stranded).update(received_at=djtz.now() - timedelta(minutes=10))
        # Deliveries whose wake-up was lost a minute ago.
        shipment_register(customer=acme, carrier_id=push.pk, carrier_tracking_id="JD0002234001100086")
        endpoint_subscribe(customer=acme, url=receiver.url())
        purge_queues(*QUEUES)  # the wake-ups queued so far: lost
        for minute in range(6):
            events_record(carrier=push, events=[event(code="HUB", minutes=minute)], channel="webhook")
        purge_queues(*QUEUES)
        Delivery.objects.update(next_attempt_at=djtz.now() - timedelta(minutes=1))
        # An sFTP export with something to send.
        destination = SftpDestination.objects.create(
            customer=acme,
            name="acme-sftp",
            host="127.0.0.1",
            port=server.port,
            username="gluey",
            password="pw",
            host_keys=server.host_key_line,
            remote_dir="/exports",
            format="x12_214",
            isa_receiver_id="ACME",
            interval_minutes=5,
        )

        worker = workers(QUEUES, pool="prefork", concurrency=4)
        for _ in range(2):  # beat, twice
            sftp_fetch.delay(filer.pk)
            poll_dispatch.delay()
            inbound_sweep.delay()
            delivery_sweep.delay()
            export_run.delay(destination.pk)

        def done() -> bool:
            return (
                not (server.root / "inbox" / "f0.json").exists()
                and not list((server.root / "inbox").glob("*.json"))
                and not InboundMessage.objects.filter(status=InboundStatus.PENDING).exists()
                and not Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()
                and Export.objects.filter(status="uploaded").exists()
                and TrackedItem.objects.filter(carrier=dhl_carrier, last_checked_at__isnull=True).count() == 0
            )

        wait_until(done, 90, lambda: f"every job's work done:\n{worker.output()}", interval=0.2)
        # Events recorded after an export was built go out with the next scheduled run.
        wait_until(
            lambda: not SftpDestination.objects.filter(pk=destination.pk, lease_until__gt=djtz.now()).exists(),
            30,
            "the export runs to finish",
        )
        feed_settled()
        export_now(destination_id=destination.pk)

    # sFTP fetch: each file once.
    assert SftpFile.objects.count() == 4
    assert InboundMessage.objects.filter(channel="sftp").exclude(status=InboundStatus.DUPLICATE).count() == 4
    assert TrackingEvent.objects.filter(carrier_id=filer.pk).count() == 4
    # Polling: each due number asked once, its event recorded once.
    assert sorted(polled) == sorted(numbers) and set(polled.values()) == {1}, polled
    assert TrackingEvent.objects.filter(carrier_id=dhl_carrier.pk).count() == len(numbers)
    # Inbound sweeper: each stranded message's events once.
    for pk in stranded:
        assert TrackingEvent.objects.filter(inbound_message_id=pk).count() == 1
    # Delivery sweeper: each delivery sent once.
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert sorted(ids) == sorted(Delivery.objects.values_list("msg_id", flat=True))
    # Export: control numbers without a gap, each event once.
    exports = list(Export.objects.order_by("control_number"))
    assert [e.control_number for e in exports] == list(range(1, len(exports) + 1))
    from edi.x12.reader import iter_events

    exported = [
        (e.tracking_id, e.carrier_code, e.occurred_at)
        for x in exports
        for e in iter_events(io.BytesIO(bytes(x.content)))
    ]
    assert (
        len(exported)
        == len(set(exported))
        == TrackingEvent.objects.filter(tracked_item__shipments__customer=acme).count()
    )
