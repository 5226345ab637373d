"""gluey.http: the SSRF guard on the connected address, timeouts, redirects, capped reads.

The receiver listens on 127.0.0.1, so it is reachable only while the loopback
range is allowed; every refusal below is checked against the receiver's log.
"""

from __future__ import annotations

import ipaddress

import pytest
from django.utils import timezone

from gluey import http
from notifications.models import Delivery, DeliveryAttempt, WebhookEndpoint
from notifications.services import endpoint_deliver
from tests.notifications.conftest import record
from tests.notifications.receiver import Reply

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


def post(url: str, **kwargs) -> http.PostResult:
    return http.post(url, body=b"[]", headers={"content-type": "application/json"}, **kwargs)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
        "::127.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not http.address_allowed(address, allowed=[])


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert http.address_allowed(address, allowed=[])


def test_allowed_networks_open_private_ranges_including_mapped_forms():
    assert http.address_allowed("127.0.0.1", allowed=LOOPBACK)
    assert http.address_allowed("::ffff:127.0.0.1", allowed=LOOPBACK)
    assert not http.address_allowed("10.0.0.1", allowed=LOOPBACK)


def test_requests_reach_the_receiver_only_when_loopback_is_allowed(receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    refused = post(receiver.url())
    assert refused.status is None and "not a public address" in refused.error
    assert receiver.requests == []

    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    assert post(receiver.url()).status == 200
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("host", ["localhost", "[::ffff:127.0.0.1]", "127.1", "2130706433"])
def test_other_spellings_of_loopback_are_refused(receiver, settings, host):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    result = post(receiver.url(host=host))
    assert result.status is None and "not a public address" in result.error
    assert receiver.requests == []


def test_a_pooled_connection_is_checked_again(receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    assert post(receiver.url()).status == 200
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    assert "not a public address" in post(receiver.url()).error
    assert len(receiver.requests) == 1


def test_ipv6_loopback_is_refused(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    # Nothing needs to listen: the guard refuses before connecting.
    result = post("http://[::1]:9/hooks")
    assert "not a public address" in result.error


def test_total_deadline_cuts_a_slow_response(receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    receiver.script(Reply(200, delay=3))
    result = post(receiver.url(), total_timeout=0.4)
    assert result.status is None and "timed out" in result.error


def test_redirects_are_returned_not_followed(receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    receiver.script(Reply(307, headers={"Location": receiver.url("/other")}))
    result = post(receiver.url())
    assert result.status == 307 and not result.ok
    assert [r.path for r in receiver.requests] == ["/hooks"]


def test_only_2_kb_of_the_response_is_kept(receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOOPBACK
    receiver.script(Reply(200, b"a" * 100_000))
    result = post(receiver.url())
    assert result.ok and result.body == b"a" * 2048


def test_host_check_refuses_names_resolving_to_private_addresses(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(http.BlockedAddress, match="localhost resolves to a non-public address"):
        http.host_check("localhost", 443)


@pytest.mark.django_db
def test_a_refused_delivery_is_recorded_and_retried_later(carrier, shipment, subscribed, receiver, settings):
    # Subscribed while loopback was allowed; then the range is closed again.
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    record(carrier)

    endpoint_deliver(endpoint_id=subscribed.pk)

    assert receiver.requests == []
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "not a public address" in attempt.error
    assert Delivery.objects.get().status == "pending"
    assert WebhookEndpoint.objects.get().retry_at > timezone.now()
