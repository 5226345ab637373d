"""Read-only records with their actions as buttons (issue 14): inbound messages, deliveries,
exports and events have no Save or Delete; the shipment page is a timeline with links both ways;
the mapping form lists the taxonomy with descriptions, searchable, with the carrier's text and
an example event."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from carriers.models import InboundMessage, InboundStatus
from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from tracking.models import CodeMapping, TrackingEvent, UnmappedCode

pytestmark = pytest.mark.django_db


def test_record_pages_have_no_save_or_delete(ops, busy_day):
    delivery = Delivery.objects.filter(endpoint=busy_day.endpoint).first()
    event = TrackingEvent.objects.first()
    for page in (
        f"/admin/carriers/inboundmessage/{busy_day.failed_message.pk}/change/",
        f"/admin/notifications/delivery/{delivery.pk}/change/",
        f"/admin/tracking/trackingevent/{event.pk}/change/",
    ):
        html = ops.get(page).content.decode()
        assert 'name="_save"' not in html and 'name="_continue"' not in html, page
        assert "deletelink" not in html, page
    assert ops.post(f"/admin/carriers/inboundmessage/{busy_day.failed_message.pk}/delete/").status_code == 403


def test_reprocessing_an_already_processed_message_says_why_and_offers_to_force(
    ops, busy_day, django_capture_on_commit_callbacks
):
    message = busy_day.failed_message
    InboundMessage.objects.filter(pk=message.pk).update(status=InboundStatus.PROCESSED)
    page = ops.get(f"/admin/carriers/inboundmessage/{message.pk}/change/").content.decode()
    assert "Process again anyway" in page
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = ops.post(f"/admin/carriers/inboundmessage/{message.pk}/reprocess/", follow=True)
    assert "already processed" in response.content.decode() and not queued
    with django_capture_on_commit_callbacks(execute=False) as queued:
        ops.post(f"/admin/carriers/inboundmessage/{message.pk}/reprocess/", {"force": "yes"})
    assert len(queued) == 1
    assert InboundMessage.objects.get(pk=message.pk).status == InboundStatus.PENDING


def test_a_delivery_page_has_replay_and_links_to_endpoint_events_and_shipment(ops, busy_day):
    dead = Delivery.objects.get(endpoint=busy_day.endpoint, status=DeliveryStatus.DEAD)
    html = ops.get(f"/admin/notifications/delivery/{dead.pk}/change/").content.decode()
    assert 'id="replay-button"' in html
    assert f"/admin/notifications/webhookendpoint/{busy_day.endpoint.pk}/change/" in html
    assert f"/admin/tracking/shipment/{busy_day.shipment.pk}/change/" in html
    assert "/admin/tracking/trackingevent/?id__gte=" in html
    response = ops.post(f"/admin/notifications/delivery/{dead.pk}/replay/", follow=True)
    assert "queued to be sent again" in response.content.decode()
    assert Delivery.objects.get(pk=dead.pk).status == DeliveryStatus.PENDING


def test_deliveries_filter_by_endpoint_and_customer(ops, busy_day):
    listing = ops.get(f"/admin/notifications/delivery/?endpoint__id__exact={busy_day.endpoint.pk}")
    assert listing.status_code == 200
    assert (
        ops.get(f"/admin/notifications/delivery/?customer__id__exact={busy_day.shipment.customer_id}").status_code
        == 200
    )
    html = ops.get(f"/admin/notifications/webhookendpoint/{busy_day.endpoint.pk}/change/").content.decode()
    assert f"/admin/notifications/delivery/?endpoint__id__exact={busy_day.endpoint.pk}" in html
    assert 'id="test-button"' in html


def test_the_carrier_page_links_to_its_inbound_messages_and_unmapped_codes(ops, busy_day):
    html = ops.get("/admin/carriers/carrier/acme-post/change/").content.decode()
    assert "/admin/carriers/inboundmessage/?carrier__id__exact=acme-post" in html
    assert "/admin/tracking/unmappedcode/?carrier__id__exact=acme-post" in html


def test_the_shipment_page_is_a_timeline_with_links_both_ways(ops, busy_day):
    html = ops.get(f"/admin/tracking/shipment/{busy_day.shipment.pk}/change/").content.decode()
    assert html.index("gluey-timeline") < html.index('name="uuid_ref"')  # the timeline comes first
    assert 'id="current-state"' in html and 'id="current-eta"' in html
    rows = re.findall(r'<tr data-event="(\d+)">(.*?)</tr>', html, re.DOTALL)
    assert len(rows) == 3
    event = TrackingEvent.objects.get(pk=int(rows[0][0]))
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", rows[0][1])  # local time with offset
    assert event.carrier_code in rows[0][1] and "first_event_id__lte" in rows[0][1]
    deliveries = ops.get(
        f"/admin/notifications/delivery/?customer__id__exact={busy_day.shipment.customer_id}"
        f"&first_event_id__lte={event.pk}&last_event_id__gte={event.pk}"
    )
    assert deliveries.status_code == 200 and "1 delivery" in deliveries.content.decode()


def test_the_mapping_form_lists_descriptions_searches_and_shows_an_example(ops, busy_day):
    code = UnmappedCode.objects.get(carrier_id="acme-post", carrier_code="ZZZ-UNKNOWN")
    page = ops.post(
        "/admin/tracking/unmappedcode/", {"action": "map_codes", "_selected_action": [code.pk]}
    ).content.decode()
    assert "delivery / delivered / with_signature — The parcel has been delivered and signed for" in page
    assert busy_day.shipment.carrier_tracking_id in page  # the example event
    found = ops.post(
        "/admin/tracking/unmappedcode/",
        {"action": "map_codes", "_selected_action": [code.pk], "find": "neighbour", "search": "Search"},
    ).content.decode()
    listed = re.findall(r'type="radio" name="status" value="\d+"', found)
    assert 0 < len(listed) < 10
    status_id = re.search(r'type="radio" name="status" value="(\d+)"', found).group(1)
    ops.post(
        "/admin/tracking/unmappedcode/",
        {"action": "map_codes", "_selected_action": [code.pk], "status": status_id, "apply": "Map codes"},
    )
    assert CodeMapping.objects.filter(carrier_id="acme-post", carrier_code="ZZZ-UNKNOWN").exists()


def test_times_are_shown_one_way(ops, busy_day):
    html = ops.get("/admin/carriers/inboundmessage/").content.decode()
    stamp = f"{timezone.now():%Y-%m-%d}"
    assert re.search(rf"{stamp} \d\d:\d\d:\d\d UTC", html)
    assert WebhookEndpoint.objects.exists()
