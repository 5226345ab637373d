"""Webhook bodies carry predicted_delivery in event.other while the shipment is on its way."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Delivery
from tests.factories import T0, event, make_lane_history
from tests.notifications.conftest import record

pytestmark = pytest.mark.django_db


def minutes_ago(n: int) -> int:
    return int((timezone.now() - timedelta(minutes=n) - T0).total_seconds() // 60)


def test_an_in_transit_event_carries_the_prediction(carrier, shipment, subscribed):
    make_lane_history(carrier.pk)
    record(carrier, event(code="PCK", minutes=minutes_ago(10)))
    [body] = json.loads(Delivery.objects.get().body)
    predicted = body["event"]["other"]["predicted_delivery"]
    assert predicted["basis"]["level"] == "carrier" and predicted["basis"]["sample_size"] == 40
    assert predicted["earliest"] <= predicted["date"] <= predicted["latest"]


def test_a_delivered_shipment_s_events_carry_none(carrier, shipment, subscribed):
    make_lane_history(carrier.pk)
    record(carrier, event(code="PCK", minutes=minutes_ago(600)), event(code="DLV", minutes=minutes_ago(5)))
    for body in json.loads(Delivery.objects.get().body):
        assert "predicted_delivery" not in body["event"].get("other", {})
