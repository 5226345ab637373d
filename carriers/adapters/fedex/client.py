"""FedEx Track API: what we ask per number, and which of several shipments sharing a number we keep.

FedEx reuses tracking numbers. When one number belongs to several shipments,
its ``completeTrackResults`` entry holds several ``trackResults``, told apart
by ``trackingNumberInfo.trackingNumberUniqueId``. Their scans must never be
merged into one history, so per number exactly one result is kept:

1. the one with the unique id we already know for the registered shipment;
2. else the one whose ship date (``dateAndTimes`` SHIP / ACTUAL_PICKUP) is the
   registered ``ship_date``;
3. else the latest: the most recent ship date, then the most recent scan.

The kept result's unique id is remembered and sent on later requests
(``trackingNumberInfo.trackingNumberUniqueId``), with ``shipDateBegin`` /
``shipDateEnd`` when the ship date is known, so FedEx answers about that
shipment alone. The choice is flagged for ops when it was not by unique id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from carriers.adapters.base import Selection

_SHIP_TYPES = ("SHIP", "ACTUAL_PICKUP")


def tracking_info(number: str, hints: Mapping[str, str]) -> dict[str, Any]:
    info: dict[str, Any] = {"trackingNumber": number}
    if hints.get("unique_id"):
        info["trackingNumberUniqueId"] = hints["unique_id"]
    entry: dict[str, Any] = {"trackingNumberInfo": info}
    if hints.get("ship_date"):
        entry["shipDateBegin"] = hints["ship_date"]
        entry["shipDateEnd"] = hints["ship_date"]
    return entry


def _unique_id(result: dict[str, Any]) -> str:
    info = value if isinstance(value := result.get("trackingNumberInfo"), dict) else {}
    return str(info.get("trackingNumberUniqueId") or "")


def _ship_time(result: dict[str, Any]) -> str:
    for item in result.get("dateAndTimes") or []:
        if isinstance(item, dict) and item.get("type") in _SHIP_TYPES and item.get("dateTime"):
            return str(item["dateTime"])
    return ""


def _last_scan(result: dict[str, Any]) -> str:
    dates = [str(s.get("date") or "") for s in result.get("scanEvents") or [] if isinstance(s, dict)]
    return max(dates, default="")


def _choose(results: list[dict[str, Any]], hints: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The result to keep, and how it was chosen."""
    if hints.get("unique_id"):
        for result in results:
            if _unique_id(result) == hints["unique_id"]:
                return result, "unique id"
    if hints.get("ship_date"):
        for result in results:
            if _ship_time(result)[:10] == hints["ship_date"][:10]:
                return result, "ship date"
    return max(results, key=lambda r: (_ship_time(r), _last_scan(r))), "latest"


def select_track_results(payload: bytes, asked: Mapping[str, Mapping[str, str]]) -> Selection:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return Selection(body=payload)
    output = data.get("output") if isinstance(data, dict) else None
    entries = output.get("completeTrackResults") if isinstance(output, dict) else None
    if not isinstance(entries, list):
        return Selection(body=payload)
    problems: dict[str, str] = {}
    learned: dict[str, dict[str, str]] = {}
    changed = False
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("trackResults"), list):
            continue
        number = str(entry.get("trackingNumber") or "")
        results = [r for r in entry["trackResults"] if isinstance(r, dict) and not r.get("error")]
        if len(results) < 2:
            if len(results) == 1 and _unique_id(results[0]) and number in asked:
                learned[number] = {"unique_id": _unique_id(results[0])}
            continue
        chosen, how = _choose(results, asked.get(number, {}))
        entry["trackResults"] = [chosen]
        changed = True
        if _unique_id(chosen):
            learned[number] = {"unique_id": _unique_id(chosen)}
        if how != "unique id":
            ids = ", ".join(_unique_id(r) or "?" for r in results)
            problems[number] = (
                f"FedEx has {len(results)} shipments numbered {number} (unique ids {ids}); kept "
                f"{_unique_id(chosen) or 'one'} by {how}; the others' scans are not recorded"
            )
    if not changed:
        return Selection(body=payload, learned=learned)
    return Selection(body=json.dumps(data).encode(), problems=problems, learned=learned)
