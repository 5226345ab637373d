"""Duplicate and out-of-order carrier events across channels.

The same carrier events arrive by webhook and by sFTP file, out of order,
repeated, and (on PostgreSQL) by both channels at the same instant. Each is
stored once, delivered to the customer's endpoint once, and a late old event
never rolls the shipment's state back.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connections
from rest_framework.test import APIClient

from carriers.models import InboundMessage, InboundStatus
from carriers.services import inbound_message_process, inbound_message_store
from carriers.services.sftp import sftp_fetch
from gluey.sftp_server import SftpServer
from notifications.models import Delivery
from notifications.services import endpoint_deliver, endpoint_subscribe
from tests.carriers.adapter_cases import fixtures_dir
from tests.carriers.conftest import signed_headers
from tests.factories import make_carrier, make_customer
from tracking.models import TrackedItem, TrackingEvent
from tracking.services import shipment_register

pytestmark = pytest.mark.slow  # fault injection

T0 = datetime(2026, 11, 5, 8, 0, tzinfo=timezone(timedelta(hours=1)))
TRACKING = "JD0002234001100086"
# (code, minutes after T0, city): one journey, E0 … E6.
JOURNEY = [
    ("CRE", -600, "Bristol"),
    ("PCK", 0, "Bristol"),
    ("HUB", 90, "Coventry"),
    ("DEP", 150, "Coventry"),
    ("ARR", 300, "Leeds"),
    ("OFD", 420, "Leeds"),
    ("DLV", 480, "Leeds"),
]


def journey_events(*indexes: int, tracking_id: str = TRACKING) -> list[dict]:
    out = []
    for i in indexes:
        code, minutes, city = JOURNEY[i]
        out.append(
            {
                "tracking_id": tracking_id,
                "code": code,
                "description": f"{code} at {city}",
                "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
                "location": {"city": city, "iso_country": "GB"},
            }
        )
    return out


def body(*indexes: int, tracking_id: str = TRACKING) -> bytes:
    return json.dumps({"events": journey_events(*indexes, tracking_id=tracking_id)}).encode()


def process_pending() -> None:
    for pk in InboundMessage.objects.filter(status=InboundStatus.PENDING).values_list("pk", flat=True):
        inbound_message_process(message_id=pk)


def delivered_events(receiver) -> list[tuple[str, str, str]]:
    return [
        (i["carrier_tracking_id"], i["event"]["codes"]["carrier"]["code"], i["event"]["event_time"]["carrier_utc"])
        for r in receiver.requests
        for i in json.loads(r.body)
    ]


@pytest.mark.django_db
def test_events_repeated_and_reordered_across_webhook_and_sftp_are_stored_and_delivered_once(
    client, tmp_path, receiver, loopback_allowed
):
    with SftpServer(tmp_path / "root", password="pw") as server:
        (server.root / "inbox").mkdir()
        carrier = make_carrier(
            host="127.0.0.1",
            port=server.port,
            username="gluey",
            password="pw",
            host_key=server.host_key_line,
            remote_dir="/inbox",
            pattern="*.json",
            stable_seconds=0,
        )
        acme, key = make_customer("acme")
        shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id=TRACKING)
        endpoint, _ = endpoint_subscribe(customer=acme, url=receiver.url())

        def push(data: bytes) -> int:
            response = client.post(
                f"/carriers/{carrier.pk}/webhook",
                data=data,
                content_type="application/json",
                headers=signed_headers(carrier.webhook_secret, data),
            )
            process_pending()
            endpoint_deliver(endpoint_id=endpoint.pk)
            return response.status_code

        def drop(name: str, data: bytes) -> None:
            (server.root / "inbox" / name).write_bytes(data)
            assert sftp_fetch(carrier_id=carrier.pk, stable_seconds=0).error == ""
            endpoint_deliver(endpoint_id=endpoint.pk)

        assert push(body(3, 1)) == 202  # webhook: DEP before PCK
        drop("day.json", body(1, 2, 3, 4, 5))  # file: PCK … OFD, two of them seen already
        assert push(body(5, 2, 6)) == 202  # webhook again: OFD, HUB (both seen), DLV
        assert push(body(3, 1)) == 200  # the first body again, byte for byte: a duplicate message
        drop("day-copy.json", body(1, 2, 3, 4, 5))  # the same file under another name
        assert push(body(0)) == 202  # a late event older than everything

    assert TrackingEvent.objects.count() == len(JOURNEY)
    channels = dict(TrackingEvent.objects.values_list("carrier_code", "channel"))
    assert channels["DEP"] == "webhook" and channels["ARR"] == "sftp"  # first arrival wins
    assert InboundMessage.objects.filter(status=InboundStatus.DUPLICATE).count() == 2
    # The late CRE did not roll the state back from delivered.
    item = TrackedItem.objects.get(tracking_id=TRACKING)
    assert item.current_event.carrier_code == "DLV"
    # Each event reached the endpoint once, every delivery delivered.
    sent = delivered_events(receiver)
    assert len(sent) == len(set(sent)) == len(JOURNEY)
    assert {code for _, code, _ in sent} == {code for code, _, _ in JOURNEY}
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
    # The feed lists each once as well.
    page = APIClient(headers={"x-key": key, "x-version": "v1"}).get("/events?limit=1000").json()
    assert sorted(e["event"]["codes"]["carrier"]["code"] for e in page["events"]) == sorted(c for c, _, _ in JOURNEY)


@pytest.mark.django_db(transaction=True)
def test_the_same_events_by_two_channels_at_the_same_instant_are_stored_once(
    postgres_stack, receiver, loopback_allowed
):
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    endpoint, _ = endpoint_subscribe(customer=acme, url=receiver.url())
    rounds, per_round = 8, 4
    for r in range(rounds):
        tracking_id = f"RACE{r:03d}"
        shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id=tracking_id)
        # The carrier pushes a journey and drops it in a file too; both are processed at once.
        webhook = inbound_message_store(
            carrier=carrier, channel="webhook", body=body(*range(per_round), tracking_id=tracking_id), process=False
        ).message
        by_file = inbound_message_store(
            carrier=carrier,
            channel="sftp",
            filename=f"{tracking_id}.json",
            body=body(*reversed(range(1, per_round + 1)), tracking_id=tracking_id),
            process=False,
        ).message
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(message_id: int, barrier: threading.Barrier = barrier, errors: list = errors) -> None:
            try:
                barrier.wait(10)
                inbound_message_process(message_id=message_id)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run, args=(m.pk,)) for m in (webhook, by_file)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
    endpoint_deliver(endpoint_id=endpoint.pk)

    assert set(InboundMessage.objects.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    # per_round + 1 distinct events per journey (0…3 by webhook, 1…4 by file), each stored once.
    assert TrackingEvent.objects.count() == rounds * (per_round + 1)
    sent = delivered_events(receiver)
    assert len(sent) == len(set(sent)) == rounds * (per_round + 1)


UPS_ALERT = "track_alert_out_for_delivery.json"
UPS_POLL = "delivered.json"


@pytest.mark.django_db
def test_ups_event_seen_by_track_alert_and_by_polling_is_stored_once():

    from tracking.services import events_record

    fixtures = fixtures_dir("ups")
    carrier = make_carrier("ups", adapter="ups", base_url="https://ups.test", client_id="c", client_secret="s")
    from carriers.adapters.registry import adapter_for

    adapter = adapter_for(carrier)
    alert = adapter.parse((fixtures / UPS_ALERT).read_bytes())
    polled = adapter.parse((fixtures / UPS_POLL).read_bytes())
    # The fixtures describe the same out-for-delivery scan (1Z023E2X0214323462, 27 Nov 08:23 -05:00).
    (pushed,) = alert
    same = [e for e in polled if e.occurred_at == pushed.occurred_at and e.tracking_id == pushed.tracking_id]
    assert len(same) == 1
    events_record(carrier=carrier, events=alert, channel="webhook")
    events_record(carrier=carrier, events=polled, channel="poll")
    assert TrackingEvent.objects.filter(occurred_at=pushed.occurred_at).count() == 1
