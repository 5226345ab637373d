"""Predicted delivery: learning lane transit times from our history, and answering with them.

- ``transit_samples(*, since, until=None)`` — every delivery recorded in the
  period, as ``TransitSample``s (lane, first scan, delivery, the carrier's ETA
  as known at the first scan). Read in chunks; used by the refresh and the backtest.
- ``lane_stats_refresh(*, now=None)`` — relearn every lane from the last
  ``PREDICTION_HISTORY_DAYS`` and replace the ``LaneTransitStat`` rows at once.
  Run by the beat task ``tracking.tasks.refresh_lane_stats``.
- ``predicted_deliveries_for_track(*, shipments, parcels, events_by_item)`` — the
  same for what the track views loaded (shipment and parcel items).
- ``predicted_deliveries_load(*, items, now=None)`` — the same, loading the
  items' events itself (one query; the webhook bodies use it).
- ``lane_models(*, keys)`` — the learnt lane models of those keys, cached per
  process for ``PREDICTION_CACHE_SECONDS``.
- ``predicted_deliveries(*, items, events_by_item, now=None)`` — the
  ``predicted_delivery`` object of each tracked item still in transit, from the
  events the track views already loaded plus one query for the lanes.

Where a lane's parts come from: origin from the first collection/in-transit
scan's location; destination from the shipment's ``meta_data`` (keys
``destination_country`` and ``destination_postal_code``), else from the
carrier's event meta data (same keys), else — for learning only — from where
the parcel was delivered; service from the carrier's ``service`` meta data.
The model itself is in ``tracking/prediction.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone as dj_timezone

from tracking import db
from tracking.models import LaneTransitStat, Shipment, TrackingEvent
from tracking.prediction import (
    DELIVERED,
    FINISHED_MILESTONES,
    SCAN_MILESTONES,
    Lane,
    LaneModel,
    TransitSample,
    delivery_predict,
    lane_models_fit,
    postal_region,
)
from tracking.selectors import ShipmentRow

CHUNK = 2000


def _local(moment: datetime, offset_minutes: int) -> datetime:
    return moment.astimezone(timezone(timedelta(minutes=offset_minutes)))


def _meta(pairs: Iterable[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        if isinstance(pair, dict) and pair.get("value") not in (None, ""):
            out[str(pair.get("key"))] = str(pair["value"])
    return out


@dataclass(frozen=True)
class _Journey:
    first_scan: Any | None
    delivered: Any | None
    finished: bool
    service: str
    meta: dict[str, str]
    carrier_eta: datetime | None


def _journey(events: Sequence[Any]) -> _Journey:
    """``events`` ordered by carrier time; rows need milestone, code, occurred_at, offset, location, eta, carrier_meta."""
    first_scan = delivered = None
    finished = False
    meta: dict[str, str] = {}
    eta_at_scan = None
    for event in events:
        if event.carrier_meta:
            meta.update(_meta(event.carrier_meta))
        if first_scan is None and event.milestone in SCAN_MILESTONES:
            first_scan = event
        if first_scan is None or event.occurred_at <= first_scan.occurred_at:
            eta_at_scan = event.eta or eta_at_scan
        if (event.milestone, event.code) == DELIVERED and delivered is None:
            delivered = event
        if event.milestone in FINISHED_MILESTONES:
            finished = True
    return _Journey(first_scan, delivered, finished, meta.get("service", ""), meta, eta_at_scan)


def _lane(carrier_id: str, journey: _Journey, shipment_meta: Mapping[str, str], delivered_at: Any | None) -> Lane:
    origin = journey.first_scan.location if journey.first_scan is not None else {}
    destination = {
        "iso_country": shipment_meta.get("destination_country") or journey.meta.get("destination_country", ""),
        "postal_code": shipment_meta.get("destination_postal_code") or journey.meta.get("destination_postal_code", ""),
    }
    if not destination["iso_country"] and delivered_at is not None:
        destination = delivered_at.location or {}
    origin_country = str(origin.get("iso_country", "")).upper()
    dest_country = str(destination.get("iso_country", "")).upper()
    return Lane(
        carrier_id=carrier_id,
        service=journey.service,
        origin_country=origin_country,
        origin_region=postal_region(origin_country, str(origin.get("postal_code", ""))),
        destination_country=dest_country,
        destination_region=postal_region(dest_country, str(destination.get("postal_code", ""))),
    )


EVENT_COLUMNS = (
    "tracked_item_id",
    "carrier_id",
    "milestone",
    "code",
    "occurred_at",
    "utc_offset_minutes",
    "location",
    "eta",
    "carrier_meta",
)


@dataclass(slots=True)
class _Row:
    tracked_item_id: int
    carrier_id: str
    milestone: str
    code: str
    occurred_at: datetime
    utc_offset_minutes: int
    location: dict[str, Any]
    eta: datetime | None
    carrier_meta: list[Any]


def transit_samples(*, since: datetime, until: datetime | None = None) -> list[TransitSample]:
    delivered = TrackingEvent.objects.filter(milestone="delivery", code="delivered", occurred_at__gte=since)
    if until is not None:
        delivered = delivered.filter(occurred_at__lt=until)
    item_ids = sorted(set(delivered.values_list("tracked_item_id", flat=True)))
    samples: list[TransitSample] = []
    for start in range(0, len(item_ids), CHUNK):
        chunk = item_ids[start : start + CHUNK]
        shipment_meta: dict[int, dict[str, str]] = {}
        for item_id, meta_data in Shipment.objects.filter(tracked_item_id__in=chunk).values_list(
            "tracked_item_id", "meta_data"
        ):
            shipment_meta.setdefault(item_id, _meta(meta_data))
        by_item: dict[int, list[_Row]] = {}
        rows = TrackingEvent.objects.filter(tracked_item_id__in=chunk, unmapped=False)
        for values in rows.order_by("tracked_item_id", "occurred_at", "id").values_list(*EVENT_COLUMNS):
            row = _Row(*values)
            by_item.setdefault(row.tracked_item_id, []).append(row)
        for item_id, events in by_item.items():
            journey = _journey(events)
            if journey.first_scan is None or journey.delivered is None:
                continue
            if journey.delivered.occurred_at < journey.first_scan.occurred_at:
                continue
            first, done = journey.first_scan, journey.delivered
            samples.append(
                TransitSample(
                    lane=_lane(first.carrier_id, journey, shipment_meta.get(item_id, {}), done),
                    first_scan_at=_local(first.occurred_at, first.utc_offset_minutes),
                    delivered_at=_local(done.occurred_at, done.utc_offset_minutes),
                    carrier_eta=journey.carrier_eta,
                )
            )
    return samples


def lane_stats_refresh(*, now: datetime | None = None) -> int:
    """Relearn every lane from recent deliveries; returns the number of lane rows kept."""
    now = now or dj_timezone.now()
    samples = transit_samples(since=now - timedelta(days=settings.PREDICTION_HISTORY_DAYS), until=now)
    models = lane_models_fit(samples, min_samples=settings.PREDICTION_MIN_SAMPLES)
    rows = [
        LaneTransitStat(
            key=m.key,
            carrier_id=m.key.split("|")[1],
            level=m.level,
            label=m.label,
            sample_size=m.sample_size,
            low_days=m.low,
            median_days=m.mid,
            high_days=m.high,
            coverage=m.coverage,
            model=m.as_json(),
            refreshed_at=now,
        )
        for m in models.values()
    ]
    with transaction.atomic():
        LaneTransitStat.objects.all().delete()
        LaneTransitStat.objects.bulk_create(rows, batch_size=500)
    lane_models_forget()
    return len(rows)


# Lane models as last read, per process: every track read and webhook body of a shipment on its
# way asks for a few. (key → model, or None for a key without one; when the cache was started.)
_lanes: dict[str, LaneModel | None] = {}
_lanes_since = [0.0]
_lanes_lock = threading.Lock()


def lane_models_forget(**kwargs: object) -> None:
    """Read the lane models again on next use (connected to LaneTransitStat's saves and deletes)."""
    with _lanes_lock:
        _lanes.clear()


def lane_models(*, keys: set[str]) -> dict[str, LaneModel]:
    """The lane models of ``keys`` that exist: read at most once per PREDICTION_CACHE_SECONDS per process.

    The refresh replaces them every PREDICTION_REFRESH_MINUTES; this process forgets them at once
    when it refreshes them itself, other processes within PREDICTION_CACHE_SECONDS.
    """
    with _lanes_lock:
        if time.monotonic() - _lanes_since[0] > settings.PREDICTION_CACHE_SECONDS:
            _lanes.clear()
            _lanes_since[0] = time.monotonic()
        known = {key: _lanes[key] for key in keys if key in _lanes}
    missing = keys - known.keys()
    if missing:
        rows = LaneTransitStat.objects.filter(key__in=missing).only("key", "model")
        found = {row.key: LaneModel.from_json(row.model) for row in rows}
        known.update({key: found.get(key) for key in missing})
        if settings.PREDICTION_CACHE_SECONDS:
            with _lanes_lock:
                _lanes.update({key: found.get(key) for key in missing})
    return {key: model for key, model in known.items() if model is not None}


def predicted_deliveries(
    *,
    items: Mapping[int, tuple[str, Sequence[Any]]],
    events_by_item: Mapping[int, Sequence[Any]],
    now: datetime | None = None,
    settled: Iterable[int] = (),
) -> dict[int, dict[str, Any]]:
    """``predicted_delivery`` per tracked item that is on its way (first scanned, not delivered).

    ``items`` maps a tracked item id to (carrier id, the shipment's meta_data);
    ``events_by_item`` holds its events ordered by carrier time. Items not yet
    scanned, delivered or returned get no entry. ``settled``: items known to be
    delivered or finished, skipped. With it, the events of the others may be only
    those that carry an ETA or carrier meta data, and the first scan
    (``tracking.selectors.RenderedHistory``): the rest cannot change a prediction.
    """
    pending: dict[int, tuple[Lane, datetime]] = {}
    done = set(settled)
    for item_id, (carrier_id, meta_data) in items.items():
        if item_id in done:
            continue
        events = events_by_item.get(item_id) or ()
        journey = _journey(events)
        if journey.first_scan is None or journey.delivered is not None or journey.finished:
            continue
        first = journey.first_scan
        pending[item_id] = (
            _lane(carrier_id, journey, _meta(meta_data), None),
            _local(first.occurred_at, first.utc_offset_minutes),
        )
    if not pending:
        return {}
    now = now or dj_timezone.now()
    models = lane_models(keys={key for lane, _ in pending.values() for _, key, _ in lane.lookup_keys()})
    out: dict[int, dict[str, Any]] = {}
    for item_id, (lane, first_scan_at) in pending.items():
        model = next((models[key] for _, key, _ in lane.lookup_keys() if key in models), None)
        prediction = delivery_predict(
            model, first_scan_at=first_scan_at, as_of=now, min_samples=settings.PREDICTION_MIN_SAMPLES
        )
        out[item_id] = prediction.as_dict()
    return out


def predicted_deliveries_for_track(
    *,
    shipments: Sequence[Shipment | ShipmentRow],
    parcels: Mapping[Any, Sequence[Any]],
    events_by_item: Mapping[int, Sequence[Any]],
    now: datetime | None = None,
    settled: Iterable[int] = (),
) -> dict[int, dict[str, Any]]:
    """``predicted_delivery`` by tracked item for shipments and their parcels (a parcel uses its shipment's lane)."""
    items: dict[int, tuple[str, Sequence[Any]]] = {}
    for shipment in shipments:
        items[shipment.tracked_item_id] = (shipment.carrier_id, shipment.meta_data or [])
        for parcel in parcels.get(shipment.pk, ()):
            items.setdefault(parcel.tracked_item_id, (shipment.carrier_id, shipment.meta_data or []))
    return predicted_deliveries(items=items, events_by_item=events_by_item, now=now, settled=settled)


def predicted_deliveries_load(
    *, items: Mapping[int, tuple[str, Sequence[Any]]], now: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """``predicted_deliveries`` for items whose events are not loaded yet (one query, plus one for the lanes)."""
    if not items:
        return {}
    events_by_item: dict[int, list[_Row]] = {}
    for values in db.item_events(items.keys(), EVENT_COLUMNS):
        row = _Row(*values)
        events_by_item.setdefault(row.tracked_item_id, []).append(row)
    return predicted_deliveries(items=items, events_by_item=events_by_item, now=now)
