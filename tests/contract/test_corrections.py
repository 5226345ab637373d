"""Corrections reach customers: the whole loop, on real commits.

An unmapped event is delivered (webhook, feed, export); ops map its code in
the admin; the queued re-harmonisation corrects the stored event, which is
delivered again by webhook with the same event identity and its new codes,
marked ``correction: true``, reappears in the /events feed after the
consumer's cursor, and goes into the next export file.
"""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from notifications.services import endpoint_deliver
from tests.api.conftest import client_for
from tests.factories import event
from tests.notifications.conftest import loopback_allowed, receiver, record, shipment, subscribed, taxonomy
from tests.notifications.test_exports import feed_settled, make_destination, read_back, run_export, server, uploaded
from tracking.models import Reharmonisation, StatusCode, UnmappedCode

# Real commits (the feed reads committed transactions only) and a real sFTP server.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("taxonomy", "loopback_allowed"),
]

# Fixtures shared with the notifications tests.
__all__ = ["loopback_allowed", "receiver", "server", "shipment", "subscribed", "taxonomy"]


def delivered(endpoint, receiver, start: int) -> list[dict]:
    items = []
    for received in receiver.requests[start:]:
        Webhook(endpoint.clear_secret).verify(received.body, received.headers)
        items.extend(json.loads(received.body))
    return items


def identity(item: dict) -> tuple:
    e = item["event"]
    return (
        item["shipment_id"],
        e["event_time"]["created_utc"],
        e["event_time"]["carrier_utc"],
        e["codes"]["carrier"]["code"],
    )


def test_unmapped_event_then_ops_map_it_then_the_correction_reaches_every_channel(
    acme, carrier, shipment, subscribed, receiver, server, tmp_path, admin_client, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from gluey.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    try:
        destination = make_destination(acme, server, tmp_path, format="csv")
        api = client_for(acme.api_key)
        record(carrier, event(code="HUB", minutes=1), event(code="ZZZ", minutes=2, description="Parcel crushed"))

        # 1. Delivered as unmapped everywhere.
        endpoint_deliver(endpoint_id=subscribed.pk)
        first = {i["event"]["codes"]["carrier"]["code"]: i for i in delivered(subscribed, receiver, 0)}
        assert first["ZZZ"]["event"]["codes"]["gluey"]["code"] == "other" and "correction" not in first["ZZZ"]
        feed_settled()
        page = api.get("/events").json()
        assert [e["event"]["codes"]["carrier"]["code"] for e in page["events"]] == ["HUB", "ZZZ"]
        run_export(destination)
        assert len(uploaded(server, destination)) == 1

        # 2. Ops map the code from the unmapped-codes list.
        count = len(receiver.requests)
        status = StatusCode.objects.get(milestone="exception", code="damage_loss", sub_code="parcel_damaged")
        unmapped = UnmappedCode.objects.get(carrier_code="ZZZ")
        answer = admin_client.post(
            "/admin/tracking/unmappedcode/",
            {"action": "map_codes", "_selected_action": [unmapped.pk], "apply": "1", "status": status.pk},
        )
        assert answer.status_code == 302
        job = Reharmonisation.objects.get()
        assert (job.status, job.events_changed) == (Reharmonisation.Status.DONE, 1)

        # 3. The webhook (sent as soon as the job committed): the same event again, with
        # its new codes, marked as a correction.
        endpoint_deliver(endpoint_id=subscribed.pk)
        (again,) = delivered(subscribed, receiver, count)
        assert identity(again) == identity(first["ZZZ"])
        gluey = again["event"]["codes"]["gluey"]
        assert (gluey["milestone"], gluey["code"], gluey["sub_code"]) == ("exception", "damage_loss", "parcel_damaged")
        assert again["correction"] is True

        # 4. The feed: after the consumer's cursor, once.
        feed_settled()
        later = api.get("/events", {"after": page["next_cursor"]}).json()
        assert [(identity(e), e["correction"]) for e in later["events"]] == [(identity(first["ZZZ"]), True)]
        assert later["events"][0]["event"]["codes"]["gluey"]["code"] == "damage_loss"
        assert api.get("/events", {"after": later["next_cursor"]}).json()["events"] == []

        # 5. The next export file carries it.
        run_export(destination)
        files = uploaded(server, destination)
        assert len(files) == 2
        newest = files[max(files)]
        assert [(e.tracking_id, e.carrier_code) for e in read_back("csv", newest)] == [
            (shipment.carrier_tracking_id, "ZZZ")
        ]

        # 6. And the track API shows the corrected codes.
        tracked = api.get(f"/shipments/{shipment.pk}/track").json()
        assert tracked["tracking_data"]["events"][-1]["codes"]["gluey"]["code"] == "damage_loss"
    finally:
        celery_app.conf.task_always_eager = False
