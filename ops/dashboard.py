"""The ops dashboard: tracking health per carrier and per customer, in the Django admin.

Mounted at ``/admin/ops/`` (see ``ops.urls``); every view goes through
``admin.site.admin_view``, so only active staff get in (others are sent to the
admin login, which refuses non-staff). Actions that change something also
need the matching model permission.

This module composes the apps' read-only selectors (``carriers.health``,
``tracking.health``, ``notifications.health``) into rows and SVG pictures; the
action views live in ``ops.views``. Like the rest of the ops app it sits above
the other apps: they never import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from carriers import health as carriers_health
from gluey.health import run_checks
from notifications import health as notifications_health
from ops import charts
from tracking import health as tracking_health

HOURS = 24
POLL_LAG_WARN_SECONDS = 15 * 60


@dataclass
class CarrierRow:
    overview: Any  # carriers.health.CarrierOverview
    state: str
    state_label: str
    last_event_at: datetime | None
    last_inbound_at: datetime | None
    events_day: int
    events_chart: SafeString
    freshness: Any  # tracking.health.Freshness | None
    freshness_chart: SafeString
    inbound_failed: int
    inbound_pending: int
    unmapped_codes: int
    unmapped_events: int
    poll: Any  # tracking.health.PollSchedule | None
    links: dict[str, str]

    @property
    def dot(self) -> SafeString:
        return charts.dot(self.state, label=self.state_label)


@dataclass
class CustomerRow:
    overview: Any  # notifications.health.CustomerOverview
    state: str
    state_label: str
    deliveries_chart: SafeString
    links: dict[str, str]

    @property
    def dot(self) -> SafeString:
        return charts.dot(self.state, label=self.state_label)


def _carrier_state(
    *, failed: int, backoff: bool, last_error: bool, unmapped: int, poll_lag: float, enabled: bool
) -> tuple[str, str]:
    """The worst of the carrier's problems sets the colour; the label names them all."""
    if not enabled:
        return "idle", "disabled"
    problems = [text for bad, text in ((failed, f"{failed} failed inbound"), (backoff, "backing off")) if bad]
    warnings = [
        text
        for bad, text in (
            (unmapped, f"{unmapped} unmapped code(s)"),
            (poll_lag > POLL_LAG_WARN_SECONDS, "polls overdue"),
            (last_error, "error in the last hour"),
        )
        if bad
    ]
    state = "bad" if problems else "warn" if warnings else "ok"
    return state, "; ".join(problems + warnings) or "healthy"


def carrier_rows(*, now: datetime) -> list[CarrierRow]:
    hourly = tracking_health.events_per_hour(now=now, hours=HOURS)
    freshness = tracking_health.freshness_histograms(since=now - timedelta(hours=HOURS))
    last_events = tracking_health.last_event_recorded()
    unmapped = tracking_health.unmapped_code_counts()
    polls = tracking_health.poll_schedules(now=now)
    inbound = carriers_health.inbound_counts()
    empty_hours = [
        (now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1 - i), 0) for i in range(HOURS)
    ]

    rows = []
    for overview in carriers_health.carriers_overview(now=now):
        cid = overview.id
        series = hourly.get(cid, empty_hours)
        fresh = freshness.get(cid)
        counts = inbound.get(cid)
        failed = counts.failed if counts else 0
        codes = unmapped.get(cid)
        poll = polls.get(cid)
        recent_error = bool(
            overview.carrier.last_error_at and overview.carrier.last_error_at > now - timedelta(hours=1)
        )
        state, label = _carrier_state(
            failed=failed,
            backoff=overview.backoff_until is not None,
            last_error=recent_error,
            unmapped=codes.codes if codes else 0,
            poll_lag=poll.lag_seconds if poll else 0.0,
            enabled=overview.carrier.enabled,
        )
        fresh_counts = fresh.per_bucket if fresh else [0] * len(tracking_health.FRESHNESS_LABELS)
        rows.append(
            CarrierRow(
                overview=overview,
                state=state,
                state_label=label,
                last_event_at=last_events.get(cid),
                last_inbound_at=counts.last_received_at if counts else None,
                events_day=sum(n for _, n in series),
                events_chart=charts.bars(
                    [n for _, n in series],
                    labels=[f"{hour:%H:00}" for hour, _ in series],
                    title=f"{cid} events per hour, last {HOURS} h",
                ),
                freshness=fresh,
                freshness_chart=charts.bars(
                    fresh_counts,
                    labels=list(tracking_health.FRESHNESS_LABELS),
                    title=f"{cid} freshness (event time to recorded)",
                    width=84,
                    color=charts.COLORS["ok"],
                ),
                inbound_failed=failed,
                inbound_pending=counts.pending if counts else 0,
                unmapped_codes=codes.codes if codes else 0,
                unmapped_events=codes.events if codes else 0,
                poll=poll,
                links={
                    "carrier": reverse("admin:carriers_carrier_change", args=[cid]),
                    "failed": reverse("admin:carriers_inboundmessage_changelist")
                    + f"?status=failed&carrier__id__exact={cid}",
                    "unmapped": reverse("admin:tracking_unmappedcode_changelist") + f"?carrier__id__exact={cid}",
                    "mappings": reverse("admin:tracking_codemapping_changelist") + f"?carrier__id__exact={cid}",
                    "reprocess": reverse("ops:carrier-reprocess-failed", args=[cid]),
                    "reharmonise": reverse("ops:carrier-reharmonise", args=[cid]),
                    "sftp_test": reverse("ops:carrier-sftp-test", args=[cid]),
                },
            )
        )
    return rows


def customer_rows() -> list[CustomerRow]:
    rows = []
    for overview in notifications_health.customers_overview():
        d = overview.deliveries
        if overview.disabled_endpoints or d.dead:
            state = "bad"
        elif overview.failing_endpoints or d.retrying:
            state = "warn"
        else:
            state = "ok"
        label = (
            f"{overview.failing_endpoints} failing, {overview.disabled_endpoints} disabled endpoint(s); "
            f"{d.dead} dead-lettered"
        )
        rows.append(
            CustomerRow(
                overview=overview,
                state=state,
                state_label=label,
                deliveries_chart=charts.stacked(
                    [
                        ("pending", d.pending - d.retrying, charts.COLORS["bar"]),
                        ("retrying", d.retrying, charts.COLORS["warn"]),
                        ("dead-lettered", d.dead, charts.COLORS["bad"]),
                    ],
                    title=f"{overview.customer.name} deliveries waiting",
                ),
                links={
                    "customer": reverse("admin:tracking_customer_change", args=[overview.customer.pk]),
                    "deliveries": reverse("admin:notifications_delivery_changelist")
                    + f"?customer__id__exact={overview.customer.pk}",
                },
            )
        )
    return rows


def dashboard_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    shipment = tracking_health.shipment_for_timeline()
    context = {
        **admin.site.each_context(request),
        "title": "Ops dashboard",
        "now": now,
        "hours": HOURS,
        "health": run_checks(),
        "carriers": carrier_rows(now=now),
        "customers": customer_rows(),
        "timeline_url": reverse("admin:tracking_shipment_change", args=[shipment.pk]) if shipment else None,
    }
    for check in context["health"]["checks"].values():
        check["dot"] = charts.dot("ok" if check["ok"] else "bad", label="ok" if check["ok"] else "failing")
    return TemplateResponse(request, "admin/ops/dashboard.html", context)
