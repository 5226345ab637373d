"""The ops dashboard: what is wrong per carrier and per webhook endpoint, in the Django admin.

Mounted at ``/admin/ops/`` (see ``ops.urls``); every view goes through
``admin.site.admin_view`` (active staff only) and needs the view permissions
of what it shows (``DASHBOARD_PERMISSIONS``).

The page never shows green by mistake. A row's colour is the worst of the
problems its checks find, and its label names every one:

- ``CARRIER_CHECKS`` — functions of a ``CarrierFacts`` returning a ``Problem`` or None;
- ``ENDPOINT_CHECKS`` — the same for an ``EndpointFacts``;
- ``TILES`` — functions returning the summary tiles on top.

Each is a plain list so another part of the console can add a check or a tile
(e.g. a carrier API's quota, the retention figures) by appending one function
that reads its own selector. This module composes the apps' read-only
selectors (``carriers.health``, ``tracking.health``, ``notifications.health``);
the action views live in ``ops.views``. Like the rest of the ops app it sits
above the other apps: they never import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString

from carriers import health as carriers_health
from carriers.services.retention import retention_status
from gluey.health import run_checks
from notifications import health as notifications_health
from ops import charts
from tracking import health as tracking_health

HOURS = 24
# Due polls wait for the dispatcher's next tick (every minute); only this much lateness is a warning.
POLL_LAG_WARN_SECONDS = settings.OPS_POLL_LAG_WARN_SECONDS
# A failing endpoint's queue is a problem when its oldest delivery has waited longer than this.
QUEUE_AGE_BAD_SECONDS = settings.OPS_QUEUE_AGE_BAD_SECONDS
WINDOWS = {"24h": (24, 1), "7d": (24 * 7, 6)}  # hours shown, hours per bar
DASHBOARD_PERMISSIONS = ("carriers.view_carrier", "notifications.view_webhookendpoint")

RANK = {"ok": 0, "idle": 0, "warn": 1, "bad": 2}
# The legend printed on the page: every colour it uses and what it means.
LEGEND = [
    ("ok", "green: healthy, nothing to do"),
    (
        "warn",
        "orange: needs a look soon (stale, no events yet, unmapped codes, overdue polls, refused webhooks, retries)",
    ),
    ("bad", "red: broken now (no secret, failed inbound, back-off, endpoint disabled or stuck, dead letters)"),
    ("idle", "grey: disabled, or nothing has happened yet"),
]


@dataclass(frozen=True)
class Problem:
    level: str  # "warn" or "bad"
    text: str


def _state(problems: list[Problem], *, idle: bool = False) -> tuple[str, str]:
    if idle and not problems:
        return "idle", "disabled"
    if not problems:
        return "ok", "healthy"
    worst = max(problems, key=lambda p: RANK[p.level]).level
    return worst, "; ".join(p.text for p in sorted(problems, key=lambda p: -RANK[p.level]))


# --- Carriers ----------------------------------------------------------------------------------


@dataclass
class CarrierFacts:
    overview: Any  # carriers.health.CarrierOverview
    now: datetime
    has_secret: bool
    last_event_at: datetime | None
    last_inbound_at: datetime | None
    inbound: Any  # carriers.health.InboundCounts | None
    refusals: Any  # carriers.health.Refusals | None
    unmapped: Any  # tracking.health.UnmappedSummary | None
    poll: Any  # tracking.health.PollSchedule | None

    @property
    def id(self) -> str:
        return str(self.overview.id)


def check_webhook_secret(f: CarrierFacts) -> Problem | None:
    if "webhook" in f.overview.channels and not f.has_secret:
        return Problem("bad", "no webhook secret: every push is refused")
    return None


def check_never_events(f: CarrierFacts) -> Problem | None:
    return None if f.last_event_at else Problem("warn", "no events ever")


def check_stale(f: CarrierFacts) -> Problem | None:
    hours = settings.OPS_CARRIER_STALE_HOURS
    if f.last_event_at and f.overview.carrier.enabled and f.last_event_at < f.now - timedelta(hours=hours):
        return Problem("warn", f"stale: no event for {(f.now - f.last_event_at).total_seconds() / 3600:.0f} h")
    return None


def check_refused(f: CarrierFacts) -> Problem | None:
    if not f.refusals or not f.refusals.count:
        return None
    statuses = ", ".join(f"{n}×{status}" for status, n in sorted(f.refusals.by_status.items()))
    text = f"{f.refusals.count} webhook(s) refused in {HOURS} h ({statuses}): {f.refusals.last_reason}"
    accepted_since = f.last_inbound_at and f.refusals.last_at and f.last_inbound_at > f.refusals.last_at
    return Problem("warn" if accepted_since else "bad", text)


def check_failed_inbound(f: CarrierFacts) -> Problem | None:
    failed = f.inbound.failed if f.inbound else 0
    return Problem("bad", f"{failed} failed inbound") if failed else None


def check_backoff(f: CarrierFacts) -> Problem | None:
    return Problem("bad", "polling backing off") if f.overview.backoff_until else None


def check_unmapped(f: CarrierFacts) -> Problem | None:
    return Problem("warn", f"{f.unmapped.codes} unmapped code(s)") if f.unmapped and f.unmapped.codes else None


def check_polls_overdue(f: CarrierFacts) -> Problem | None:
    if f.poll and f.poll.due and f.poll.lag_seconds > POLL_LAG_WARN_SECONDS:
        return Problem("warn", f"{f.poll.due} poll(s) overdue by up to {f.poll.lag_seconds / 60:.0f} min")
    return None


def check_recent_error(f: CarrierFacts) -> Problem | None:
    at = f.overview.carrier.last_error_at
    return Problem("warn", "carrier API error in the last hour") if at and at > f.now - timedelta(hours=1) else None


def check_api_alert(f: CarrierFacts) -> Problem | None:
    # Set by carriers' poller on a carrier-wide refusal (credentials refused after a fresh token, plan blocked).
    alert = f.overview.carrier.poll_alert
    return Problem("bad", alert) if alert else None


def check_api_budget(f: CarrierFacts) -> Problem | None:
    # Set by carriers' dispatcher when the registered numbers want more calls than the carrier's quota allows.
    warning = f.overview.carrier.quota_warning
    return Problem("warn", f"API budget short: {warning}") if warning else None


CARRIER_CHECKS: list[Callable[[CarrierFacts], Problem | None]] = [
    check_webhook_secret,
    check_never_events,
    check_stale,
    check_refused,
    check_failed_inbound,
    check_backoff,
    check_unmapped,
    check_polls_overdue,
    check_recent_error,
    check_api_alert,
    check_api_budget,
]


@dataclass
class CarrierRow:
    facts: CarrierFacts
    state: str
    state_label: str
    problems: list[Problem]
    charts: list[SafeString]
    freshness_chart: SafeString
    events_total: int
    links: dict[str, str]

    @property
    def overview(self) -> Any:
        return self.facts.overview

    @property
    def dot(self) -> SafeString:
        return charts.dot(self.state, label=self.state_label)

    @property
    def poll_on_schedule(self) -> bool:
        poll = self.facts.poll
        return not (poll and poll.due and poll.lag_seconds > POLL_LAG_WARN_SECONDS)


def _slots(now: datetime, hours: int, step: int) -> list[datetime]:
    last = now.replace(minute=0, second=0, microsecond=0)
    first = last - timedelta(hours=hours - 1)
    return [first + timedelta(hours=h) for h in range(0, hours, step)]


def _bucket(
    by_hour: dict[datetime, Any], slots: list[datetime], step: int, combine: Callable[[list[Any]], float]
) -> list[float]:
    return [
        combine([by_hour[s + timedelta(hours=h)] for h in range(step) if s + timedelta(hours=h) in by_hour])
        for s in slots
    ]


def _label(slot: datetime, step: int) -> str:
    return f"{timezone.localtime(slot):%H:00}" if step == 1 else f"{timezone.localtime(slot):%d %b %H:00}"


def carrier_rows(*, now: datetime, window: str = "24h") -> list[CarrierRow]:
    hours, step = WINDOWS[window]
    since = now - timedelta(hours=hours)
    slots = _slots(now, hours, step)
    labels = [_label(s, step) for s in slots]
    events = tracking_health.events_per_hour(now=now, hours=hours)
    latency = tracking_health.event_latency_per_hour(since=since)
    inbound_series = carriers_health.inbound_per_hour(since=since)
    freshness = tracking_health.freshness_histograms(since=now - timedelta(hours=HOURS))
    last_events = tracking_health.last_event_recorded()
    unmapped = tracking_health.unmapped_code_counts()
    polls = tracking_health.poll_schedules(now=now)
    inbound = carriers_health.inbound_counts()
    refusals = carriers_health.webhook_refusals(since=now - timedelta(hours=HOURS))

    rows = []
    for overview in carriers_health.carriers_overview(now=now):
        cid = overview.id
        counts = inbound.get(cid)
        facts = CarrierFacts(
            overview=overview,
            now=now,
            has_secret=bool(overview.carrier.webhook_secret),
            last_event_at=last_events.get(cid),
            last_inbound_at=counts.last_received_at if counts else None,
            inbound=counts,
            refusals=refusals.get(cid),
            unmapped=unmapped.get(cid),
            poll=polls.get(cid),
        )
        problems = [p for check in CARRIER_CHECKS if (p := check(facts)) is not None]
        state, label = _state(problems, idle=not overview.carrier.enabled)
        if not overview.carrier.enabled:
            state, label = "idle", "disabled" + (f" ({label})" if problems else "")
        volume = _bucket(dict(events.get(cid, [])), slots, step, sum)
        received = inbound_series.get(cid, {})
        totals = _bucket({h: v[0] for h, v in received.items()}, slots, step, sum)
        failed = _bucket({h: v[1] for h, v in received.items()}, slots, step, sum)
        failure_rate = [round(100 * f / t, 1) if t else 0.0 for f, t in zip(failed, totals, strict=True)]
        lag = _bucket(latency.get(cid, {}), slots, step, lambda xs: sum(xs) / len(xs) / 60 if xs else 0.0)
        fresh = freshness.get(cid)
        rows.append(
            CarrierRow(
                facts=facts,
                state=state,
                state_label=label,
                problems=problems,
                charts=[
                    charts.axis_bars(volume, labels=labels, title="events recorded"),
                    charts.axis_bars(
                        lag, labels=labels, title="event → recorded", unit=" min", color=charts.COLORS["ok"]
                    ),
                    charts.axis_bars(
                        failure_rate, labels=labels, title="inbound failed", unit="%", color=charts.COLORS["bad"]
                    ),
                ],
                freshness_chart=charts.bars(
                    fresh.per_bucket if fresh else [0] * len(tracking_health.FRESHNESS_LABELS),
                    labels=list(tracking_health.FRESHNESS_LABELS),
                    title=f"{cid} freshness (event time to recorded)",
                    width=84,
                    color=charts.COLORS["ok"],
                ),
                events_total=int(sum(volume)),
                links={
                    "carrier": reverse("admin:carriers_carrier_change", args=[cid]),
                    "inbound": reverse("admin:carriers_inboundmessage_changelist") + f"?carrier__id__exact={cid}",
                    "failed": reverse("admin:carriers_inboundmessage_changelist")
                    + f"?status=failed&carrier__id__exact={cid}",
                    "refused": reverse("admin:carriers_webhookrefusal_changelist") + f"?carrier__id__exact={cid}",
                    "unmapped": reverse("admin:tracking_unmappedcode_changelist") + f"?carrier__id__exact={cid}",
                    "mappings": reverse("admin:tracking_codemapping_changelist") + f"?carrier__id__exact={cid}",
                    "reprocess": reverse("ops:carrier-reprocess-failed", args=[cid]),
                    "reharmonise": reverse("ops:carrier-reharmonise", args=[cid]),
                    "sftp_test": reverse("ops:carrier-sftp-test", args=[cid]),
                },
            )
        )
    return rows


# --- Webhook endpoints ---------------------------------------------------------------------------


@dataclass
class EndpointFacts:
    endpoint: Any  # notifications.models.WebhookEndpoint
    queue: Any  # notifications.health.EndpointQueue
    now: datetime

    @property
    def oldest_age_seconds(self) -> float:
        oldest = self.queue.oldest_pending_at
        return (self.now - oldest).total_seconds() if oldest else 0.0


def check_endpoint_disabled(f: EndpointFacts) -> Problem | None:
    if f.endpoint.is_active:
        return None
    return Problem("bad", f"disabled: {f.endpoint.disabled_reason or 'by staff'}")


def check_endpoint_failing(f: EndpointFacts) -> Problem | None:
    if not (f.endpoint.is_active and f.endpoint.failing_since):
        return None
    level = "bad" if f.oldest_age_seconds > QUEUE_AGE_BAD_SECONDS else "warn"
    return Problem(level, f"failing ({f.endpoint.consecutive_failures} failure(s)): {f.endpoint.last_error}")


def check_dead_letters(f: EndpointFacts) -> Problem | None:
    return Problem("bad", f"{f.queue.dead} dead-lettered") if f.queue.dead else None


ENDPOINT_CHECKS: list[Callable[[EndpointFacts], Problem | None]] = [
    check_endpoint_disabled,
    check_endpoint_failing,
    check_dead_letters,
]


@dataclass
class EndpointRow:
    facts: EndpointFacts
    state: str
    state_label: str
    problems: list[Problem]
    charts: list[SafeString]
    links: dict[str, str]

    @property
    def endpoint(self) -> Any:
        return self.facts.endpoint

    @property
    def queue(self) -> Any:
        return self.facts.queue

    @property
    def dot(self) -> SafeString:
        return charts.dot(self.state, label=self.state_label)

    @property
    def can_retry_now(self) -> bool:
        return bool(
            self.endpoint.is_active and self.queue.pending and (self.endpoint.failing_since or self.endpoint.retry_at)
        )


def endpoint_rows(*, now: datetime, window: str = "24h") -> list[EndpointRow]:
    hours, step = WINDOWS[window]
    slots = _slots(now, hours, step)
    labels = [_label(s, step) for s in slots]
    queues = notifications_health.endpoint_queues()
    attempts = notifications_health.attempts_per_hour(since=now - timedelta(hours=hours))
    rows = []
    for endpoint in notifications_health.endpoints_listed():
        facts = EndpointFacts(
            endpoint=endpoint, queue=queues.get(endpoint.pk, notifications_health.EndpointQueue()), now=now
        )
        problems = [p for check in ENDPOINT_CHECKS if (p := check(facts)) is not None]
        state, label = _state(problems)
        series = attempts.get(endpoint.pk, {})
        sent = _bucket({h: v[0] for h, v in series.items()}, slots, step, sum)
        failed = _bucket({h: v[1] for h, v in series.items()}, slots, step, sum)
        latency = _bucket(
            {h: v[2] for h, v in series.items()}, slots, step, lambda xs: sum(xs) / len(xs) if xs else 0.0
        )
        rows.append(
            EndpointRow(
                facts=facts,
                state=state,
                state_label=label,
                problems=problems,
                charts=[
                    charts.axis_bars(sent, labels=labels, title="attempts"),
                    charts.axis_bars(latency, labels=labels, title="latency", unit=" ms", color=charts.COLORS["ok"]),
                    charts.axis_bars(
                        [round(100 * f / t, 1) if t else 0.0 for f, t in zip(failed, sent, strict=True)],
                        labels=labels,
                        title="attempts failed",
                        unit="%",
                        color=charts.COLORS["bad"],
                    ),
                ],
                links={
                    "endpoint": reverse("admin:notifications_webhookendpoint_change", args=[endpoint.pk]),
                    "customer": reverse("admin:tracking_customer_change", args=[endpoint.customer_id]),
                    "deliveries": reverse("admin:notifications_delivery_changelist")
                    + f"?endpoint__id__exact={endpoint.pk}",
                    "pending": reverse("admin:notifications_delivery_changelist")
                    + f"?endpoint__id__exact={endpoint.pk}&status__exact=pending",
                    "dead": reverse("admin:notifications_delivery_changelist")
                    + f"?endpoint__id__exact={endpoint.pk}&status__exact=dead",
                    "retry_now": reverse("ops:endpoint-retry-now", args=[endpoint.pk]),
                },
            )
        )
    return rows


def destination_rows() -> list[Any]:
    """Each customer's sFTP destinations with their last export (``notifications.health.DestinationExport``)."""
    return [d for overview in notifications_health.customers_overview() for d in overview.destinations]


# --- Tiles on top ------------------------------------------------------------------------------------


@dataclass
class Tile:
    label: str
    value: str
    state: str
    link: str = ""
    note: str = ""

    @property
    def dot(self) -> SafeString:
        return charts.dot(self.state, label=f"{self.label}: {self.value}")


@dataclass
class Page:
    now: datetime
    window: str
    carriers: list[CarrierRow] = field(default_factory=list)
    endpoints: list[EndpointRow] = field(default_factory=list)


def tile_carriers(page: Page) -> Tile:
    bad = [r for r in page.carriers if r.state in ("bad", "warn")]
    worst = max((RANK[r.state] for r in bad), default=0)
    return Tile("carriers needing a look", f"{len(bad)} of {len(page.carriers)}", ["ok", "warn", "bad"][worst])


def tile_endpoints(page: Page) -> Tile:
    bad = [r for r in page.endpoints if r.state in ("bad", "warn")]
    worst = max((RANK[r.state] for r in bad), default=0)
    return Tile("endpoints failing or disabled", f"{len(bad)} of {len(page.endpoints)}", ["ok", "warn", "bad"][worst])


def tile_queue(page: Page) -> Tile:
    pending = sum(r.queue.pending for r in page.endpoints)
    oldest = min((r.queue.oldest_pending_at for r in page.endpoints if r.queue.oldest_pending_at), default=None)
    age = (page.now - oldest).total_seconds() if oldest else 0.0
    state = "bad" if age > QUEUE_AGE_BAD_SECONDS else "warn" if age > 5 * 60 else "ok"
    note = f"oldest waiting {age / 60:.0f} min" if oldest else "nothing waiting"
    return Tile(
        "deliveries waiting",
        str(pending),
        state,
        reverse("admin:notifications_delivery_changelist") + "?status__exact=pending",
        note,
    )


def tile_refused(page: Page) -> Tile:
    count = sum(r.facts.refusals.count for r in page.carriers if r.facts.refusals)
    return Tile(
        f"webhooks refused, {HOURS} h",
        str(count),
        "warn" if count else "ok",
        reverse("admin:carriers_webhookrefusal_changelist"),
    )


def tile_retention(page: Page) -> Tile:
    """Raw inbound rows past their retention, and the nightly purge's last run (README: Retention)."""
    status = retention_status(now=page.now)
    waiting = sum(status["past_retention"].values())
    last = status["last_run"]
    if last:
        ran = datetime.fromisoformat(last["started_at"])
        note = f"last purge {ran:%Y-%m-%d %H:%M} UTC deleted {sum(last['deleted'].values())} in {last['seconds']:g} s"
        stale = page.now - ran > timedelta(days=2)
    else:
        note, stale = "no purge has run yet (nightly, 03:37 UTC)", True
    note += f"; {status['inbound_messages']} inbound messages, {status['sftp_files']} sFTP ledger rows kept"
    return Tile("inbound rows past retention", str(waiting), "warn" if waiting and stale else "ok", "", note)


TILES: list[Callable[[Page], Tile]] = [tile_carriers, tile_endpoints, tile_queue, tile_refused, tile_retention]


def dashboard_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perms(DASHBOARD_PERMISSIONS):
        raise PermissionDenied(f"the dashboard needs: {', '.join(DASHBOARD_PERMISSIONS)}")
    now = timezone.now()
    window = request.GET.get("window", "24h")
    if window not in WINDOWS:
        window = "24h"
    page = Page(
        now=now,
        window=window,
        carriers=carrier_rows(now=now, window=window),
        endpoints=endpoint_rows(now=now, window=window),
    )
    shipment = tracking_health.shipment_for_timeline()
    health = run_checks()
    for check in health["checks"].values():
        check["dot"] = charts.dot("ok" if check["ok"] else "bad", label="ok" if check["ok"] else "failing")
    context = {
        **admin.site.each_context(request),
        "title": "Ops dashboard",
        "now": now,
        "hours": HOURS,
        "window": window,
        "windows": list(WINDOWS),
        "health": health,
        "tiles": [tile(page) for tile in TILES],
        "carriers": page.carriers,
        "endpoints": page.endpoints,
        "destinations": destination_rows(),
        "legend": [(charts.dot(state, label=text), text) for state, text in LEGEND],
        "timeline_url": reverse("admin:tracking_shipment_change", args=[shipment.pk]) if shipment else None,
    }
    return TemplateResponse(request, "admin/ops/dashboard.html", context)
