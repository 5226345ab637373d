"""Benchmark the X12 214 reader and writer on a large generated file.

    python bench/edi.py [--mb 200] [--keep]

Generates a 214 interchange of about ``--mb`` megabytes in a temporary
directory, parses it with ``iter_events``, then parses it again while
writing every event back out with the streaming writer. Rates are per
second of process CPU time (wall time is printed too), so a busy machine
does not distort them. Prints throughput and peak RSS, and ends with one line of JSON:
``{"parse_mb_per_s", "parse_events_per_s", "write_events_per_s", "peak_rss_mb", ...}``.

Targets on a 2-core machine: parse >= 20 MB/s, write >= 50,000 events/s,
peak RSS < 100 MB whatever the size (everything streams).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edi.model import StatusEvent
from edi.x12.reader import iter_events
from edi.x12.writer import X12Profile, write_x12_214_stream

CODES = [("X3", "NS"), ("AF", "NS"), ("X6", "NS"), ("X4", "NS"), ("P1", "NS"), ("AH", "A1"), ("D1", "NS")]
PLACES = [
    ("Chicago", "IL", "US"),
    ("Dallas", "TX", "US"),
    ("Newark", "NJ", "US"),
    ("Reno", "NV", "US"),
    ("Toronto", "ON", "CA"),
    ("Denver", "CO", "US"),
]


STREETS = ["1200 INDUSTRIAL PKWY", "88 COMMERCE DR", "4500 W 47TH ST", "17 HARBOR RD", "900 LOGISTICS WAY"]
COMPANIES = [
    "ACME MANUFACTURING INC",
    "WIDGET DISTRIBUTION LLC",
    "NORTHWIND TRADERS",
    "CONTOSO FOODS",
    "FABRIKAM RETAIL DC",
]
ZIPS = {"IL": "60632", "TX": "75201", "NJ": "07102", "NV": "89502", "ON": "M5V 2T6", "CO": "80216"}


def generate_file(out: IO[bytes], target_bytes: int) -> tuple[int, int]:
    """Write a realistic 214 interchange of about ``target_bytes``.

    Shaped like carriers' production files rather than the writer's minimal
    output: each set carries shipper and consignee N1 loops with addresses,
    several references and an MS3, then one to three LX loops with AT7, MS1,
    MS2, L11, K1 and AT8. Written from templates, since building events just
    to serialise them would benchmark the generator, not the library.
    """
    start = datetime(2026, 1, 5, 6, 0)
    head = (
        "ISA*00*          *00*          *ZZ*GLUEYBENCH     *ZZ*PARTNER        *260105*0600*^*00501*"
        "000000001*0*P*>~\nGS*QM*GLUEYBENCH*PARTNER*20260105*0600*1*X*005010~\n"
    )
    out.write(head.encode())
    size = len(head)
    n = events = 0
    tcodes = ["LT", "CT", "ET", "UT", "", "PT"]
    while size < target_bytes:
        parts = []
        for _ in range(500):
            n += 1
            ctl = f"{n % 1_000_000_000:09d}"
            sh, cn = COMPANIES[n % 5], COMPANIES[(n + 2) % 5]
            o_city, o_state, o_country = PLACES[n % len(PLACES)]
            d_city, d_state, d_country = PLACES[(n + 3) % len(PLACES)]
            seg = [
                f"ST*214*{ctl}",
                f"B10*PRO{n:010d}*SHP{n:08d}*GLUE",
                f"L11*BOL{n:08d}*BM",
                f"L11*PO-{n % 99991}*PO",
                f"L11*Q{n % 7919:06d}*QN",
                f"L11*{n % 50000:06d}*CR",
                f"N1*SH*{sh}*93*S{n % 997:05d}",
                f"N3*{STREETS[n % 5]}",
                f"N4*{o_city.upper()}*{o_state}*{ZIPS[o_state]}*{o_country}",
                f"N1*CN*{cn}*93*C{n % 991:05d}",
                f"N3*{STREETS[(n + 1) % 5]}*DOCK {n % 40}",
                f"N4*{d_city.upper()}*{d_state}*{ZIPS[d_state]}*{d_country}",
                "MS3*GLUE*B**M",
            ]
            # Most carriers send one status per transaction set; some batch a few.
            for i in range(1 if n % 10 else 3):
                code, reason = CODES[(n + i) % len(CODES)]
                city, state, country = PLACES[(n + i) % len(PLACES)]
                when = start + timedelta(minutes=n + 131 * i)
                seg += [
                    f"LX*{i + 1}",
                    f"AT7*{code}*{reason}***{when:%Y%m%d}*{when:%H%M}*{tcodes[(n + i) % 6]}".rstrip("*"),
                    f"MS1*{city.upper()}*{state}*{country}",
                    f"MS2*GLUE*TRL{n % 8000:05d}",
                    f"L11*{n % 100000:05d}*SI",
                    "K1*STATUS FROM TERMINAL SCAN",
                    f"AT8*G*L*{1000 + n % 9000}*{1 + n % 30}",
                ]
                events += 1
            seg.append(f"SE*{len(seg) + 1}*{ctl}")
            parts.append("~\n".join(seg) + "~\n")
        data = "".join(parts).encode()
        out.write(data)
        size += len(data)
    tail = f"GE*{n}*1~\nIEA*1*000000001~\n"
    out.write(tail.encode())
    return n, events


def cpu() -> float:
    """Process CPU time: the library is single-threaded, and CPU time is not
    inflated when other work shares the machine (CI, other test suites)."""
    return time.process_time()


def batched(items: Iterator[StatusEvent], clock: list[float], size: int = 2_000) -> Iterator[StatusEvent]:
    """Pass events through in batches, adding the CPU time spent reading each
    batch to clock[0], so that what remains of a run is the writer's time."""
    it = iter(items)
    while True:
        t0 = cpu()
        batch = list(islice(it, size))
        clock[0] += cpu() - t0
        if not batch:
            return
        yield from batch


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="size of the generated file in MB")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    profile = X12Profile(sender_id="GLUEYBENCH", receiver_id="PARTNER", release="5010")
    tmp = tempfile.mkdtemp(prefix="edi-bench-")
    src, back = os.path.join(tmp, "in.edi"), os.path.join(tmp, "out.edi")
    try:
        t0 = time.perf_counter()
        with open(src, "wb") as raw:
            n_sets, n_events = generate_file(raw, int(args.mb * 1_000_000))
        t_gen = time.perf_counter() - t0
        size_mb = os.path.getsize(src) / 1_000_000
        print(f"generated {size_mb:.1f} MB: {n_events:,} events in {n_sets:,} transaction sets ({t_gen:.1f} s)")

        w0, t0 = time.perf_counter(), cpu()
        with open(src, "rb") as f:
            n = sum(1 for _ in iter_events(f))
        t_parse, w_parse = cpu() - t0, time.perf_counter() - w0
        print(
            f"parsed {n:,} events in {t_parse:.1f} s CPU ({w_parse:.1f} s wall): {size_mb / t_parse:.1f} MB/s, "
            f"{n / t_parse:,.0f} events/s"
        )

        clock = [0.0]
        w0, t0 = time.perf_counter(), cpu()
        with open(src, "rb") as f, open(back, "wb") as out:
            summary = write_x12_214_stream(batched(iter_events(f), clock), profile, out, 2, 2)
        t_round, w_round = cpu() - t0, time.perf_counter() - w0
        t_write = max(t_round - clock[0], 1e-9)
        print(
            f"wrote back {summary.events:,} events in {t_write:.1f} s CPU of writer time "
            f"({summary.events / t_write:,.0f} events/s); round trip {t_round:.1f} s CPU ({w_round:.1f} s wall)"
        )
        rss = peak_rss_mb()
        print(f"peak RSS {rss:.1f} MB")
        figures = {
            "file_mb": round(size_mb, 1),
            "events": n,
            "parse_mb_per_s": round(size_mb / t_parse, 1),
            "parse_events_per_s": round(n / t_parse),
            "write_events_per_s": round(summary.events / t_write),
            "peak_rss_mb": round(rss, 1),
        }
        print(json.dumps(figures))
    finally:
        if not args.keep:
            for p in (src, back):
                if os.path.exists(p):
                    os.remove(p)
            os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
