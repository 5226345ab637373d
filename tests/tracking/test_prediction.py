"""Predicted delivery: the lane model, learning from recorded history, and the simulator's backtest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django_celery_beat.models import PeriodicTask

from carriers.simulator.lanes import LANES, journeys
from tests.factories import make_carrier
from tracking.models import LaneTransitStat
from tracking.prediction import (
    Lane,
    NoPrediction,
    Prediction,
    TransitSample,
    backtest,
    delivery_predict,
    lane_model_fit,
    lane_models_fit,
    postal_region,
)
from tracking.services import customer_create, events_record, lane_stats_refresh, shipment_register
from tracking.services.prediction import predicted_deliveries, transit_samples

BERLIN = timezone(timedelta(hours=1))
LANE = Lane("dhl", "parcel-de", "DE", "53", "DE", "10")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def history(weeks: int = 8) -> list[TransitSample]:
    """Mon–Thu scans before 16:00 arrive next day at 11:00, later scans a day later; Friday's on Monday."""
    samples = []
    monday = date(2026, 9, 7)
    for week in range(weeks):
        for weekday in range(5):
            day = monday + timedelta(days=7 * week + weekday)
            for hour in (9, 12, 15, 17, 19):
                start = day + timedelta(days=1 if hour >= 16 else 0)
                while start.weekday() > 4:
                    start += timedelta(days=1)
                delivered = start + timedelta(days=1)
                while delivered.weekday() > 4:
                    delivered += timedelta(days=1)
                samples.append(TransitSample(LANE, at(day, hour), at(delivered, 11)))
    return samples


@pytest.mark.parametrize(
    ("country", "postal", "region"),
    [
        ("GB", "LS1 4AP", "LS"),
        ("GB", "g1 1xq", "G"),
        ("US", "60601-1234", "606"),
        ("DE", "10115", "10"),
        ("FR", "", ""),
    ],
)
def test_postal_region(country, postal, region):
    assert postal_region(country, postal) == region


def test_lanes_fall_back_from_service_lane_to_carrier():
    levels = [level for level, _, _ in LANE.lookup_keys()]
    assert levels == [0, 1, 2, 3, 4]
    unknown_destination = Lane("dhl", "parcel-de", "DE", "53")
    assert [level for level, _, _ in unknown_destination.lookup_keys()] == [3, 4]


def test_fit_learns_the_cut_off_and_the_delivery_weekdays():
    model = lane_model_fit(1, "k", "dhl DE-53 → DE-10", history())
    assert 16 <= model.cutoff_hour <= 17  # scans at 15:00 and 17:00: either hour separates them
    assert model.delivery_weekdays == (0, 1, 2, 3, 4)
    # Counted from the right start day, every parcel took exactly one delivery day.
    assert model.histogram == {1: len(history())}
    assert (model.low, model.mid, model.high, model.coverage) == (1, 1, 1, 1.0)


def test_a_friday_evening_scan_is_predicted_for_tuesday():
    model = lane_model_fit(1, "k", "lane", history())
    friday = date(2026, 11, 6)
    prediction = delivery_predict(model, first_scan_at=at(friday, 18), min_samples=30)
    assert isinstance(prediction, Prediction)
    assert prediction.date == date(2026, 11, 10)  # starts Monday, one delivery day
    assert prediction.as_dict()["basis"] == {"lane": "lane", "level": "lane", "sample_size": len(history())}


def test_the_80_percent_window_spans_the_spread_of_history():
    samples = []
    base = date(2026, 9, 7)
    for n in range(100):
        day = base + timedelta(days=7 * (n // 5) + n % 5)
        extra = 0 if n % 10 < 6 else (1 if n % 10 < 9 else 3)  # 60 % one day, 30 % two, 10 % four
        delivered = day + timedelta(days=1 + extra)
        while delivered.weekday() > 4:
            delivered += timedelta(days=1)
        samples.append(TransitSample(LANE, at(day, 10), at(delivered, 12)))
    model = lane_model_fit(1, "k", "lane", samples)
    assert model.low <= model.mid <= model.high
    assert model.coverage >= 0.8
    assert sum(n for t, n in model.histogram.items() if model.low <= t <= model.high) >= 80


def test_a_late_parcel_gets_a_later_window_and_an_overdue_one_no_invention():
    samples = history()
    slow = [TransitSample(s.lane, s.first_scan_at, s.delivered_at + timedelta(days=7)) for s in samples[:6]]
    model = lane_model_fit(1, "k", "lane", samples + slow)
    monday = date(2026, 11, 2)
    on_time = delivery_predict(model, first_scan_at=at(monday, 10), as_of=at(monday, 11), min_samples=30)
    late = delivery_predict(
        model, first_scan_at=at(monday, 10), as_of=at(monday + timedelta(days=3), 18), min_samples=30
    )
    assert isinstance(on_time, Prediction) and isinstance(late, Prediction)
    assert late.earliest > on_time.latest
    overdue = delivery_predict(
        model, first_scan_at=at(monday, 10), as_of=at(monday + timedelta(days=30), 18), min_samples=30
    )
    assert isinstance(overdue, NoPrediction) and "too little" in overdue.reason


def test_no_model_means_no_prediction_and_says_why():
    answer = delivery_predict(None, first_scan_at=at(date(2026, 11, 2), 10), min_samples=30)
    assert isinstance(answer, NoPrediction)
    assert answer.as_dict() == {"date": None, "reason": answer.reason}
    assert "30" in answer.reason


def test_lanes_with_too_little_history_are_not_fitted():
    models = lane_models_fit(history(weeks=1), min_samples=30)
    assert models == {}


def test_backtest_on_the_simulated_lanes_meets_the_target():
    samples = [
        TransitSample(
            Lane(
                j.lane.carrier_id,
                j.lane.service,
                j.lane.origin.country,
                postal_region(j.lane.origin.country, j.lane.origin.postal_code),
                j.lane.destination.country,
                postal_region(j.lane.destination.country, j.lane.destination.postal_code),
            ),
            j.first_scan_at,
            j.delivered_at,
            j.carrier_eta,
        )
        for j in journeys(start=date(2026, 6, 1), days=110, per_day=30)
    ]
    result = backtest(
        samples, min_samples=30, train_until=datetime(2026, 8, 1, tzinfo=UTC), refit_every=timedelta(days=14)
    )
    figures = result.summary()
    assert figures["predicted"] > 1000
    assert figures["inside_80_window"] >= 0.8
    assert figures["mae_hours_where_eta"] < figures["carrier_eta_mae_hours"]


def test_simulated_lanes_vary():
    assert len({(lane.cutoff_hour, tuple(lane.transit)) for lane in LANES}) >= 8
    assert any(5 in lane.delivery_weekdays for lane in LANES) and any(5 not in lane.delivery_weekdays for lane in LANES)
    assert any(lane.promised_days is None for lane in LANES)


# --- from recorded history ------------------------------------------------------------------


@pytest.fixture
def recorded(db):
    """A month and a half of simulated push-carrier parcels, recorded the ordinary way."""
    make_carrier("sim-push")
    push = [j for j in journeys(start=date(2026, 9, 1), days=45, per_day=40) if j.lane.carrier_id == "sim-push"]
    events = [e for j in push for e in j.events]
    for start in range(0, len(events), 1000):
        events_record(carrier="sim-push", events=events[start : start + 1000], channel="webhook")
    return push


@pytest.mark.django_db
def test_history_yields_one_sample_per_delivery_with_its_lane(recorded):
    samples = transit_samples(since=datetime(2026, 8, 1, tzinfo=UTC))
    assert len(samples) == len(recorded)
    by_lane = {s.lane for s in samples}
    assert Lane("sim-push", "next-day", "GB", "BS", "GB", "LS") in by_lane
    first = min(samples, key=lambda s: s.first_scan_at)
    journey = min(recorded, key=lambda j: j.first_scan_at)
    assert first.first_scan_at == journey.first_scan_at and first.delivered_at == journey.delivered_at
    assert first.carrier_eta == journey.carrier_eta


@pytest.mark.django_db
def test_refresh_stores_lanes_and_an_in_transit_shipment_gets_a_prediction(recorded, settings):
    settings.PREDICTION_HISTORY_DAYS = 120
    kept = lane_stats_refresh(now=datetime(2026, 10, 25, tzinfo=UTC))
    assert kept == LaneTransitStat.objects.count() > 0
    stat = LaneTransitStat.objects.get(label="sim-push next-day GB-BS → GB-LS")
    assert stat.sample_size >= 30 and stat.low_days <= stat.median_days <= stat.high_days

    customer, _ = customer_create(name="acme")
    shipment, _ = shipment_register(
        customer=customer,
        carrier_id="sim-push",
        carrier_tracking_id="NEW1",
        meta_data=[
            {"key": "destination_country", "value": "GB"},
            {"key": "destination_postal_code", "value": "LS2 7UE"},
        ],
    )
    scan = datetime(2026, 10, 27, 15, 0, tzinfo=UTC)
    from tracking.types import CarrierEvent, Location

    events_record(
        carrier="sim-push",
        events=[CarrierEvent("NEW1", "PCK", scan, location=Location(postal_code="BS1 5TR", iso_country="GB"))],
        channel="webhook",
    )
    rows = list(shipment.tracked_item.events.order_by("occurred_at"))
    answer = predicted_deliveries(
        items={shipment.tracked_item_id: ("sim-push", shipment.meta_data)},
        events_by_item={shipment.tracked_item_id: rows},
        now=scan + timedelta(hours=1),
    )[shipment.tracked_item_id]
    assert answer["basis"]["lane"] == "sim-push GB-BS → GB-LS"  # no service given: the lane without it
    assert answer["earliest"] <= answer["date"] <= answer["latest"]
    assert answer["date"] >= "2026-10-28"


@pytest.mark.django_db
def test_no_history_answers_no_prediction_with_the_reason(carrier):
    from tracking.types import CarrierEvent, Location

    events_record(
        carrier=carrier.pk,
        events=[CarrierEvent("X1", "PCK", datetime(2026, 10, 27, 15, tzinfo=UTC), location=Location(iso_country="GB"))],
        channel="webhook",
    )
    from tracking.models import TrackedItem

    item = TrackedItem.objects.get(tracking_id="X1")
    answer = predicted_deliveries(items={item.pk: (carrier.pk, [])}, events_by_item={item.pk: list(item.events.all())})
    assert answer[item.pk]["date"] is None and "too little delivery history" in answer[item.pk]["reason"]


@pytest.mark.django_db
def test_delivered_or_unscanned_items_get_no_prediction(recorded):
    from tracking.models import TrackedItem

    item = TrackedItem.objects.filter(tracking_id=recorded[0].tracking_id).first()
    assert (
        predicted_deliveries(items={item.pk: ("sim-push", [])}, events_by_item={item.pk: list(item.events.all())}) == {}
    )


@pytest.mark.django_db
def test_migrate_creates_the_beat_task_that_relearns_lanes():
    from carriers.services.schedules import schedules_ensure

    schedules_ensure()
    task = PeriodicTask.objects.get(name="tracking: relearn delivery-date lanes")
    assert task.task == "tracking.tasks.refresh_lane_stats" and task.enabled
    assert task.interval.every == 60 * 60


def test_a_late_parcel_is_predicted_from_the_histogram_as_from_every_sample_listed():
    """The conditioned window is computed on the histogram's bins; listing every sample gives the same."""
    import random

    from tracking.prediction import HIGH_QUANTILE, LOW_QUANTILE, _bins_quantile, _quantile, _value_at

    rng = random.Random(5)
    for _ in range(500):
        histogram = {t: rng.choice([0, 1, 2, 5, 40, 900]) for t in sorted(rng.sample(range(30), rng.randint(1, 12)))}
        elapsed = rng.randint(0, 30)
        listed = sorted(t for t, n in histogram.items() for _ in range(n) if t >= elapsed)
        bins = [(t, n) for t, n in sorted(histogram.items()) if t >= elapsed and n > 0]
        total = sum(n for _, n in bins)
        assert total == len(listed)
        if not listed:
            continue
        for q, upper in ((LOW_QUANTILE, False), (HIGH_QUANTILE, True), (0.5, False)):
            assert _bins_quantile(bins, total, q, upper=upper) == _quantile(listed, q, upper=upper)
        assert _value_at(bins, (total - 1) // 2) == listed[(len(listed) - 1) // 2]
