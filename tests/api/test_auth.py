"""x-key / x-version / throttling / JSON errors, through a probe view built on CustomerAPIView.

The real endpoints repeat the key checks in test_contract.py; here the base
class is tested alone, as the notifications endpoints will use it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import path
from django.utils import timezone
from rest_framework import serializers
from rest_framework.response import Response

from tests.api.conftest import client_for
from tracking.api.auth import APIKeyUser, CustomerAPIView
from tracking.models import CustomerAPIKey

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


class ProbeInput(serializers.Serializer):
    name = serializers.CharField()
    items = serializers.ListField(child=serializers.DictField(child=serializers.IntegerField()), required=False)


class Probe(CustomerAPIView):
    def get(self, request):
        assert isinstance(request.user, APIKeyUser)
        return Response({"account_number": self.customer.account_number, "version": request.version})

    def post(self, request):
        ProbeInput(data=request.data).is_valid(raise_exception=True)
        return Response({"ok": True})


class Boom(CustomerAPIView):
    def get(self, request):
        raise RuntimeError("kaboom")


urlpatterns = [path("probe", Probe.as_view()), path("boom", Boom.as_view())]


def test_valid_key_and_version_reach_the_view_as_the_customer(acme):
    response = client_for(acme.api_key).get("/probe")
    assert response.status_code == 200
    assert response.json() == {"account_number": acme.account_number, "version": "v1"}


@pytest.mark.parametrize(
    "key",
    [None, "", "nonsense", "abc.def", "ABCDEFGH.wrong-secret-wrong-secret-wrong-sec"],
    ids=["missing", "empty", "no-dot", "unknown-prefix", "unknown"],
)
def test_missing_or_invalid_key_is_401(acme, key):
    response = client_for(key).get("/probe")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated."}
    assert response["WWW-Authenticate"]


def test_right_prefix_wrong_secret_is_401(acme):
    prefix, secret = acme.api_key.split(".")
    tampered = ("A" if secret[0] != "A" else "B") + secret[1:]
    response = client_for(f"{prefix}.{tampered}").get("/probe")
    assert response.status_code == 401


def test_revoked_expired_and_inactive_are_401(acme):
    key = CustomerAPIKey.objects.get(customer=acme)
    key.revoked = True
    key.save()
    assert client_for(acme.api_key).get("/probe").status_code == 401

    fresh, clear = CustomerAPIKey.objects.create_key(name="second", customer=acme)
    assert client_for(clear).get("/probe").status_code == 200
    fresh.expiry_date = timezone.now() - timedelta(seconds=1)
    fresh.save()
    assert client_for(clear).get("/probe").json() == {"detail": "Not authenticated."}

    _, clear3 = CustomerAPIKey.objects.create_key(name="third", customer=acme)
    acme.is_active = False
    acme.save()
    assert client_for(clear3).get("/probe").status_code == 401


@pytest.mark.parametrize("version", [None, "", "v2", "V1"])
def test_missing_or_unknown_version_is_400(acme, version):
    response = client_for(acme.api_key, version=version).get("/probe")
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "x-version" in detail


def test_malformed_json_is_400_naming_the_problem(acme):
    response = client_for(acme.api_key).post("/probe", data='{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_validation_errors_have_fastapi_shape_listing_every_problem(acme):
    response = client_for(acme.api_key).post("/probe", {"items": [{"a": 1}, {"b": "x"}]}, format="json")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", "name"], "msg": "This field is required.", "type": "missing"},
            {"loc": ["body", "items", 1, "b"], "msg": "A valid integer is required.", "type": "value_error"},
        ]
    }


def test_wrong_content_type_is_415_json(acme):
    response = client_for(acme.api_key).post("/probe", data="name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "detail" in response.json()


def test_method_not_allowed_is_json(acme):
    response = client_for(acme.api_key).delete("/probe")
    assert response.status_code == 405
    assert response.json()["detail"]


def test_unexpected_error_is_json_500(acme):
    response = client_for(acme.api_key).get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}


def test_throttled_per_key(acme, globex, monkeypatch):
    from tracking.api.auth import APIKeyRateThrottle

    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    acme_client = client_for(acme.api_key)
    assert [acme_client.get("/probe").status_code for _ in range(3)] == [200, 200, 200]
    throttled = acme_client.get("/probe")
    assert throttled.status_code == 429
    assert "throttled" in throttled.json()["detail"]
    assert int(throttled["Retry-After"]) > 0
    # Another key has its own allowance.
    assert client_for(globex.api_key).get("/probe").status_code == 200
