"""Every customer endpoint refuses missing keys and versions the same way."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import client_for
from tracking.models import CustomerAPIKey

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("post", "/shipments", {"carrier_id": "acme-post", "carrier_tracking_id": "T1"}),
    ("get", f"/shipments/{uuid.UUID(int=1)}/track", None),
    ("post", "/track", {"ids": [str(uuid.UUID(int=1))]}),
    ("get", "/events", None),
]


def call(client, method, path, body):
    if method == "post":
        return client.post(path, body, format="json")
    return client.get(path)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_missing_key_is_401(acme, carrier, method, path, body):
    response = call(client_for(None), method, path, body)
    assert (response.status_code, response.json()) == (401, {"detail": "Not authenticated."})


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_invalid_and_revoked_keys_are_401(acme, carrier, method, path, body):
    assert call(client_for("garbage.key"), method, path, body).status_code == 401
    CustomerAPIKey.objects.filter(customer=acme).update(revoked=True)
    response = call(client_for(acme.api_key), method, path, body)
    assert (response.status_code, response.json()) == (401, {"detail": "Not authenticated."})


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize("version", [None, "v0"])
def test_missing_or_unknown_version_is_400(acme, carrier, method, path, body, version):
    response = call(client_for(acme.api_key, version=version), method, path, body)
    assert response.status_code == 400
    assert "x-version" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_throttled_on_every_endpoint(acme, carrier, monkeypatch, method, path, body):
    from tracking.api.auth import APIKeyRateThrottle

    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    client = client_for(acme.api_key)
    for _ in range(2):
        assert call(client, method, path, body).status_code != 429
    response = call(client, method, path, body)
    assert response.status_code == 429 and response["Retry-After"]


def test_throttle_fails_open_when_its_cache_is_unavailable(acme, settings):
    # The database cache's table may be missing (createcachetable not run):
    # the API keeps answering rather than failing every request.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "no_such_table"}
    }
    response = client_for(acme.api_key).get("/events")
    assert response.status_code == 200
    # ...and the failed cache query did not break the request's transaction.
    assert CustomerAPIKey.objects.filter(customer=acme).count() == 1
