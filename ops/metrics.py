"""``GET /metrics``: Prometheus text format, read from the database at scrape time.

One custom collector (``DatabaseCollector``) asks the apps' read-only health
selectors for counts on every scrape, so every web process reports the same
numbers and nothing has to be incremented on the hot path. The numbers are
state, so almost all are gauges:

- ``gluey_events_recorded{carrier}`` — events stored;
- ``gluey_events_recorded_last_hour{carrier}``;
- ``gluey_event_freshness_seconds{carrier}`` — histogram of carrier event time →
  recorded time over events recorded in the last hour (a snapshot per scrape:
  use ``histogram_quantile`` on it directly, without ``rate()``);
- ``gluey_inbound_messages{carrier,status}``;
- ``gluey_unmapped_codes{carrier}``;
- ``gluey_deliveries{status,kind}``;
- ``gluey_poll_due_items{carrier}``, ``gluey_poll_lag_seconds{carrier}`` — how long
  the most overdue tracked item has waited for its check;
- ``gluey_carrier_backoff_seconds{carrier}`` — remaining back-off;
- ``gluey_sftp_fetch_lag_seconds{carrier}`` — since beat last started the fetch;
- ``gluey_sftp_export_lag_seconds{destination}``, ``gluey_sftp_export_failing{destination}``;
- ``gluey_beat_heartbeat_age_seconds``.

django-celery-beat writes ``last_run_at`` back every few minutes, so the sFTP
lags can read up to that much high; alert on several intervals, not one.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from carriers import health as carriers_health
from gluey.tasks import HEARTBEAT_KEY
from notifications import health as notifications_health
from tracking import health as tracking_health


class DatabaseCollector(Collector):
    """Reads every metric from the database when Prometheus scrapes."""

    def __init__(self, now: datetime | None = None) -> None:
        self._now = now  # fixed clock for tests; None = the time of each scrape

    def collect(self) -> Iterator[Metric]:
        now = self._now or timezone.now()

        totals = tracking_health.events_recorded_totals()
        stored = GaugeMetricFamily("gluey_events_recorded", "Tracking events stored, per carrier.", labels=["carrier"])
        for carrier, count in sorted(totals.items()):
            stored.add_metric([carrier], count)
        yield stored

        last_hour = GaugeMetricFamily(
            "gluey_events_recorded_last_hour",
            "Tracking events recorded in the last hour, per carrier.",
            labels=["carrier"],
        )
        freshness = tracking_health.freshness_histograms(since=now - timedelta(hours=1))
        for carrier in sorted(set(totals) | set(freshness)):
            last_hour.add_metric([carrier], freshness[carrier].count if carrier in freshness else 0)
        yield last_hour

        histogram = HistogramMetricFamily(
            "gluey_event_freshness_seconds",
            "Carrier event time to recorded time of events recorded in the last hour "
            "(a snapshot per scrape, not a cumulative counter).",
            labels=["carrier"],
        )
        for carrier, fresh in sorted(freshness.items()):
            buckets = [(floatToGoString(b), c) for b, c in zip(tracking_health.FRESHNESS_BUCKETS, fresh.cumulative)]
            buckets.append(("+Inf", fresh.count))
            histogram.add_metric([carrier], buckets, sum_value=fresh.sum_seconds)
        yield histogram

        inbound = GaugeMetricFamily(
            "gluey_inbound_messages", "Inbound messages stored, per carrier and status.", labels=["carrier", "status"]
        )
        for carrier, counts in sorted(carriers_health.inbound_counts().items()):
            for status, count in sorted(counts.by_status.items()):
                inbound.add_metric([carrier, status], count)
        yield inbound

        unmapped = GaugeMetricFamily(
            "gluey_unmapped_codes", "Carrier codes seen without a mapping, per carrier.", labels=["carrier"]
        )
        for carrier, summary in sorted(tracking_health.unmapped_code_counts().items()):
            unmapped.add_metric([carrier], summary.codes)
        yield unmapped

        deliveries = GaugeMetricFamily(
            "gluey_deliveries", "Webhook deliveries stored, per status and kind.", labels=["status", "kind"]
        )
        for (status, kind), count in sorted(notifications_health.delivery_status_counts().items()):
            deliveries.add_metric([status, kind], count)
        yield deliveries

        due = GaugeMetricFamily("gluey_poll_due_items", "Tracked items whose poll time has passed.", labels=["carrier"])
        lag = GaugeMetricFamily(
            "gluey_poll_lag_seconds",
            "How long the most overdue tracked item has waited for its poll.",
            labels=["carrier"],
        )
        for carrier, schedule in sorted(tracking_health.poll_schedules(now=now).items()):
            due.add_metric([carrier], schedule.due)
            lag.add_metric([carrier], schedule.lag_seconds)
        yield due
        yield lag

        backoff = GaugeMetricFamily(
            "gluey_carrier_backoff_seconds", "Seconds left of a carrier's polling back-off.", labels=["carrier"]
        )
        fetch_lag = GaugeMetricFamily(
            "gluey_sftp_fetch_lag_seconds",
            "Seconds since beat last started the carrier's sFTP fetch (enabled fetches only).",
            labels=["carrier"],
        )
        for overview in carriers_health.carriers_overview(now=now):
            remaining = (overview.backoff_until - now).total_seconds() if overview.backoff_until else 0.0
            backoff.add_metric([overview.id], remaining)
            if overview.sftp is not None and overview.sftp.enabled:
                since = overview.sftp.last_run_at or overview.carrier.created_at
                fetch_lag.add_metric([overview.id], max((now - since).total_seconds(), 0.0))
        yield backoff
        yield fetch_lag

        export_lag = GaugeMetricFamily(
            "gluey_sftp_export_lag_seconds",
            "Seconds since beat last started the destination's export run.",
            labels=["destination"],
        )
        export_failing = GaugeMetricFamily(
            "gluey_sftp_export_failing",
            "1 when the destination's last export run failed after its last successful upload.",
            labels=["destination"],
        )
        for destination, state in sorted(notifications_health.export_lags(now=now).items()):
            export_lag.add_metric([destination], state.seconds)
            export_failing.add_metric([destination], 1 if state.failing else 0)
        yield export_lag
        yield export_failing

        heartbeat = GaugeMetricFamily(
            "gluey_beat_heartbeat_age_seconds", "Seconds since beat's heartbeat task last ran (absent: never)."
        )
        raw = cache.get(HEARTBEAT_KEY)
        if raw is not None:
            try:
                heartbeat.add_metric([], max((now - datetime.fromisoformat(str(raw))).total_seconds(), 0.0))
            except ValueError:
                pass
        yield heartbeat


def render(*, now: datetime | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(now=now))
    return generate_latest(registry)


def bearer_token_matches(request: HttpRequest, *, token: str) -> bool:
    """True when the request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_http_methods(["GET", "HEAD"])
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The counts describe every carrier and customer: only a scraper holding METRICS_TOKEN reads them."""
    if not bearer_token_matches(request, token=settings.METRICS_TOKEN):
        detail = (
            "Send Authorization: Bearer <METRICS_TOKEN>."
            if settings.METRICS_TOKEN
            else "Metrics are off: set METRICS_TOKEN."
        )
        response = JsonResponse({"detail": detail}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
