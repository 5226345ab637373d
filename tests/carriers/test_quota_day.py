"""A day of polling on a fake clock: the dispatcher and the poll tasks run minute by
minute, the carrier's API is ``responses``, and we count what was sent when.

Short budget (DHL starter plan: 250 calls a day at 1/s, 10 per shipment a day,
for 30 active shipments that would like a call every 15 minutes): no limit is
ever exceeded, every shipment is still polled regularly, and ops are told the
budget is short. Ample budget (FedEx): every shipment is polled within its
15-minute interval and nobody is warned.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from django.core.cache import cache
from django.utils import timezone

from carriers.models import Carrier
from carriers.services.polling import RateLimited, poll_batch_run, poll_dispatch
from tests.factories import make_carrier
from tracking.services import shipment_register

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DHL, FEDEX = "https://dhl.test", "https://fedex.test"


def dhl_reply(request):
    number = parse_qs(urlparse(request.url).query)["trackingNumber"][0]
    body = {
        "shipments": [
            {
                "id": number,
                "service": "express",
                "status": {"timestamp": "2026-12-01T08:00:00+01:00", "statusCode": "transit"},
                "events": [
                    {"timestamp": "2026-12-01T08:00:00+01:00", "statusCode": "transit", "description": "Processed"}
                ],
            }
        ]
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(body)


def fedex_reply(request):
    numbers = [t["trackingNumberInfo"]["trackingNumber"] for t in json.loads(request.body)["trackingInfo"]]
    results = [
        {
            "trackingNumber": n,
            "trackResults": [
                {
                    "trackingNumberInfo": {"trackingNumber": n},
                    "scanEvents": [{"date": "2026-12-01T08:00:00-06:00", "eventType": "IT", "scanLocation": {}}],
                }
            ],
        }
        for n in numbers
    ]
    return 200, {"Content-Type": "application/json"}, json.dumps({"output": {"completeTrackResults": results}})


def run_day(
    carrier: Carrier, rsps: responses.RequestsMock, start: datetime, capture
) -> list[tuple[datetime, list[int]]]:
    """Every minute: dispatch, then run each queued batch a second apart (a rate-limited one retries later)."""
    sent: list[tuple[datetime, list[int]]] = []
    waiting: list[tuple[datetime, list[int]]] = []
    for minute in range(24 * 60):
        now = start + timedelta(minutes=minute)
        queued: list[list[int]] = []
        with capture(execute=True):  # the dispatcher queues batches after its transaction commits
            poll_dispatch(now=now, enqueue=lambda _c, ids: queued.append(ids))  # noqa: B023 - called in this iteration
        due = [w for w in waiting if w[0] <= now + timedelta(seconds=59)]
        waiting = [w for w in waiting if w not in due]
        batches = [(now, ids) for ids in queued] + due
        for offset, (at, ids) in enumerate(batches):
            when = max(at, now + timedelta(seconds=offset))
            before = len(rsps.calls)
            try:
                poll_batch_run(carrier_id=carrier.pk, item_ids=ids, now=when)
            except RateLimited as limited:
                waiting.append((when + timedelta(seconds=max(1.0, limited.wait)), ids))
                continue
            # Token requests are counted by the quota too; here only track calls go out after the first.
            sent.extend((when, ids) for _ in range(len(rsps.calls) - before))
    return sent


def test_a_day_on_dhl_s_starter_plan_stays_within_every_limit_and_polls_everyone(
    acme, django_capture_on_commit_callbacks
):
    carrier = make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k", poll_interval_minutes=15)
    numbers = [f"{n:010d}" for n in range(1_000_000_000, 1_000_000_030)]
    items = {}
    for number in numbers:
        shipment, _ = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id=number)
        items[shipment.tracked_item_id] = number
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, f"{DHL}/track/shipments", callback=dhl_reply)
        sent = run_day(carrier, rsps, start, django_capture_on_commit_callbacks)

    per_second = Counter(at.replace(microsecond=0) for at, _ in sent)
    per_item = Counter(i for _, ids in sent for i in ids)
    assert len(sent) <= 250  # the day's budget
    assert max(per_second.values()) <= 1  # 1 call a second, never a burst
    assert max(per_item.values()) <= 10  # DHL's 10 fetches per shipment a day
    # Everyone is polled all day long, about every 3 hours (the budget spread over 30 shipments).
    times = defaultdict(list)
    for at, ids in sent:
        for i in ids:
            times[i].append(at)
    assert set(times) == set(items)
    for polled in times.values():
        gaps = [b - a for a, b in pairwise(polled)]
        assert len(polled) >= 6 and max(gaps) <= timedelta(hours=4)
    carrier.refresh_from_db()
    assert carrier.poll_stretch > 1 and "the budget allows 250" in carrier.quota_warning


def test_a_day_with_an_ample_budget_polls_every_shipment_within_its_interval(acme, django_capture_on_commit_callbacks):
    carrier = make_carrier(
        "fedex", adapter="fedex", base_url=FEDEX, client_id="c", client_secret="s", poll_interval_minutes=15
    )
    for n in range(20):
        shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id=f"7948431852{n:02d}")
    cache.clear()
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{FEDEX}/oauth/token", json={"access_token": "t", "expires_in": 86400 * 2})
        rsps.add_callback(responses.POST, f"{FEDEX}/track/v1/trackingnumbers", callback=fedex_reply)
        sent = run_day(carrier, rsps, start, django_capture_on_commit_callbacks)
    times = defaultdict(list)
    for at, ids in sent:
        for i in ids:
            times[i].append(at)
    assert len(times) == 20
    for polled in times.values():
        gaps = [b - a for a, b in pairwise(polled)]
        assert max(gaps) <= timedelta(minutes=16)  # the 15-minute promise, at the dispatcher's minute tick
    carrier.refresh_from_db()
    assert carrier.poll_stretch == 1 and carrier.quota_warning == ""
