"""API polling: batching, the shared rate limit, back-off, invalid numbers, adaptive
intervals, and two dispatchers never taking the same item. ``responses`` stands in
for the carriers' HTTP APIs and nothing else."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import responses
from django.db import connections, transaction
from django.utils import timezone

from carriers.models import Carrier, InboundMessage
from carriers.services import polling
from carriers.services.limits import quota_acquire
from carriers.services.polling import RateLimited, poll_batch_run, poll_dispatch
from tests.carriers.adapter_cases import fixtures_dir
from tests.carriers.conftest import wait_until
from tests.factories import make_carrier
from tracking.models import TrackedItem, TrackingEvent
from tracking.services import shipment_register, tracked_items_take_due

pytestmark = pytest.mark.django_db

FEDEX = "https://fedex.test"
DHL = "https://dhl.test"


def fedex_carrier(carrier_id: str = "fedex", **fields) -> Carrier:
    config = {"base_url": FEDEX, "client_id": "cid", "client_secret": "csecret", **fields}
    return make_carrier(carrier_id, adapter="fedex", **config)


def dhl_carrier(**fields) -> Carrier:
    return make_carrier("dhl", adapter="dhl", base_url=DHL, api_key="k", **fields)


def due_items(carrier: Carrier, count: int, prefix: str = "N") -> list[TrackedItem]:
    now = timezone.now()
    items = [
        TrackedItem(carrier=carrier, tracking_id=f"{prefix}{i:05d}", next_check_at=now - timedelta(seconds=count - i))
        for i in range(count)
    ]
    return TrackedItem.objects.bulk_create(items)


def fedex_answer(numbers: list[str]) -> dict:
    results = []
    for number in numbers:
        results.append(
            {
                "trackingNumber": number,
                "trackResults": [
                    {
                        "trackingNumberInfo": {"trackingNumber": number},
                        "scanEvents": [
                            {
                                "date": "2026-11-27T09:26:00-08:00",
                                "eventType": "IT",
                                "eventDescription": "In transit",
                                "scanLocation": {"city": "MEMPHIS", "countryCode": "US"},
                            }
                        ],
                    }
                ],
            }
        )
    return {"transactionId": "t", "output": {"completeTrackResults": results}}


def mock_fedex(rsps: responses.RequestsMock, *, status: int = 200, headers: dict | None = None) -> list:
    seen: list[list[str]] = []
    rsps.add(responses.POST, f"{FEDEX}/oauth/token", json={"access_token": "tok", "expires_in": 3600})

    def track(request):
        numbers = [t["trackingNumberInfo"]["trackingNumber"] for t in json.loads(request.body)["trackingInfo"]]
        seen.append(numbers)
        assert request.headers["Authorization"] == "Bearer tok"
        if status != 200:
            return (status, headers or {}, json.dumps({"errors": [{"code": "X", "message": "busy"}]}))
        return (200, {"Content-Type": "application/json"}, json.dumps(fedex_answer(numbers)))

    rsps.add_callback(responses.POST, f"{FEDEX}/track/v1/trackingnumbers", callback=track)
    return seen


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()


def test_dispatcher_batches_due_items_by_the_carriers_batch_size(django_capture_on_commit_callbacks):
    carrier = fedex_carrier()
    items = due_items(carrier, 65)
    TrackedItem.objects.create(carrier=carrier, tracking_id="LATER", next_check_at=timezone.now() + timedelta(hours=1))
    queued = []
    with django_capture_on_commit_callbacks(execute=True):
        result = poll_dispatch(enqueue=lambda carrier_id, ids: queued.append((carrier_id, ids)))
    assert result.items == 65 and result.batches == 3
    assert [len(ids) for _, ids in queued] == [30, 30, 5]
    assert {i for _, ids in queued for i in ids} == {i.id for i in items}  # oldest-due first, LATER left alone
    # Taken items are leased, so the next dispatcher run does not take them again.
    again = poll_dispatch(enqueue=lambda *a: None)
    assert again.items == 0


def test_one_poll_request_records_events_and_reschedules(django_capture_on_commit_callbacks):
    carrier = fedex_carrier(poll_interval_minutes=15)
    items = due_items(carrier, 3)
    with responses.RequestsMock() as rsps:
        seen = mock_fedex(rsps)
        outcome = poll_batch_run(carrier_id=carrier.pk, item_ids=[i.id for i in items])
    assert seen == [[i.tracking_id for i in items]]
    assert outcome.events == 3 and outcome.items == 3
    message = InboundMessage.objects.get()
    assert message.channel == "poll" and message.status == "processed" and message.event_count == 3
    assert set(TrackingEvent.objects.values_list("inbound_message_id", flat=True)) == {message.pk}
    for item in TrackedItem.objects.filter(id__in=[i.id for i in items]):
        assert item.last_checked_at is not None
        assert timedelta(minutes=14) < item.next_check_at - timezone.now() <= timedelta(minutes=15)


def test_unknown_numbers_are_recorded_on_the_item_and_checked_less_often():
    carrier = fedex_carrier(poll_interval_minutes=10)
    TrackedItem.objects.bulk_create(
        [
            TrackedItem(carrier=carrier, tracking_id=n, next_check_at=timezone.now())
            for n in ("776094337676", "39936862321")
        ]
    )
    body = (fixtures_dir("fedex") / "two_numbers_one_unknown.json").read_bytes()
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{FEDEX}/oauth/token", json={"access_token": "tok", "expires_in": 3600})
        rsps.add(responses.POST, f"{FEDEX}/track/v1/trackingnumbers", body=body, content_type="application/json")
        poll_batch_run(carrier_id=carrier.pk, item_ids=list(TrackedItem.objects.values_list("id", flat=True)))
    unknown = TrackedItem.objects.get(tracking_id="39936862321")
    known = TrackedItem.objects.get(tracking_id="776094337676")
    assert unknown.invalid_reason.startswith("FedEx TRACKING.TRACKINGNUMBER.NOTFOUND: Tracking number cannot be found")
    assert unknown.check_failures == 1
    assert unknown.next_check_at - timezone.now() > timedelta(minutes=19)  # 2 × the interval
    # The other number was delivered: no more checks.
    assert known.invalid_reason == "" and known.status_code == "delivered" and known.next_check_at is None


def test_dhl_404_marks_the_number_invalid():
    carrier = dhl_carrier()
    item = TrackedItem.objects.create(carrier=carrier, tracking_id="JJD0099999999", next_check_at=timezone.now())
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            f"{DHL}/track/shipments",
            status=404,
            body=(fixtures_dir("dhl") / "not_found.json").read_bytes(),
            content_type="application/problem+json",
        )
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
        assert rsps.calls[0].request.headers["DHL-API-Key"] == "k"
        assert "trackingNumber=JJD0099999999" in rsps.calls[0].request.url
    item.refresh_from_db()
    assert item.invalid_reason == "DHL: No shipment with given tracking number found."


def test_429_backs_the_carrier_off_for_retry_after_and_the_dispatcher_waits():
    carrier = fedex_carrier()
    items = due_items(carrier, 2)
    with responses.RequestsMock() as rsps:
        mock_fedex(rsps, status=429, headers={"Retry-After": "120"})
        outcome = poll_batch_run(carrier_id=carrier.pk, item_ids=[i.id for i in items])
    assert "429" in outcome.error
    carrier.refresh_from_db()
    assert timedelta(seconds=115) < carrier.backoff_until - timezone.now() <= timedelta(seconds=120)
    assert carrier.poll_failures == 1 and "429" in carrier.last_error
    for item in TrackedItem.objects.all():
        assert item.next_check_at == carrier.backoff_until  # retried after the pause, not lost
    due_items(carrier, 3, prefix="M")
    assert poll_dispatch(enqueue=lambda *a: None).items == 0
    # Once the pause is over the carrier is dispatched again.
    later = carrier.backoff_until + timedelta(seconds=1)
    assert poll_dispatch(now=later, enqueue=lambda *a: None).items == 5


def test_5xx_without_retry_after_backs_off_exponentially():
    carrier = fedex_carrier()
    item = due_items(carrier, 1)[0]
    waits = []
    with responses.RequestsMock() as rsps:
        mock_fedex(rsps, status=503)
        for _ in range(3):
            Carrier.objects.filter(pk=carrier.pk).update(backoff_until=None)
            poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
            carrier.refresh_from_db()
            waits.append(round((carrier.backoff_until - timezone.now()).total_seconds() / 60))
    assert waits == [1, 2, 4]
    # A success clears the failure count (the OAuth token is still cached from before).
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_fedex(rsps)
        Carrier.objects.filter(pk=carrier.pk).update(backoff_until=None)
        poll_batch_run(carrier_id=carrier.pk, item_ids=[item.id])
    carrier.refresh_from_db()
    assert carrier.poll_failures == 0 and carrier.backoff_until is None


def test_the_token_bucket_is_shared_and_bounds_requests():
    carrier = fedex_carrier(quota_per_second=1 / 30, quota_burst=2)
    now = timezone.now()
    assert quota_acquire(carrier=carrier, now=now) == 0
    assert quota_acquire(carrier=carrier, now=now) == 0
    wait = quota_acquire(carrier=carrier, now=now)
    assert 29 < wait <= 30  # one token per 30 s at 2/min
    assert quota_acquire(carrier=carrier, now=now + timedelta(seconds=31)) == 0
    # A poll task that finds the bucket empty asks to be retried later instead of calling the carrier.
    items = due_items(carrier, 1)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        seen = mock_fedex(rsps)
        with pytest.raises(RateLimited) as limited:
            poll_batch_run(carrier_id=carrier.pk, item_ids=[items[0].id], now=now + timedelta(seconds=31))
    assert seen == [] and limited.value.wait > 0


def test_dispatcher_takes_no_more_than_the_bucket_allows(django_capture_on_commit_callbacks):
    carrier = dhl_carrier(quota_per_second=3 / 60, quota_burst=1)
    due_items(carrier, 10)
    queued = []
    with django_capture_on_commit_callbacks(execute=True):
        poll_dispatch(enqueue=lambda carrier_id, ids: queued.append(ids))
    # DHL takes one number per request; 1 request now and 3 more within the minute.
    assert [len(ids) for ids in queued] == [1, 1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_across_concurrent_workers(postgres_only, taxonomy):
    carrier = fedex_carrier(quota_per_second=0.001, quota_burst=5)
    now = timezone.now()
    barrier = threading.Barrier(12)
    granted = []

    def worker():
        try:
            barrier.wait()
            granted.append(quota_acquire(carrier=carrier, now=now) == 0)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert granted.count(True) == 5 and len(granted) == 12


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_never_take_the_same_item(postgres_only, taxonomy):
    carrier = fedex_carrier()
    due_items(carrier, 400)
    taken: dict[str, list[int]] = {}
    first_has_locked = threading.Event()
    second_done = threading.Event()

    def first():
        try:
            with transaction.atomic():
                taken["first"] = tracked_items_take_due(
                    carrier_id=carrier.pk, limit=250, now=timezone.now(), lease=polling.LEASE
                )
                first_has_locked.set()
                second_done.wait(20)  # hold the row locks while the other dispatcher runs
        finally:
            connections.close_all()

    def second():
        try:
            first_has_locked.wait(20)
            queued = []
            poll_dispatch(enqueue=lambda carrier_id, ids: queued.extend(ids))
            taken["second"] = queued
        finally:
            second_done.set()
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(taken["first"]) == 250
    assert len(taken["second"]) == 150  # it skipped the locked rows rather than waiting or double-taking
    assert not set(taken["first"]) & set(taken["second"])


def test_intervals_adapt_to_delivery_quiet_items_and_customer_policy(acme):
    carrier = fedex_carrier(poll_interval_minutes=15)
    now = timezone.now()
    shipment, _ = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="Q1")
    item = shipment.tracked_item
    days = 30

    def next_for(**changes):
        for key, value in changes.items():
            setattr(item, key, value)
        return polling.next_check_for(item, carrier=carrier, now=now, policy_days=days, invalid=False, had_news=False)

    assert next_for(last_event_recorded_at=now - timedelta(hours=2)) == now + timedelta(minutes=15)
    assert next_for(last_event_recorded_at=now - timedelta(days=2)) == now + timedelta(minutes=30)
    assert next_for(last_event_recorded_at=now - timedelta(days=5)) == now + timedelta(minutes=60)
    assert next_for(last_event_recorded_at=now - timedelta(days=10)) == now + timedelta(minutes=120)
    # A number whose events the carrier pushes is polled only as a safety net.
    item.last_event_recorded_at = now - timedelta(hours=2)
    pushed = polling.next_check_for(
        item, carrier=carrier, now=now, policy_days=days, invalid=False, had_news=True, pushed=True
    )
    assert pushed == now + timedelta(minutes=120)
    # Out for delivery: twice as often as an active item.
    assert next_for(status_milestone="delivery", status_code="out_for_delivery") == now + timedelta(minutes=7.5)
    item.status_milestone = item.status_code = ""
    assert next_for(last_event_recorded_at=now - timedelta(days=31)) is None  # expired without events
    days = 40
    assert next_for(last_event_recorded_at=now - timedelta(days=31)) is not None
    assert next_for(status_milestone="delivery", status_code="delivered", status_sub_code="other") is None
    # Delivered to a pick-up point: keep going until the receiver collects it.
    assert next_for(status_sub_code="pudo_point") is not None
    assert next_for(status_milestone="post_delivery", status_code="collected", status_sub_code="by_receiver") is None


def test_customer_policy_sets_the_expiry_used_by_rescheduling(acme):
    carrier = fedex_carrier()
    acme.expire_after_days = 3
    acme.save()
    shipment, _ = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="OLD1")
    TrackedItem.objects.filter(pk=shipment.tracked_item_id).update(created_at=timezone.now() - timedelta(days=4))
    TrackedItem.objects.filter(pk=shipment.tracked_item_id).update(next_check_at=timezone.now())
    with responses.RequestsMock() as rsps:
        mock_fedex(rsps, status=200)
        rsps.replace(
            responses.POST,
            f"{FEDEX}/track/v1/trackingnumbers",
            json={"transactionId": "t", "output": {"completeTrackResults": []}},
        )
        poll_batch_run(carrier_id=carrier.pk, item_ids=[shipment.tracked_item_id])
    assert TrackedItem.objects.get(pk=shipment.tracked_item_id).next_check_at is None


def test_registering_a_number_schedules_its_first_check_for_polling_carriers_only(acme):
    poller = fedex_carrier()
    pusher = make_carrier("acme-post")
    polled, _ = shipment_register(customer=acme, carrier_id=poller.pk, carrier_tracking_id="P1")
    pushed, _ = shipment_register(customer=acme, carrier_id=pusher.pk, carrier_tracking_id="W1")
    polled.tracked_item.refresh_from_db()
    assert polled.tracked_item.next_check_at is not None
    assert polled.tracked_item.next_check_at <= timezone.now()
    pushed.tracked_item.refresh_from_db()
    assert pushed.tracked_item.next_check_at is None


@pytest.mark.slow  # a real worker and broker
@pytest.mark.django_db(transaction=True)
def test_registered_number_is_polled_through_the_broker_by_a_real_worker(taxonomy, acme, celery_worker):
    carrier = fedex_carrier()
    shipment, _ = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="E2EPOLL")
    with responses.RequestsMock() as rsps:
        mock_fedex(rsps)
        dispatched = poll_dispatch()
        assert dispatched.items == 1
        assert wait_until(lambda: TrackingEvent.objects.filter(tracked_item=shipment.tracked_item).exists())
    event = TrackingEvent.objects.get()
    assert event.channel == "poll" and (event.milestone, event.code) == ("in_transit", "carrier")
