"""Actions the ops console adds to existing admin pages, and every admin page rendering for staff."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client

from tracking.models import CodeMapping, StatusCode, TrackingEvent

pytestmark = pytest.mark.django_db


def action(client, changelist: str, name: str, ids: list, **extra):
    return client.post(changelist, {"action": name, "_selected_action": [str(i) for i in ids], **extra})


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def test_carrier_action_reharmonise(ops, busy_day, eager_tasks, django_capture_on_commit_callbacks):
    status = StatusCode.objects.get(milestone="exception", code="damage_loss", sub_code="parcel_damaged")
    CodeMapping.objects.create(carrier=busy_day.carrier, carrier_code="ZZZ-UNKNOWN", status=status)
    with django_capture_on_commit_callbacks(execute=True):
        response = action(ops, "/admin/carriers/carrier/", "reharmonise", [busy_day.carrier.pk, busy_day.quiet.pk])
    assert response.status_code == 302
    assert "Re-harmonising acme-post, parcelco" in messages_of(ops.get("/admin/carriers/carrier/"))
    assert TrackingEvent.objects.get(carrier_code="ZZZ-UNKNOWN").code == "damage_loss"


def test_carrier_action_test_sftp_opens_the_test_page(ops, busy_day):
    response = action(ops, "/admin/carriers/carrier/", "test_sftp", [busy_day.carrier.pk])
    assert response.status_code == 302 and response["Location"] == "/admin/ops/carriers/acme-post/sftp-test/"
    page = ops.get(response["Location"]).content.decode()
    assert "no host configured" in page
    response = action(ops, "/admin/carriers/carrier/", "test_sftp", [busy_day.carrier.pk, busy_day.quiet.pk])
    assert "Select exactly one carrier" in messages_of(ops.get("/admin/carriers/carrier/"))


def test_every_admin_list_renders_for_staff_and_not_for_others(ops, busy_day):
    anonymous = Client()
    broken = []
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        if ops.get(url).status_code != 200:
            broken.append(url)
        assert anonymous.get(url)["Location"].startswith("/admin/login/"), url
    assert broken == []
    assert len(admin.site._registry) >= 15


def test_every_object_page_of_the_busy_day_renders(ops, busy_day):
    from django.urls import reverse

    checked = 0
    for model in admin.site._registry:
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            continue
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        response = ops.get(url)
        assert response.status_code == 200, url
        checked += 1
    assert checked >= 8  # carriers, inbound, customers, shipments, items, events, mappings, endpoints, deliveries…


def test_shipment_timeline_shows_the_events(ops, busy_day):
    page = ops.get(f"/admin/tracking/shipment/{busy_day.shipment.pk}/change/").content.decode()
    assert 'class="gluey-timeline"' in page
    assert "ZZZ-UNKNOWN" in page and "⚠ unmapped" in page and "in_transit/arrived_at_carrier_facility" in page


def test_endpoint_action_replay_window_opens_the_replay_page(ops, busy_day):
    response = action(ops, "/admin/notifications/webhookendpoint/", "replay_window", [busy_day.endpoint.pk])
    assert response.status_code == 302
    assert response["Location"] == f"/admin/ops/endpoints/{busy_day.endpoint.pk}/replay/"
    page = ops.get(response["Location"]).content.decode()
    assert "Window (UTC)" in page and busy_day.endpoint.url in page
