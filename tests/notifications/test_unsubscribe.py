"""Unsubscribing keeps the delivery history: the endpoint is deactivated, not deleted (issue 14).

Its deliveries stay readable and replayable for the retention period; pending ones are
dead-lettered instead of waiting forever; new events are not written for it; the purge
removes the endpoint once retention has taken its deliveries.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.services import (
    deliveries_purge,
    endpoint_subscribe,
    endpoint_unsubscribe,
    endpoints_purge_unsubscribed,
)
from tests.factories import event
from tests.notifications.conftest import record

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.215.14/hooks"


@pytest.fixture
def history(acme, carrier, shipment):
    endpoint, _ = endpoint_subscribe(customer=acme, url=PUBLIC)
    record(carrier, event(code="HUB"))
    record(carrier, event(code="DLV", minutes=5))
    first, second = Delivery.objects.filter(endpoint=endpoint).order_by("id")
    Delivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.DELIVERED, delivered_at=timezone.now())
    return endpoint, first, second


def test_unsubscribing_deactivates_and_keeps_every_delivery(acme, carrier, history):
    endpoint, delivered, pending = history
    assert endpoint_unsubscribe(customer=acme, url=PUBLIC) == 1
    endpoint.refresh_from_db()
    assert endpoint.is_active is False and endpoint.unsubscribed_at is not None
    assert Delivery.objects.get(pk=delivered.pk).status == DeliveryStatus.DELIVERED
    dead = Delivery.objects.get(pk=pending.pk)
    assert dead.status == DeliveryStatus.DEAD and dead.last_error == "endpoint unsubscribed"
    record(carrier, event(code="OFD", minutes=10))
    assert Delivery.objects.filter(endpoint=endpoint).count() == 2  # nothing new written for it
    assert endpoint_unsubscribe(customer=acme, url=PUBLIC) == 0  # already unsubscribed


def test_subscribing_again_reactivates_the_same_endpoint_without_the_old_secret(acme, history):
    endpoint, _, _ = history
    endpoint_unsubscribe(customer=acme, url=PUBLIC)
    again, secret = endpoint_subscribe(customer=acme, url=PUBLIC)
    assert again.pk == endpoint.pk and again.is_active and again.unsubscribed_at is None
    assert again.secret == secret and again.previous_secret == ""


def test_the_purge_removes_the_endpoint_only_after_retention_took_its_deliveries(acme, history):
    endpoint, _, _ = history
    endpoint_unsubscribe(customer=acme, url=PUBLIC)
    assert endpoints_purge_unsubscribed() == 0  # within retention
    later = timezone.now() + timedelta(days=91)
    assert endpoints_purge_unsubscribed(now=later) == 0  # its deliveries are still there
    deliveries_purge(now=later)
    assert not Delivery.objects.filter(endpoint=endpoint).exists()
    assert endpoints_purge_unsubscribed(now=later) == 1
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_the_admin_has_no_delete_only_unsubscribe(admin_client, acme, history):
    ops = admin_client
    endpoint, delivered, _ = history
    changelist = "/admin/notifications/webhookendpoint/"
    page = ops.get(f"{changelist}{endpoint.pk}/change/").content.decode()
    assert "deletelink" not in page
    assert ops.get(f"{changelist}{endpoint.pk}/delete/").status_code == 403
    response = ops.post(changelist, {"action": "unsubscribe", "_selected_action": [endpoint.pk]})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.unsubscribed_at is not None
    assert Delivery.objects.filter(pk=delivered.pk).exists()
    assert "unsubscribed" in ops.get(changelist).content.decode()
