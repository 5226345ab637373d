"""Read-only numbers about customer notifications, for the ops dashboard and /metrics.

- ``customers_overview()`` — per customer: endpoints with their health,
  event deliveries pending / retrying / dead-lettered, and each sFTP
  destination's last export.
- ``delivery_status_counts()`` — deliveries by status and kind, for /metrics.
- ``endpoint_window_deliveries(*, endpoint, since, until)`` — the deliveries a
  replay of that window would send again, and their counts by status.
- ``export_lags(*, now)`` — how late each enabled destination's export runs are.

Test deliveries (the admin's "send a test event") are left out of the customer
counts: they are never retried and say nothing about the customer's traffic.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Avg, Count, Max, Min, Q, QuerySet
from django.db.models.functions import TruncHour

from notifications.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryStatus,
    Export,
    SftpDestination,
    WebhookEndpoint,
)
from tracking.models import Customer


@dataclass
class DeliveryCounts:
    pending: int = 0  # waiting for their first attempt or a retry
    retrying: int = 0  # pending with at least one failed attempt
    dead: int = 0  # dead-lettered: retries gave up (replayable)
    delivered: int = 0


@dataclass
class DestinationExport:
    destination: SftpDestination
    last_export: Export | None  # the newest export, uploaded or still pending


@dataclass
class CustomerOverview:
    customer: Customer
    endpoints: list[WebhookEndpoint] = field(default_factory=list)
    deliveries: DeliveryCounts = field(default_factory=DeliveryCounts)
    destinations: list[DestinationExport] = field(default_factory=list)

    @property
    def failing_endpoints(self) -> int:
        return sum(1 for e in self.endpoints if e.is_active and e.failing_since)

    @property
    def disabled_endpoints(self) -> int:
        return sum(1 for e in self.endpoints if not e.is_active)


def _delivery_counts_by_customer() -> dict[int, DeliveryCounts]:
    rows = (
        Delivery.objects.filter(kind=DeliveryKind.EVENTS)
        .values("customer_id")
        .annotate(
            pending=Count("id", filter=Q(status=DeliveryStatus.PENDING)),
            retrying=Count("id", filter=Q(status=DeliveryStatus.PENDING, attempt_count__gt=0)),
            dead=Count("id", filter=Q(status=DeliveryStatus.DEAD)),
            delivered=Count("id", filter=Q(status=DeliveryStatus.DELIVERED)),
        )
        .order_by()
    )
    return {
        row["customer_id"]: DeliveryCounts(
            pending=row["pending"], retrying=row["retrying"], dead=row["dead"], delivered=row["delivered"]
        )
        for row in rows
    }


def _last_exports(destination_ids: list[int]) -> dict[int, Export]:
    latest_ids = (
        Export.objects.filter(destination_id__in=destination_ids)
        .values("destination_id")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    exports = Export.objects.filter(id__in=list(latest_ids)).defer("content")
    return {export.destination_id: export for export in exports}


def customers_overview() -> list[CustomerOverview]:
    """Customers that have endpoints, deliveries or destinations (others have nothing to show)."""
    counts = _delivery_counts_by_customer()
    endpoints: dict[int, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in WebhookEndpoint.objects.filter(unsubscribed_at__isnull=True).order_by(
        "customer_id", "created_at", "id"
    ):
        endpoints[endpoint.customer_id].append(endpoint)
    destinations: dict[int, list[SftpDestination]] = defaultdict(list)
    for destination in SftpDestination.objects.order_by("customer_id", "name"):
        destinations[destination.customer_id].append(destination)
    last = _last_exports([d.pk for ds in destinations.values() for d in ds])
    customer_ids = set(counts) | set(endpoints) | set(destinations)
    overview = []
    for customer in Customer.objects.filter(pk__in=customer_ids).order_by("name", "pk"):
        overview.append(
            CustomerOverview(
                customer=customer,
                endpoints=endpoints.get(customer.pk, []),
                deliveries=counts.get(customer.pk, DeliveryCounts()),
                destinations=[
                    DestinationExport(destination=d, last_export=last.get(d.pk))
                    for d in destinations.get(customer.pk, [])
                ],
            )
        )
    return overview


def delivery_status_counts() -> dict[tuple[str, str], int]:
    """(status, kind) → deliveries currently stored."""
    rows = Delivery.objects.values("status", "kind").annotate(n=Count("id")).order_by()
    counts = {(status, kind): 0 for status in DeliveryStatus.values for kind in DeliveryKind.values}
    for row in rows:
        counts[(row["status"], row["kind"])] = row["n"]
    return counts


def endpoint_window_deliveries(
    *, endpoint: WebhookEndpoint, since: datetime, until: datetime | None = None
) -> tuple[QuerySet[Delivery], dict[str, int]]:
    """Event deliveries of ``endpoint`` created in [since, until), and their counts by status."""
    window = Delivery.objects.filter(endpoint=endpoint, kind=DeliveryKind.EVENTS, created_at__gte=since)
    if until is not None:
        window = window.filter(created_at__lt=until)
    by_status = {status: 0 for status in DeliveryStatus.values}
    for row in window.values("status").annotate(n=Count("id")).order_by():
        by_status[row["status"]] = row["n"]
    return window, by_status


@dataclass
class ExportLag:
    seconds: float  # since beat last started the destination's export run (or since creation)
    failing: bool  # the last run recorded an error after the last successful upload


def export_lags(*, now: datetime) -> dict[str, ExportLag]:
    """Per enabled destination ('account number/name'): how late its export runs are."""
    result = {}
    for destination in SftpDestination.objects.filter(enabled=True).select_related("customer", "periodic_task"):
        task = destination.periodic_task
        since = (task.last_run_at if task is not None else None) or destination.created_at
        failing = destination.last_error_at is not None and (
            destination.last_export_at is None or destination.last_error_at > destination.last_export_at
        )
        result[f"{destination.customer.account_number}/{destination.name}"] = ExportLag(
            seconds=max((now - since).total_seconds(), 0.0), failing=failing
        )
    return result


@dataclass
class EndpointQueue:
    pending: int = 0
    retrying: int = 0  # pending after at least one failed attempt
    dead: int = 0
    oldest_pending_at: datetime | None = None  # when the oldest waiting delivery was created


def endpoint_queues() -> dict[int, EndpointQueue]:
    """Per endpoint: event deliveries waiting (and since when) and dead-lettered, in one query."""
    rows = (
        Delivery.objects.filter(kind=DeliveryKind.EVENTS, status__in=[DeliveryStatus.PENDING, DeliveryStatus.DEAD])
        .values("endpoint_id")
        .annotate(
            pending=Count("id", filter=Q(status=DeliveryStatus.PENDING)),
            retrying=Count("id", filter=Q(status=DeliveryStatus.PENDING, attempt_count__gt=0)),
            dead=Count("id", filter=Q(status=DeliveryStatus.DEAD)),
            oldest=Min("created_at", filter=Q(status=DeliveryStatus.PENDING)),
        )
    )
    return {
        row["endpoint_id"]: EndpointQueue(
            pending=row["pending"], retrying=row["retrying"], dead=row["dead"], oldest_pending_at=row["oldest"]
        )
        for row in rows
    }


def endpoints_listed() -> list[WebhookEndpoint]:
    """Every subscribed endpoint (unsubscribed ones left out), with its customer, for the dashboard."""
    return list(
        WebhookEndpoint.objects.filter(unsubscribed_at__isnull=True)
        .select_related("customer")
        .order_by("customer__name", "url")
    )


def attempts_per_hour(*, since: datetime) -> dict[int, dict[datetime, tuple[int, int, float]]]:
    """Per endpoint and hour: (attempts, failed attempts, mean latency in ms), test sends left out."""
    rows = (
        DeliveryAttempt.objects.filter(started_at__gte=since.replace(minute=0, second=0, microsecond=0))
        .exclude(delivery__kind=DeliveryKind.TEST)
        .annotate(hour=TruncHour("started_at"))
        .values("delivery__endpoint_id", "hour")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(succeeded=False)), latency=Avg("latency_ms"))
        .order_by()
    )
    result: dict[int, dict[datetime, tuple[int, int, float]]] = defaultdict(dict)
    for row in rows:
        hour = row["hour"].replace(minute=0, second=0, microsecond=0)
        result[row["delivery__endpoint_id"]][hour] = (row["n"], row["failed"], float(row["latency"] or 0.0))
    return dict(result)
