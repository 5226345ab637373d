"""SSRF: what tests/notifications/test_http_guard.py and test_api.py do not cover yet.

Those check the address rules, loopback spellings in URLs, redirects, pooled
connections and private endpoints refused at subscription. Here: DNS that
changes its answer between the subscription and the send (rebinding), a name
with a public and a private address, proxies from the environment, more ways
to write a private address in a subscription, and the admin's "send a test
event" button. Every refusal is checked against a real local receiver's log.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model

from gluey import http
from notifications.models import DeliveryAttempt
from notifications.services import (
    InvalidEndpoint,
    endpoint_deliver,
    endpoint_subscribe,
    endpoint_url_validate,
)
from tests.factories import event, make_carrier, make_customer
from tests.notifications.receiver import Receiver
from tracking.services import events_record, shipment_register

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # example.com: public, and never actually reached by these tests


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def fake_dns(monkeypatch):
    """Answers for host names, changeable mid-test: name → list of addresses."""
    answers: dict[str, list[str]] = {}
    real = http._resolve

    def resolve(host: str, port: int):
        if host in answers:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, (a, port)) for a in answers[host]]
        return real(host, port)

    monkeypatch.setattr(http, "_resolve", resolve)
    return answers


def test_dns_rebinding_after_subscribing_is_refused_at_connect(fake_dns, receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    fake_dns["hooks.acme.example"] = [PUBLIC]
    endpoint, _ = endpoint_subscribe(customer=acme, url=f"http://hooks.acme.example:{receiver.port}/hooks")
    # The name now points at the inside (where our receiver listens).
    fake_dns["hooks.acme.example"] = ["127.0.0.1"]
    events_record(carrier=carrier, events=[event()], channel="webhook")
    endpoint_deliver(endpoint_id=endpoint.pk)
    assert receiver.requests == []
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "not a public address" in attempt.error


def test_a_name_with_a_public_and_a_private_address_is_refused_and_never_reaches_the_private_one(
    fake_dns, receiver, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    acme, _ = make_customer("acme")
    fake_dns["mixed.example"] = ["127.0.0.1", PUBLIC]
    with pytest.raises(InvalidEndpoint, match="non-public address"):
        endpoint_subscribe(customer=acme, url=f"http://mixed.example:{receiver.port}/hooks")
    # A post (say, to an endpoint subscribed before the name changed) picks only the public address.
    fake_dns["mixed.example"] = ["127.0.0.1", "192.0.2.1"]  # TEST-NET-1: not public either
    result = http.post(f"http://mixed.example:{receiver.port}/hooks", body=b"[]", headers={}, total_timeout=3)
    assert result.status is None and "not a public address" in result.error
    assert receiver.requests == []


def test_proxy_settings_in_the_environment_are_ignored(receiver, settings, monkeypatch):
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    proxy = Receiver().start()
    try:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url(path=""))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        result = http.post(
            receiver.url(), body=b"[]", headers={"content-type": "application/json"}, http=http.session_create()
        )
        assert result.status == 200
        assert len(receiver.requests) == 1 and proxy.requests == []
    finally:
        proxy.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://0177.0.0.1/x",  # octal
        "http://0x7f000001/x",  # hexadecimal
        "http://017700000001/x",  # one octal number
        "http://[0:0:0:0:0:ffff:7f00:1]/x",  # mapped, spelled out
        "http://[fd00::1]/x",  # unique local
        "http://[fe80::1%25eth0]/x",  # link-local with a zone
        "http://100.64.0.1/x",  # carrier-grade NAT
        "http://198.18.0.1/x",  # benchmarking range
        "http://169.254.170.2/x",  # a container metadata service
        "http://[::]/x",
    ],
)
def test_more_spellings_of_private_addresses_are_refused_at_subscription(url, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(InvalidEndpoint):
        endpoint_url_validate(url=url)


def test_the_admin_test_event_does_not_reach_a_private_address(receiver, settings, client):
    # Subscribed while the loopback range was open (development); closed since.
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    acme, _ = make_customer("acme")
    endpoint, _ = endpoint_subscribe(customer=acme, url=receiver.url())
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    staff = get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password-1")
    client.force_login(staff)
    response = client.post(f"/admin/ops/endpoints/{endpoint.pk}/test-event/", follow=True)
    assert response.status_code == 200
    assert receiver.requests == []
    attempt = DeliveryAttempt.objects.get(delivery__endpoint=endpoint)
    assert attempt.status_code is None and "not a public address" in attempt.error
