"""The polling schedule of tracked items: the only code that writes their polling columns.

A tracked item's ``next_check_at`` says when a polling carrier should look at
it again (None: never). The carriers app decides *when* (cadence, quotas,
back-off) and tells this module; it never writes these columns itself (docs/architecture.md: an app
changes another app's rows only through that app's services).

- ``tracked_items_take_due`` — lock up to N due items of one carrier and lease them,
  so two dispatchers never take the same item;
- ``tracked_items_set_checks`` — record the outcome of checks (next check, not-found count);
- ``tracked_items_postpone`` — move items to a later time (carrier backing off, lease);
- ``tracked_items_check_soon`` — a newly registered number is checked at the next dispatch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q

from tracking.models import TrackedItem

UPDATE_CHUNK = 2000


@dataclass(frozen=True)
class CheckOutcome:
    """What one check of one item decided. ``next_check_at`` None stops polling it."""

    item_id: int
    next_check_at: datetime | None
    not_found: bool = False
    reason: str = ""


def tracked_items_take_due(*, carrier_id: str, limit: int, now: datetime, lease: timedelta) -> list[int]:
    """Lock up to ``limit`` due items of a carrier (skipping rows another dispatcher holds) and lease them.

    Leasing pushes ``next_check_at`` to ``now + lease``: a lost poll task frees
    its items when the lease runs out. Call inside a transaction.
    """
    if limit <= 0:
        return []
    lease_until = now + lease
    if connection.vendor == "postgresql":
        # One statement: pick, lock (SKIP LOCKED) and lease, returning what we took.
        table = connection.ops.quote_name(TrackedItem._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {table} SET next_check_at = %s
                WHERE id IN (
                    SELECT id FROM {table}
                    WHERE carrier_id = %s AND next_check_at <= %s
                    ORDER BY next_check_at
                    LIMIT %s
                    FOR UPDATE SKIP LOCKED
                )
                RETURNING id
                """,
                [lease_until, carrier_id, now, limit],
            )
            return [row[0] for row in cursor.fetchall()]
    # SQLite: writers are serialised (BEGIN IMMEDIATE), so select-then-update cannot interleave.
    qs = TrackedItem.objects.filter(carrier_id=carrier_id, next_check_at__lte=now).order_by("next_check_at")
    ids = list(qs.values_list("id", flat=True)[:limit])
    for start in range(0, len(ids), UPDATE_CHUNK):
        TrackedItem.objects.filter(id__in=ids[start : start + UPDATE_CHUNK]).update(next_check_at=lease_until)
    return ids


def tracked_items_set_checks(*, outcomes: Sequence[CheckOutcome], now: datetime) -> int:
    """Record checks made at ``now``: the next check, and how often in a row the carrier did not know the number."""
    items = {i.id: i for i in TrackedItem.objects.filter(id__in=[o.item_id for o in outcomes])}
    changed = []
    for outcome in outcomes:
        item = items.get(outcome.item_id)
        if item is None:
            continue
        if outcome.not_found:
            item.check_failures += 1
            item.invalid_reason = outcome.reason[:300]
        else:
            item.check_failures = 0
            item.invalid_reason = outcome.reason[:300]
        item.last_checked_at = now
        item.next_check_at = outcome.next_check_at
        changed.append(item)
    TrackedItem.objects.bulk_update(changed, ["check_failures", "invalid_reason", "last_checked_at", "next_check_at"])
    return len(changed)


def tracked_items_postpone(
    *, item_ids: Iterable[int], until: datetime | None, checked_at: datetime | None = None, reason: str | None = None
) -> int:
    """Move items' next check to ``until`` (None: stop polling them), optionally noting a check and why."""
    fields: dict[str, object] = {"next_check_at": until}
    if checked_at is not None:
        fields["last_checked_at"] = checked_at
    if reason is not None:
        fields["invalid_reason"] = reason[:300]
    ids = list(item_ids)
    count = 0
    for start in range(0, len(ids), UPDATE_CHUNK):
        count += TrackedItem.objects.filter(id__in=ids[start : start + UPDATE_CHUNK]).update(**fields)
    return count


def tracked_items_check_soon(*, item_ids: Iterable[int], now: datetime, keep_before: datetime) -> int:
    """Schedule items for the next dispatch; items already due before ``keep_before`` (or leased) keep their slot."""
    return (
        TrackedItem.objects.filter(id__in=list(item_ids))
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__gt=keep_before))
        .update(next_check_at=now)
    )
