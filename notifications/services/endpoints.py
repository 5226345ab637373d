"""Webhook endpoints: subscribe (and rotate the secret), unsubscribe, disable, enable."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from gluey import http
from notifications import conf
from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from tracking.models import Customer


class InvalidEndpoint(ValueError):
    """An endpoint URL we will not send to.

    ``field`` names the input, ``reason`` says what is wrong with it; ``str()`` is
    ``"<field>: <reason>"``. ``not_public`` is set when the host is (or resolves to)
    an address outside the public internet and ``WEBHOOK_ALLOWED_NETWORKS``.
    """

    def __init__(self, reason: str, *, field: str = "endpoint", not_public: bool = False) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.not_public = not_public


def secret_generate() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_url_validate(*, url: str, resolve: bool = True) -> str:
    """Return the URL if it is an http(s) URL to a host outbound webhooks may reach.

    Raises InvalidEndpoint for another scheme, a missing host, credentials in the
    URL, a bad port, or a host that is (or resolves to) a non-public address
    outside ``WEBHOOK_ALLOWED_NETWORKS``. The send-time guard still checks the
    address actually connected to.
    """
    url = (url or "").strip()
    if not url:
        raise InvalidEndpoint("a URL is required")
    if len(url) > 2000:
        raise InvalidEndpoint("the URL is longer than 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidEndpoint(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidEndpoint("the URL must start with https:// or http://")
    host = parts.hostname
    if not host:
        raise InvalidEndpoint("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidEndpoint("the URL must not contain credentials")
    if any(c.isspace() for c in url):
        raise InvalidEndpoint("the URL must not contain spaces")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if not http.address_allowed(literal):
            raise InvalidEndpoint(f"{host} is not a public address", not_public=True)
        return url
    if resolve:
        try:
            http.host_check(host, port or (443 if parts.scheme == "https" else 80))
        except http.BlockedAddress as exc:
            raise InvalidEndpoint(str(exc), not_public=True) from None
        except (socket.gaierror, UnicodeError):
            raise InvalidEndpoint(f"the host {host} does not resolve") from None
    return url


def endpoint_subscribe(*, customer: Customer, url: str, now: datetime | None = None) -> tuple[WebhookEndpoint, str]:
    """Subscribe ``url`` for the customer's tracking webhooks; returns (endpoint, clear secret).

    Subscribing an existing URL again rotates its secret: the new one is
    returned and both sign requests for ``WEBHOOK_SECRET_ROTATION_OVERLAP``
    (24 h). It also re-enables an endpoint that was disabled.
    """
    url = endpoint_url_validate(url=url)
    now = now or timezone.now()
    secret = secret_generate()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(customer=customer, url=url).first()
        if endpoint is None:
            endpoint = WebhookEndpoint.objects.create(customer=customer, url=url, secret=secret)
            return endpoint, secret
        if endpoint.unsubscribed_at is None:
            endpoint.previous_secret = endpoint.secret
            endpoint.previous_secret_expires_at = now + timedelta(seconds=conf.secret_rotation_overlap())
        else:  # subscribing again after unsubscribing: no overlap with the old secret
            endpoint.previous_secret = ""
            endpoint.previous_secret_expires_at = None
        endpoint.secret = secret
        endpoint.is_active = True
        endpoint.unsubscribed_at = None
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
        endpoint.retry_at = None
        endpoint.save()
    _wake(endpoint)
    return endpoint, secret


def endpoint_unsubscribe(*, customer: Customer, url: str | None = None, now: datetime | None = None) -> int:
    """Unsubscribe one endpoint (by URL) or all of the customer's; returns how many were subscribed.

    Nothing is deleted: the endpoint is deactivated and marked unsubscribed, its
    pending deliveries are dead-lettered (replayable if the URL is subscribed
    again), and the history stays for the retention period
    (``endpoints_purge_unsubscribed`` removes it afterwards).
    """
    now = now or timezone.now()
    endpoints = WebhookEndpoint.objects.filter(customer=customer, unsubscribed_at__isnull=True)
    if url is not None:
        endpoints = endpoints.filter(url=url.strip())
    with transaction.atomic():
        ids = list(endpoints.select_for_update().values_list("id", flat=True))
        WebhookEndpoint.objects.filter(id__in=ids).update(
            is_active=False, disabled_at=now, disabled_reason="unsubscribed", unsubscribed_at=now, retry_at=None
        )
        Delivery.objects.filter(endpoint_id__in=ids, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.DEAD, dead_at=now, last_error="endpoint unsubscribed"
        )
    return len(ids)


def endpoints_purge_unsubscribed(*, now: datetime | None = None) -> int:
    """Delete endpoints unsubscribed longer ago than retention whose deliveries the purge has removed."""
    cutoff = (now or timezone.now()) - timedelta(days=conf.retention_days())
    gone = WebhookEndpoint.objects.filter(unsubscribed_at__lt=cutoff).exclude(
        id__in=Delivery.objects.values("endpoint_id")
    )
    return gone.delete()[1].get(WebhookEndpoint._meta.label, 0)


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str = "disabled by staff") -> None:
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_at=now, disabled_reason=reason[:300]
    )


def endpoint_enable(*, endpoint: WebhookEndpoint) -> None:
    """Re-enable an endpoint; its pending deliveries are sent at once, oldest first."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=True, disabled_at=None, disabled_reason="", retry_at=None
    )
    _wake(endpoint)


def _wake(endpoint: WebhookEndpoint) -> None:
    from notifications.services.outbox import endpoints_wake

    transaction.on_commit(lambda: endpoints_wake(endpoint_ids=[endpoint.pk]), robust=True)
