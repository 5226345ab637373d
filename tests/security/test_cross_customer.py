"""Cross-customer access, on every customer endpoint.

acme's key must never reach globex's data: another customer's shipment, account
or events answer exactly like ones that do not exist, nothing of globex appears
in acme's answers, and acme's writes never touch globex's rows. The route list
is read from the URL resolver, so a new endpoint without a case here fails the
first test.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from carriers.models import Carrier
from notifications.models import Delivery, WebhookEndpoint
from tracking.models import Shipment

pytestmark = pytest.mark.django_db

# Every customer route (by URL name) and the case below that covers it.
COVERED = {
    "api-shipments": "test_registering_a_number_globex_follows_creates_acme_s_own_and_reveals_nothing",
    "api-shipment-track": "test_another_customer_s_shipment_is_indistinguishable_from_a_missing_one",
    "api-track": "test_batch_track_by_id_uuid_ref_or_number_returns_only_acme_s_own",
    "api-events": "test_the_feed_lists_only_acme_s_registrations",
    "api-webhook-subscriptions": "test_another_account_s_subscriptions_answer_404_and_stay_untouched",
    "api-webhook-replay": "test_replaying_another_account_answers_404_and_requeues_nothing",
    "api-carriers": "test_carrier_listing_and_detection_hold_no_customer_data",
    "api-carriers-detect": "test_carrier_listing_and_detection_hold_no_customer_data",
}
# Routes that are not a customer's data: public by design, or staff only.
NOT_CUSTOMER = {"api-schema", "api-docs", "healthz", "metrics", "webhook", "push_token"}


def route_names(resolver: URLResolver | None = None, prefix: str = "") -> set[str]:
    names = set()
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith("admin/"):
                continue  # the admin has its own suite (test_admin.py)
            names |= route_names(entry)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(entry.name)
    return names


def test_every_customer_route_has_a_cross_customer_case():
    assert route_names() - NOT_CUSTOMER == set(COVERED)
    assert all(name in globals() for name in COVERED.values())


def test_another_customer_s_shipment_is_indistinguishable_from_a_missing_one(world):
    acme, globex = world.acme, world.globex
    theirs = acme.api().get(f"/shipments/{globex.shipment.id}/track")
    missing = acme.api().get(f"/shipments/{uuid.uuid4()}/track")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json() == {"detail": "Shipment not found."}
    # Even the number both follow: acme sees its own registration, never globex's.
    shared = acme.api().get(f"/shipments/{globex.shared.id}/track")
    assert shared.status_code == 404
    mine = acme.api().get(f"/shipments/{acme.shared.id}/track")
    assert mine.status_code == 200 and mine.json()["id"] == str(acme.shared.id)
    assert "globex" not in mine.content.decode()


def test_batch_track_by_id_uuid_ref_or_number_returns_only_acme_s_own(world):
    acme, globex = world.acme, world.globex
    body = {
        "ids": [str(globex.shipment.id), str(globex.shared.id), str(acme.shipment.id)],
        "uuid_refs": ["globex-order-1", "globex-order-2"],
        "carrier_tracking_ids": ["GLOBEX0001"],
    }
    response = acme.api().post("/track", json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == [str(acme.shipment.id)]
    assert "globex" not in response.content.decode().lower()
    not_found = response["x-not-found"].split(",")
    assert str(globex.shipment.id) in not_found and "globex-order-1" in not_found and "GLOBEX0001" in not_found
    only_theirs = acme.api().post(
        "/track", json.dumps({"ids": [str(globex.shipment.id)]}), content_type="application/json"
    )
    assert only_theirs.status_code == 404 and only_theirs.json() == {"detail": "Shipment not found."}


def test_the_feed_lists_only_acme_s_registrations(world):
    acme = world.acme
    page = acme.api().get("/events?limit=1000").json()
    shipments = {e["shipment_id"] for e in page["events"]}
    assert shipments == {str(acme.shipment.id), str(acme.shared.id)}
    assert "globex" not in json.dumps(page).lower()
    # A cursor is not a key to someone else's events: pages after it stay acme's.
    after = acme.api().get("/events", {"after": page["next_cursor"], "limit": 1000}).json()
    assert all(e["shipment_id"] in shipments for e in after["events"])


def test_registering_a_number_globex_follows_creates_acme_s_own_and_reveals_nothing(world):
    acme, globex = world.acme, world.globex
    response = acme.api().post(
        "/shipments",
        json.dumps({"carrier_id": "acme-post", "carrier_tracking_id": "GLOBEX0001"}),
        content_type="application/json",
    )
    assert response.status_code == 201  # new for acme, though globex follows it
    created = response.json()
    assert created["id"] != str(globex.shipment.id)
    # Nothing of globex's registration comes back: its uuid_ref and meta data stay its own.
    assert not created.get("uuid_ref") and not created.get("meta_data")
    assert "globex-order" not in response.content.decode()
    assert Shipment.objects.get(pk=globex.shipment.pk).customer_id == globex.customer.pk
    # Registering acme's own number again returns acme's shipment (200), not a second one.
    again = acme.api().post(
        "/shipments",
        json.dumps({"carrier_id": "acme-post", "carrier_tracking_id": "ACME0001"}),
        content_type="application/json",
    )
    assert again.status_code == 200 and again.json()["id"] == str(acme.shipment.id)


def test_carrier_listing_and_detection_hold_no_customer_data(world):
    acme, globex = world.acme, world.globex
    carrier = Carrier.objects.get(pk="acme-post")
    carrier.config = {**carrier.config, "number_pattern": "[A-Z]+[0-9]{4}"}
    carrier.save()
    for path in ("/carriers", "/carriers/detect?tracking_id=GLOBEX0001"):
        mine, theirs = acme.api().get(path), globex.api().get(path)
        assert mine.status_code == theirs.status_code == 200
        assert mine.json() == theirs.json()  # the same for every customer: nothing of anyone's shipments
        text = mine.content.decode()
        assert "globex-order" not in text and not any(secret in text for secret in world.secrets.values())
    # Registering globex's number without a carrier_id creates acme's own shipment, as with a carrier_id.
    response = acme.api().post(
        "/shipments", json.dumps({"carrier_tracking_id": "GLOBEX0001"}), content_type="application/json"
    )
    assert response.status_code == 201 and response.json()["id"] != str(globex.shipment.id)
    assert "globex-order" not in response.content.decode()
    assert Shipment.objects.get(pk=globex.shipment.pk).customer_id == globex.customer.pk


def test_another_account_s_subscriptions_answer_404_and_stay_untouched(world):
    acme, globex = world.acme, world.globex
    before = list(WebhookEndpoint.objects.filter(customer=globex.customer).values_list("url", "secret"))
    base = f"/accounts/{globex.customer.account_number}/webhooks/tracking/subscriptions"
    missing = "/accounts/00000000/webhooks/tracking/subscriptions"
    for path in (base, missing):
        listed = acme.api().get(path)
        added = acme.api().post(
            path, json.dumps({"endpoint": "http://127.0.0.1:9/evil"}), content_type="application/json"
        )
        removed = acme.api().delete(
            path, json.dumps({"endpoint": "http://127.0.0.1:9/globex"}), content_type="application/json"
        )
        for response in (listed, added, removed):
            assert response.status_code == 404 and response.json() == {"detail": "Account not found."}
    after = list(WebhookEndpoint.objects.filter(customer=globex.customer).values_list("url", "secret"))
    assert after == before
    # acme's own list shows acme's endpoint and no secret at all.
    own = acme.api().get(f"/accounts/{acme.customer.account_number}/webhooks/tracking/subscriptions")
    assert own.status_code == 200 and "globex" not in own.content.decode()
    assert acme.endpoint_secret not in own.content.decode()


def test_replaying_another_account_answers_404_and_requeues_nothing(world):
    acme, globex = world.acme, world.globex
    before = list(Delivery.objects.filter(customer=globex.customer).values_list("id", "status", "replay_count"))
    response = acme.api().post(
        f"/accounts/{globex.customer.account_number}/webhooks/tracking/replay",
        json.dumps({"since": "2000-01-01T00:00:00Z"}),
        content_type="application/json",
    )
    assert response.status_code == 404 and response.json() == {"detail": "Account not found."}
    assert list(Delivery.objects.filter(customer=globex.customer).values_list("id", "status", "replay_count")) == before


def test_a_revoked_key_of_acme_is_no_key_at_all(world):
    from tracking.models import CustomerAPIKey

    CustomerAPIKey.objects.filter(customer=world.acme.customer).update(revoked=True)
    for method, path in (("get", "/events"), ("get", f"/shipments/{world.acme.shipment.id}/track")):
        response = getattr(world.acme.api(), method)(path)
        assert response.status_code == 401 and response.json() == {"detail": "Not authenticated."}
