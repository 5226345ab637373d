"""Subscription and replay endpoints: /accounts/{account_number}/webhooks/tracking/…"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from tests.api.helpers import error_text
from tests.factories import make_customer
from tests.notifications.conftest import record

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.215.14/hooks"  # a public address literal: no DNS needed


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "n-api"}}


def client(customer) -> APIClient:
    return APIClient(headers={"x-key": customer.api_key, "x-version": "v1"})


def path(customer, what="subscriptions") -> str:
    return f"/accounts/{customer.account_number}/webhooks/tracking/{what}"


def test_subscribe_returns_a_secret_once_and_stores_it_encrypted(acme):
    response = client(acme).post(path(acme), {"endpoint": PUBLIC}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["endpoint"] == PUBLIC and body["secret"].startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(customer=acme)
    assert endpoint.secret == body["secret"]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {WebhookEndpoint._meta.db_table} WHERE id = %s", [endpoint.pk])
        raw = cursor.fetchone()[0]
    assert body["secret"] not in raw and "whsec_" not in raw
    # The list never shows it again.
    listed = client(acme).get(path(acme)).json()
    assert "secret" not in listed[0] and body["secret"] not in str(listed)


def test_subscribing_again_rotates_the_secret(acme):
    first = client(acme).post(path(acme), {"endpoint": PUBLIC}, format="json").json()["secret"]
    second = client(acme).post(path(acme), {"endpoint": PUBLIC}, format="json")
    assert second.status_code == 201 and second.json()["secret"] != first
    endpoint = WebhookEndpoint.objects.get(customer=acme)
    assert endpoint.previous_secret == first and endpoint.previous_secret_expires_at > timezone.now()


@pytest.mark.parametrize(
    "url, reason",
    [
        ("ftp://example.com/x", "https:// or http://"),
        ("https:///nohost", "no host"),
        ("not a url", "https:// or http://"),
        ("https://user:pw@93.184.215.14/x", "credentials"),
        ("http://127.0.0.1:8001/x", "not a public address"),
        ("http://10.1.2.3/x", "not a public address"),
        ("http://169.254.169.254/latest/meta-data", "not a public address"),
        ("http://[::1]/x", "not a public address"),
        ("http://[::ffff:127.0.0.1]/x", "not a public address"),
        ("http://0.0.0.0/x", "not a public address"),
        ("http://localhost/x", "non-public address"),
    ],
)
def test_bad_endpoints_are_refused_naming_the_field(acme, url, reason):
    response = client(acme).post(path(acme), {"endpoint": url}, format="json")
    assert response.status_code == 422
    detail = error_text(response.json())
    assert detail.startswith("endpoint:") and reason in detail
    assert not WebhookEndpoint.objects.exists()


def test_missing_endpoint_is_422(acme):
    response = client(acme).post(path(acme), {}, format="json")
    assert response.status_code == 422 and error_text(response.json()).startswith("endpoint:")


def test_private_endpoints_are_accepted_inside_allowed_networks(acme, loopback_allowed):
    response = client(acme).post(path(acme), {"endpoint": "http://localhost:8001/hooks"}, format="json")
    assert response.status_code == 201


def test_another_account_is_indistinguishable_from_none(acme):
    globex, _key = make_customer("globex")
    for account in (globex.account_number, "00000000"):
        for method in ("get", "post", "delete"):
            url = f"/accounts/{account}/webhooks/tracking/subscriptions"
            response = getattr(client(acme), method)(url, {"endpoint": PUBLIC}, format="json")
            assert response.status_code == 404 and response.json() == {"detail": "Account not found."}
        replay = client(acme).post(f"/accounts/{account}/webhooks/tracking/replay", {"since": "2026-01-01T00:00:00Z"})
        assert replay.status_code == 404
    assert not WebhookEndpoint.objects.exists()


def test_authentication_is_required(acme):
    response = APIClient(headers={"x-version": "v1"}).get(path(acme))
    assert response.status_code == 401 and response.json() == {"detail": "Not authenticated."}


def test_list_shows_health(acme, carrier, shipment):
    client(acme).post(path(acme), {"endpoint": PUBLIC}, format="json")
    since = timezone.now() - timedelta(hours=1)
    WebhookEndpoint.objects.update(failing_since=since, consecutive_failures=3, last_error="HTTP 500")
    record(carrier)

    (item,) = client(acme).get(path(acme)).json()

    assert item["endpoint"] == PUBLIC and item["active"] is True and item["disabled"] is False
    assert item["failing_since"] == since.isoformat() and item["consecutive_failures"] == 3
    assert item["last_error"] == "HTTP 500" and item["pending_deliveries"] == 1


def test_delete_one_by_body_or_query_or_all(acme):
    for suffix in ("a", "b", "c"):
        client(acme).post(path(acme), {"endpoint": f"{PUBLIC}/{suffix}"}, format="json")

    by_body = client(acme).delete(path(acme), {"endpoint": f"{PUBLIC}/a"}, format="json")
    by_query = client(acme).delete(path(acme) + f"?endpoint={PUBLIC}/b")
    assert (by_body.status_code, by_query.status_code) == (204, 204)
    assert [item["endpoint"] for item in client(acme).get(path(acme)).json()] == [f"{PUBLIC}/c"]
    # Deactivated, not deleted: the delivery history stays for the retention period.
    assert set(WebhookEndpoint.objects.filter(is_active=False).values_list("url", flat=True)) == {
        f"{PUBLIC}/a",
        f"{PUBLIC}/b",
    }

    unknown = client(acme).delete(path(acme), {"endpoint": f"{PUBLIC}/zzz"}, format="json")
    assert unknown.status_code == 404 and unknown.json() == {"detail": "Subscription not found."}

    assert client(acme).delete(path(acme)).status_code == 204
    assert client(acme).get(path(acme)).json() == []
    assert not WebhookEndpoint.objects.filter(is_active=True).exists()


def test_replay_queues_the_window(acme, carrier, shipment):
    client(acme).post(path(acme), {"endpoint": PUBLIC}, format="json")
    record(carrier)
    Delivery.objects.update(status=DeliveryStatus.DEAD, dead_at=timezone.now())
    since = (timezone.now() - timedelta(minutes=5)).isoformat()

    response = client(acme).post(path(acme, "replay"), {"since": since}, format="json")

    assert response.status_code == 202 and response.json() == {"replayed": 1}
    assert Delivery.objects.get().status == DeliveryStatus.PENDING


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-28T10:00:00Z", "until": "2026-11-28T09:00:00Z"}, "until"),
    ],
)
def test_replay_validates_its_window(acme, body, field):
    response = client(acme).post(path(acme, "replay"), body, format="json")
    assert response.status_code == 422 and error_text(response.json()).startswith(f"{field}:")
