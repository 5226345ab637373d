"""Which recorded events may move a tracked item's current state (docs/architecture.md, "current state").

The state is the harmonised status of the latest event by carrier time
(ties: the later recorded), with three exceptions, because a customer reads
the state as "where is my parcel" and each of these would answer it wrongly:

- an unmapped event (admin/other/other) says nothing about the parcel; once
  ops map its code and the history is re-harmonised, the state is recomputed;
- an estimate only carries a forecast (the ETA), not something that happened;
- after ``delivery/delivered`` only a later delivery, return, exception or
  post-delivery event moves it: carriers keep scanning delivered parcels
  (billing, depot housekeeping, notification e-mails) and none of that makes
  a delivered parcel in transit again.

Pure functions: ``recording`` applies them to new events and
``tracked_items_refresh_state`` to a stored history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, TypeVar

# Milestones that may follow a delivery.
AFTER_DELIVERY = frozenset({"delivery", "return_to_sender", "return_centre", "exception", "post_delivery"})
# Delivery-milestone codes that are messages about the parcel, not something done to it.
_DELIVERY_HOUSEKEEPING = frozenset({"notification", "admin"})


def moves_state(*, current: tuple[str, str], milestone: str, code: str, unmapped: bool, estimate: bool) -> bool:
    """Whether an event with this harmonised status may replace ``current`` (milestone, code) as the state.

    Time order is the caller's business: this only says whether the kind of
    event is allowed to.
    """
    if unmapped or estimate:
        return False
    if current == ("delivery", "delivered"):
        if milestone == "delivery":
            return code not in _DELIVERY_HOUSEKEEPING
        return milestone in AFTER_DELIVERY
    return True


class StateEvent(Protocol):
    occurred_at: datetime
    milestone: str
    code: str
    unmapped: bool
    estimate: bool


E = TypeVar("E", bound=StateEvent)


def fold_state(events: Iterable[E], *, current: tuple[str, str], current_at: datetime | None) -> E | None:
    """The event that becomes the state after ``events`` (sorted by carrier time, then recording order), or None.

    Events older than ``current_at`` never roll the state back; on a tie in
    carrier time the later one wins.
    """
    chosen: E | None = None
    for event in events:
        if current_at is not None and event.occurred_at < current_at:
            continue
        if moves_state(
            current=current,
            milestone=event.milestone,
            code=event.code,
            unmapped=event.unmapped,
            estimate=event.estimate,
        ):
            chosen, current, current_at = event, (event.milestone, event.code), event.occurred_at
    return chosen
