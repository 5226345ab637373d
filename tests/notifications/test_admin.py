"""Admin: endpoints (health, test event, disable/enable), deliveries (filter, attempts, replay)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.services import endpoint_deliver
from tests.notifications.conftest import record
from tests.notifications.receiver import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-not-used")
    client.force_login(user)
    return client


def action(staff, model: str, name: str, ids: list) -> str:
    response = staff.post(
        f"/admin/notifications/{model}/",
        {"action": name, "_selected_action": [str(i) for i in ids]},
        follow=True,
    )
    assert response.status_code == 200
    return " ".join(str(m) for m in response.context["messages"])


def test_endpoint_list_shows_health(staff, subscribed):
    WebhookEndpoint.objects.update(failing_since=timezone.now(), consecutive_failures=2)
    page = staff.get("/admin/notifications/webhookendpoint/").content.decode()
    assert subscribed.url in page and "failing since" in page


def test_send_test_event_shows_the_response(staff, subscribed, receiver):
    receiver.script(Reply(202, b"thanks"))
    messages = action(staff, "webhookendpoint", "send_test_event", [subscribed.pk])
    assert "HTTP 202" in messages and "thanks" in messages
    assert len(receiver.requests) == 1


def test_disable_and_enable(staff, subscribed):
    action(staff, "webhookendpoint", "disable", [subscribed.pk])
    assert not WebhookEndpoint.objects.get().is_active
    action(staff, "webhookendpoint", "enable", [subscribed.pk])
    assert WebhookEndpoint.objects.get().is_active


def test_adding_an_endpoint_shows_its_secret_once(staff, acme, loopback_allowed):
    response = staff.post(
        "/admin/notifications/webhookendpoint/add/", {"customer": acme.pk, "url": "http://127.0.0.1:9/x"}, follow=True
    )
    messages = " ".join(str(m) for m in response.context["messages"])
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in messages


def test_adding_a_private_endpoint_is_refused(staff, acme):
    response = staff.post("/admin/notifications/webhookendpoint/add/", {"customer": acme.pk, "url": "http://10.0.0.1/"})
    assert response.status_code == 200 and "not a public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_deliveries_filter_attempts_and_replay(staff, carrier, shipment, subscribed, receiver):
    receiver.script(Reply(500, b"upstream broke"))
    record(carrier)
    endpoint_deliver(endpoint_id=subscribed.pk)
    delivery = Delivery.objects.get()
    Delivery.objects.update(status=DeliveryStatus.DEAD, dead_at=timezone.now())

    listed = staff.get("/admin/notifications/delivery/?status__exact=dead").content.decode()
    assert delivery.msg_id in listed
    assert delivery.msg_id not in staff.get("/admin/notifications/delivery/?status__exact=pending").content.decode()
    detail = staff.get(f"/admin/notifications/delivery/{delivery.pk}/change/").content.decode()
    assert "upstream broke" in detail and "500" in detail

    messages = action(staff, "delivery", "replay", [delivery.pk])
    assert "Queued 1" in messages
    assert Delivery.objects.get().status == DeliveryStatus.PENDING
