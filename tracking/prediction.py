"""Predicted delivery dates learnt from our own history: the model, pure.

Kept simple enough to explain to a customer in one sentence: *parcels of this
carrier on this lane that were first scanned like yours were delivered within
these working days 80 % of the time.*

- A **lane** is carrier, service, origin country and postal region, destination
  country and postal region. Lanes are looked up finest first and fall back to
  coarser ones (see ``LEVELS``) until one has enough history.
- **Transit** is counted in delivery days, not hours: from the first collection
  or in-transit scan to the delivered event. A scan after the lane's cut-off
  hour, or on a weekend, starts on the next working day; only weekdays on which
  the lane actually delivers are counted. The cut-off and the delivery weekdays
  are learnt per lane (the cut-off as the hour that makes transit most regular).
- Per lane, the empirical distribution of transit gives the predicted date (the
  median), and ``earliest``/``latest`` (the 10th and 90th percentiles: an 80 %
  window, inclusive of whole days). ``confidence`` is the share of the lane's
  history that fell inside that window.
- A shipment still in transit after some delivery days is predicted from the
  part of the distribution it can still be in (history conditioned on "not
  delivered yet"), so a late parcel's window moves instead of going stale.

No Django here: the refresh service, the read path and bench/eta.py's backtest
share these functions.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

# A parcel's journey starts at its first event with one of these milestones (its first scan).
SCAN_MILESTONES = frozenset({"collection", "in_transit", "customs"})
# After one of these the parcel is no longer on its way to the recipient: no prediction.
FINISHED_MILESTONES = frozenset({"post_delivery", "return_to_sender", "return_centre"})
# Delivered: no prediction either.
DELIVERED = ("delivery", "delivered")

WORKING_DAYS = (0, 1, 2, 3, 4)  # collection starts on Monday to Friday
CUTOFF_CANDIDATES = tuple(range(12, 24)) + (24,)  # 24: no cut-off, any scan that day counts
# A weekday is a delivery day on a lane when at least this share of its deliveries happen on it.
DELIVERY_DAY_SHARE = 0.03
LOW_QUANTILE, HIGH_QUANTILE = 0.10, 0.90
# Conditioning on "not delivered yet" needs at least this many remaining samples.
MIN_REMAINING = 5
MAX_TRANSIT_DAYS = 60

# (level, name, which parts of the lane the key uses)
LEVELS: tuple[tuple[int, str], ...] = (
    (0, "service lane"),
    (1, "lane"),
    (2, "country pair"),
    (3, "origin"),
    (4, "carrier"),
)


def postal_region(country: str, postal_code: str) -> str:
    """A coarse area of a postal code: the letters of a UK area, 3 digits of a US ZIP, else 2 characters."""
    code = re.sub(r"[^0-9A-Z]", "", postal_code.upper())
    if not code:
        return ""
    country = country.upper()
    if country in ("GB", "UK", "IE"):
        letters = re.match(r"[A-Z]{1,2}", code)
        return letters.group(0) if letters else code[:2]
    if country in ("US", "PR"):
        return code[:3]
    return code[:2]


@dataclass(frozen=True)
class Lane:
    """What is known about a shipment's route; empty strings are unknown parts."""

    carrier_id: str
    service: str = ""
    origin_country: str = ""
    origin_region: str = ""
    destination_country: str = ""
    destination_region: str = ""

    def lookup_keys(self) -> list[tuple[int, str, str]]:
        """(level, key, readable label), finest first; levels needing unknown parts are left out."""
        c = self.carrier_id
        origin = f"{self.origin_country}-{self.origin_region}"
        dest = f"{self.destination_country}-{self.destination_region}"
        out: list[tuple[int, str, str]] = []
        has_origin_region = bool(self.origin_country and self.origin_region)
        has_dest_region = bool(self.destination_country and self.destination_region)
        if self.service and has_origin_region and has_dest_region:
            out.append((0, f"0|{c}|{self.service}|{origin}|{dest}", f"{c} {self.service} {origin} → {dest}"))
        if has_origin_region and has_dest_region:
            out.append((1, f"1|{c}|{origin}|{dest}", f"{c} {origin} → {dest}"))
        if self.origin_country and self.destination_country:
            out.append(
                (
                    2,
                    f"2|{c}|{self.origin_country}|{self.destination_country}",
                    f"{c} {self.origin_country} → {self.destination_country}",
                )
            )
        if self.origin_country:
            out.append((3, f"3|{c}|{self.origin_country}", f"{c} from {self.origin_country}"))
        out.append((4, f"4|{c}", f"{c}, all lanes"))
        return out


@dataclass(frozen=True)
class TransitSample:
    """One delivered shipment: its lane, first scan and delivery (aware, carrier offsets kept)."""

    lane: Lane
    first_scan_at: datetime
    delivered_at: datetime
    # The carrier's ETA as known at the first scan, if it gave one.
    carrier_eta: datetime | None = None


def _start_day(first_scan_at: datetime, cutoff_hour: int) -> date:
    """The working day a scan starts counting from (its own local time)."""
    day = first_scan_at.date()
    if cutoff_hour < 24 and first_scan_at.hour >= cutoff_hour:
        day += timedelta(days=1)
    while day.weekday() not in WORKING_DAYS:
        day += timedelta(days=1)
    return day


def _delivery_days_between(start: date, end: date, weekdays: Sequence[int]) -> int:
    """Delivery days after ``start`` up to and including ``end`` (0 when delivered on the start day or before)."""
    if end <= start:
        return 0
    days = (end - start).days
    if days > 400:
        return MAX_TRANSIT_DAYS
    return sum(1 for n in range(1, days + 1) if (start + timedelta(days=n)).weekday() in weekdays)


def _add_delivery_days(start: date, count: int, weekdays: Sequence[int]) -> date:
    day = start
    while count > 0:
        day += timedelta(days=1)
        if day.weekday() in weekdays:
            count -= 1
    # A zero-day transit on a non-delivery day (a weekend scan) is delivered on the next delivery day.
    while day.weekday() not in weekdays:
        day += timedelta(days=1)
    return day


def _quantile(ordered: Sequence[int], q: float, *, upper: bool) -> int:
    position = q * (len(ordered) - 1)
    index = int(position) if not upper else min(len(ordered) - 1, -int(-position // 1))
    return ordered[index]


def _value_at(bins: Sequence[tuple[int, int]], index: int) -> int:
    """The ``index``-th smallest of the samples that (value, count) bins sorted by value stand for."""
    seen = 0
    for value, count in bins:
        seen += count
        if index < seen:
            return value
    return bins[-1][0]


def _bins_quantile(bins: Sequence[tuple[int, int]], total: int, q: float, *, upper: bool) -> int:
    """``_quantile`` of the samples the bins stand for, without listing them (a lane may have thousands)."""
    position = q * (total - 1)
    return _value_at(bins, int(position) if not upper else min(total - 1, -int(-position // 1)))


def _transit(start: date, delivered_at: datetime, weekdays: Sequence[int]) -> int:
    return min(MAX_TRANSIT_DAYS, _delivery_days_between(start, delivered_at.date(), weekdays))


def _spread(values: Sequence[int]) -> float:
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    return sum(abs(v - median) for v in values) / len(values)


@dataclass
class LaneModel:
    level: int
    key: str
    label: str
    sample_size: int
    cutoff_hour: int
    delivery_weekdays: tuple[int, ...]
    # delivery days → number of past deliveries
    histogram: dict[int, int]
    low: int
    mid: int
    high: int
    coverage: float
    # Typical local delivery time (minutes after midnight) and the destination's UTC offset.
    delivery_minute: int
    delivery_offset_minutes: int
    carrier_eta_share: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["histogram"] = {str(k): v for k, v in self.histogram.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LaneModel:
        values = dict(data)
        values["histogram"] = {int(k): int(v) for k, v in values["histogram"].items()}
        values["delivery_weekdays"] = tuple(values["delivery_weekdays"])
        return cls(**values)


def lane_model_fit(level: int, key: str, label: str, samples: Sequence[TransitSample]) -> LaneModel:
    weekday_counts = Counter(s.delivered_at.weekday() for s in samples)
    weekdays = tuple(d for d in range(7) if weekday_counts[d] >= max(1, DELIVERY_DAY_SHARE * len(samples)))
    weekdays = weekdays or WORKING_DAYS
    # A scan's transit only depends on whether it came before or after the cut-off, so
    # compute both once per sample and try every candidate hour on those.
    both = [
        (
            s.first_scan_at.hour,
            _transit(_start_day(s.first_scan_at, 24), s.delivered_at, weekdays),
            _transit(_start_day(s.first_scan_at, 0), s.delivered_at, weekdays),
        )
        for s in samples
    ]

    def transits_for(hour: int) -> list[int]:
        return [after if scan_hour >= hour else before for scan_hour, before, after in both]

    cutoff = min(CUTOFF_CANDIDATES, key=lambda h: (_spread(transits_for(h)), -h))
    transits = sorted(transits_for(cutoff))
    low = _quantile(transits, LOW_QUANTILE, upper=False)
    high = _quantile(transits, HIGH_QUANTILE, upper=True)
    minutes = sorted(s.delivered_at.hour * 60 + s.delivered_at.minute for s in samples)
    offsets = Counter(_offset_minutes(s.delivered_at) for s in samples)
    return LaneModel(
        level=level,
        key=key,
        label=label,
        sample_size=len(samples),
        cutoff_hour=cutoff,
        delivery_weekdays=weekdays,
        histogram=dict(sorted(Counter(transits).items())),
        low=low,
        mid=transits[(len(transits) - 1) // 2],
        high=high,
        coverage=round(sum(1 for t in transits if low <= t <= high) / len(transits), 3),
        delivery_minute=minutes[len(minutes) // 2],
        delivery_offset_minutes=offsets.most_common(1)[0][0],
        carrier_eta_share=round(sum(1 for s in samples if s.carrier_eta is not None) / len(samples), 3),
    )


def _offset_minutes(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def lane_models_fit(samples: Iterable[TransitSample], *, min_samples: int) -> dict[str, LaneModel]:
    """A model for every lane key (at every level) that has at least ``min_samples`` deliveries."""
    groups: dict[str, tuple[int, str, list[TransitSample]]] = {}
    for sample in samples:
        for level, key, label in sample.lane.lookup_keys():
            groups.setdefault(key, (level, label, []))[2].append(sample)
    return {
        key: lane_model_fit(level, key, label, members)
        for key, (level, label, members) in groups.items()
        if len(members) >= min_samples
    }


@dataclass(frozen=True)
class Prediction:
    date: dt.date  # the module's name: the field shadows ``date`` in this class body
    earliest: dt.date
    latest: dt.date
    confidence: float
    lane: str
    level: str
    sample_size: int
    # The point estimate in time (the lane's typical delivery time on ``date``), for error in hours.
    expected_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "earliest": self.earliest.isoformat(),
            "latest": self.latest.isoformat(),
            "confidence": self.confidence,
            "basis": {"lane": self.lane, "level": self.level, "sample_size": self.sample_size},
        }


@dataclass(frozen=True)
class NoPrediction:
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"date": None, "reason": self.reason}


LEVEL_NAMES = dict(LEVELS)


def model_for(models: Mapping[str, LaneModel], lane: Lane) -> LaneModel | None:
    for _, key, _ in lane.lookup_keys():
        model = models.get(key)
        if model is not None:
            return model
    return None


def delivery_predict(
    model: LaneModel | None, *, first_scan_at: datetime, as_of: datetime | None = None, min_samples: int
) -> Prediction | NoPrediction:
    """The predicted delivery of a shipment first scanned at ``first_scan_at`` and not delivered by ``as_of``."""
    if model is None:
        return NoPrediction(f"too little delivery history on this lane (fewer than {min_samples} deliveries)")
    start = _start_day(first_scan_at, model.cutoff_hour)
    histogram = model.histogram
    low, mid, high, coverage = model.low, model.mid, model.high, model.coverage
    if as_of is not None:
        local_now = as_of.astimezone(timezone(timedelta(minutes=model.delivery_offset_minutes)))
        elapsed = _delivery_days_between(start, local_now.date(), model.delivery_weekdays)
        # Today still counts while the lane's usual delivery time has not passed.
        if elapsed and local_now.hour * 60 + local_now.minute < model.delivery_minute:
            elapsed -= 1
        if elapsed > model.low:
            # The history still possible: deliveries that took at least this long, as histogram bins.
            remaining = [(t, n) for t, n in sorted(histogram.items()) if t >= elapsed and n > 0]
            total = sum(n for _, n in remaining)
            if total < MIN_REMAINING:
                return NoPrediction(
                    f"later than {total} of {model.sample_size} past deliveries on {model.label}; "
                    "history says too little about it"
                )
            low = _bins_quantile(remaining, total, LOW_QUANTILE, upper=False)
            high = _bins_quantile(remaining, total, HIGH_QUANTILE, upper=True)
            mid = _value_at(remaining, (total - 1) // 2)
            coverage = round(sum(n for t, n in remaining if low <= t <= high) / total, 3)
    weekdays = model.delivery_weekdays
    day = _add_delivery_days(start, mid, weekdays)
    zone = timezone(timedelta(minutes=model.delivery_offset_minutes))
    minute = model.delivery_minute
    return Prediction(
        date=day,
        earliest=_add_delivery_days(start, low, weekdays),
        latest=_add_delivery_days(start, high, weekdays),
        confidence=coverage,
        lane=model.label,
        level=LEVEL_NAMES[model.level],
        sample_size=model.sample_size,
        expected_at=datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone),
    )


# --- backtest ---------------------------------------------------------------------------------


@dataclass
class BacktestResult:
    predicted: int = 0
    not_predicted: int = 0
    abs_error_hours: list[float] = field(default_factory=list)
    inside_window: int = 0
    on_date: int = 0
    # Shipments that also had a carrier ETA: both errors on the same shipments.
    both: int = 0
    ours_abs_error_hours_where_eta: list[float] = field(default_factory=list)
    eta_abs_error_hours: list[float] = field(default_factory=list)
    ours_inside_window_where_eta: int = 0
    eta_on_date: int = 0
    by_lane: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        def mean(values: Sequence[float]) -> float | None:
            return round(sum(values) / len(values), 2) if values else None

        total = self.predicted + self.not_predicted
        return {
            "deliveries_tested": total,
            "predicted": self.predicted,
            "not_predicted": self.not_predicted,
            "mae_hours": mean(self.abs_error_hours),
            "inside_80_window": round(self.inside_window / self.predicted, 3) if self.predicted else None,
            "on_predicted_date": round(self.on_date / self.predicted, 3) if self.predicted else None,
            "with_carrier_eta": self.both,
            "mae_hours_where_eta": mean(self.ours_abs_error_hours_where_eta),
            "carrier_eta_mae_hours": mean(self.eta_abs_error_hours),
            "inside_80_window_where_eta": round(self.ours_inside_window_where_eta / self.both, 3)
            if self.both
            else None,
            "carrier_eta_on_date": round(self.eta_on_date / self.both, 3) if self.both else None,
        }


def backtest(
    samples: Sequence[TransitSample], *, min_samples: int, train_until: datetime, refit_every: timedelta
) -> BacktestResult:
    """Walk forward from ``train_until``: models fitted only on deliveries before each step predict
    the shipments first scanned during that step, as of their first scan."""
    ordered = sorted(samples, key=lambda s: s.first_scan_at)
    result = BacktestResult()
    step_start = train_until
    last = ordered[-1].first_scan_at if ordered else train_until
    while step_start <= last:
        step_end = step_start + refit_every
        models = lane_models_fit((s for s in ordered if s.delivered_at < step_start), min_samples=min_samples)
        for sample in ordered:
            if not step_start <= sample.first_scan_at < step_end:
                continue
            _score(result, sample, models, min_samples)
        step_start = step_end
    return result


def _score(result: BacktestResult, sample: TransitSample, models: Mapping[str, LaneModel], min_samples: int) -> None:
    model = model_for(models, sample.lane)
    prediction = delivery_predict(model, first_scan_at=sample.first_scan_at, min_samples=min_samples)
    if not isinstance(prediction, Prediction):
        result.not_predicted += 1
        return
    delivered_day = sample.delivered_at.astimezone(prediction.expected_at.tzinfo).date()
    error = abs((prediction.expected_at - sample.delivered_at).total_seconds()) / 3600
    inside = prediction.earliest <= delivered_day <= prediction.latest
    result.predicted += 1
    result.abs_error_hours.append(error)
    result.inside_window += inside
    result.on_date += delivered_day == prediction.date
    lane = result.by_lane.setdefault(
        prediction.lane, {"n": 0, "inside": 0, "err": 0.0, "eta_n": 0, "eta_err": 0.0, "ours_err_where_eta": 0.0}
    )
    lane["n"] += 1
    lane["inside"] += inside
    lane["err"] += error
    if sample.carrier_eta is not None:
        eta_error = abs((sample.carrier_eta - sample.delivered_at).total_seconds()) / 3600
        result.both += 1
        result.ours_abs_error_hours_where_eta.append(error)
        result.eta_abs_error_hours.append(eta_error)
        result.ours_inside_window_where_eta += inside
        eta_day = sample.carrier_eta.astimezone(sample.delivered_at.tzinfo).date()
        result.eta_on_date += eta_day == sample.delivered_at.date()
        lane["eta_n"] += 1
        lane["eta_err"] += eta_error
        lane["ours_err_where_eta"] += error
