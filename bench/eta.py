"""Backtest of predicted delivery dates on the simulator's lanes.

Generates months of parcels on the simulated lanes (carriers/simulator/lanes.py:
cut-offs, weekends, Saturday delivery on some lanes, delays, a pre-Christmas
peak), records their events through events_record as any channel would, reads
the deliveries back from the database (transit_samples), and walks forward:
every week, lanes are learnt only from deliveries before that week and predict
the parcels first scanned in it, as of their first scan. Reports mean absolute
error in hours, the share of deliveries inside the 80 % window, and the same
shipments' carrier ETA error where the carrier gave one. Ends with one JSON line.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gluey_bench_eta python bench/eta.py [--days N] [--per-day N]

The database named in DATABASE_URL is dropped and created again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gluey.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gluey_bench_eta")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=180, help="days of first scans to simulate")
    parser.add_argument("--per-day", type=int, default=60, help="parcels first scanned per weekday")
    parser.add_argument("--train-days", type=int, default=60, help="days of history before the first prediction")
    parser.add_argument("--min-samples", type=int, default=30, help="deliveries a lane needs before we predict")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()

    from bench.common import recreate_database

    url = os.environ["DATABASE_URL"]
    if url.startswith("postgres"):
        recreate_database(url)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.DEBUG = False
    call_command("migrate", verbosity=0)

    from carriers.services import carrier_create
    from carriers.simulator.lanes import API, FILES, PUSH, journeys
    from tracking.prediction import backtest
    from tracking.services import events_record, lane_stats_refresh, transit_samples

    for carrier_id, adapter in ((PUSH, "generic_json"), (FILES, "x12_214"), (API, "dhl")):
        carrier_create(carrier_id=carrier_id, adapter=adapter)

    start = date(2026, 7, 1)
    simulated = list(journeys(start=start, days=args.days, per_day=args.per_day, seed=args.seed))
    print(f"database: {connection.vendor}; {len(simulated)} parcels first scanned over {args.days} days")

    started = time.perf_counter()
    events = 0
    for carrier_id in (PUSH, FILES, API):
        batch = [e for j in simulated if j.lane.carrier_id == carrier_id for e in j.events]
        for offset in range(0, len(batch), 1000):
            events += len(
                events_record(carrier=carrier_id, events=batch[offset : offset + 1000], channel="manual").created
            )
    print(f"recorded {events} events in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    samples = transit_samples(since=datetime.combine(start, datetime.min.time(), tzinfo=UTC))
    read_s = time.perf_counter() - started
    print(f"read {len(samples)} deliveries back from the database in {read_s:.1f} s")

    train_until = datetime.combine(start + timedelta(days=args.train_days), datetime.min.time(), tzinfo=UTC)
    started = time.perf_counter()
    result = backtest(samples, min_samples=args.min_samples, train_until=train_until, refit_every=timedelta(days=7))
    backtest_s = time.perf_counter() - started

    now = datetime.combine(start + timedelta(days=args.days + 10), datetime.min.time(), tzinfo=UTC)
    settings.PREDICTION_HISTORY_DAYS = args.days + 10
    settings.PREDICTION_MIN_SAMPLES = args.min_samples
    started = time.perf_counter()
    lanes = lane_stats_refresh(now=now)
    refresh_s = time.perf_counter() - started

    print()
    print(f"{'lane':42} {'n':>5} {'in 80% window':>14} {'MAE h':>7} {'carrier ETA MAE h':>18} {'ours, same':>11}")
    for label, lane in sorted(result.by_lane.items()):
        eta = f"{lane['eta_err'] / lane['eta_n']:.1f}" if lane["eta_n"] else "no ETA"
        ours_same = f"{lane['ours_err_where_eta'] / lane['eta_n']:.1f}" if lane["eta_n"] else "—"
        print(
            f"{label:42} {lane['n']:>5} {lane['inside'] / lane['n']:>14.1%} {lane['err'] / lane['n']:>7.1f} "
            f"{eta:>18} {ours_same:>11}"
        )
    figures = result.summary()
    print()
    print(
        f"all lanes: {figures['predicted']} predicted, {figures['not_predicted']} not (too little history); "
        f"MAE {figures['mae_hours']} h; {figures['inside_80_window']:.1%} inside the 80 % window; "
        f"{figures['on_predicted_date']:.1%} on the predicted date"
    )
    if figures["with_carrier_eta"]:
        print(
            f"where the carrier gave an ETA ({figures['with_carrier_eta']} parcels): ours MAE "
            f"{figures['mae_hours_where_eta']} h vs carrier ETA {figures['carrier_eta_mae_hours']} h; "
            f"delivered on the carrier's ETA date {figures['carrier_eta_on_date']:.1%}, "
            f"inside our window {figures['inside_80_window_where_eta']:.1%}"
        )
    print(
        f"backtest {backtest_s:.1f} s; lane refresh {refresh_s:.1f} s for {len(samples)} deliveries → {lanes} lane rows"
    )
    print(
        json.dumps(
            {
                "bench": "eta",
                "parcels": len(simulated),
                "events": events,
                **figures,
                "lane_rows": lanes,
                "refresh_s": round(refresh_s, 2),
                "backtest_s": round(backtest_s, 2),
                "read_s": round(read_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
