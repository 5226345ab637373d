"""Representation helpers that trade clarity for speed keep exactly the plain version's output."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from tracking.representations import _isoformats


def test_bulk_isoformat_writes_what_isoformat_writes():
    rng = random.Random(13)
    offsets = [0, 60, -300, 330, 345, -570, 840, -720]
    values = [
        datetime(
            rng.randint(1000, 9999),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.choice([0, 1, 10, 100_000, 999_999, rng.randint(0, 999_999)]),
            tzinfo=timezone(timedelta(minutes=rng.choice(offsets))),
        )
        for _ in range(5000)
    ]
    values += [datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, 0, 0, 0, 5, tzinfo=UTC)]
    assert _isoformats(values) == [v.isoformat() for v in values]
    assert _isoformats([]) == []
