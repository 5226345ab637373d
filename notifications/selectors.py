"""Reads for notifications."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from tracking.models import Customer


def endpoints_with_health(*, customer: Customer) -> QuerySet[WebhookEndpoint]:
    """The customer's endpoints, each annotated with ``pending`` and ``dead`` delivery counts."""
    return (
        WebhookEndpoint.objects.filter(customer=customer, unsubscribed_at__isnull=True)
        .annotate(
            pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
            dead=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD, deliveries__kind="events")),
        )
        .order_by("created_at", "id")
    )


def endpoint_health_dict(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The public view of an endpoint and its health (never the secret)."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "endpoint": endpoint.url,
        "active": endpoint.is_active,
        "disabled": not endpoint.is_active,
        "disabled_at": iso(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason or None,
        "failing_since": iso(endpoint.failing_since),
        "consecutive_failures": endpoint.consecutive_failures,
        "last_success_at": iso(endpoint.last_success_at),
        "last_failure_at": iso(endpoint.last_failure_at),
        "last_error": endpoint.last_error or None,
        "next_retry_at": iso(endpoint.retry_at) if endpoint.failing_since else None,
        "pending_deliveries": getattr(endpoint, "pending", None),
        "dead_lettered_deliveries": getattr(endpoint, "dead", None),
        "created_at": iso(endpoint.created_at),
    }


def delivery_head(*, endpoint: WebhookEndpoint) -> Delivery | None:
    """The delivery the endpoint's sender will try next."""
    return Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).order_by("id").first()
