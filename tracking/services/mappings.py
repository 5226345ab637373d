"""Code mappings: the code-map CSV (parse, validate, export, import) and re-harmonising stored events.

This is the CSV's one home: the import command, the default maps shipped beside
each adapter (``codes.csv``) and the admin's CSV pages all read and write it here.
Columns: ``carrier_code, carrier_sub_code, milestone, code, sub_code[, note]``.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from tracking import db
from tracking.harmonise import harmonise, mapping_table
from tracking.models import (
    CodeMapping,
    Parcel,
    Reharmonisation,
    Shipment,
    StatusCode,
    TrackingEvent,
    UnmappedCode,
)
from tracking.services.recording import events_render, tracked_items_refresh_state
from tracking.signals import events_recorded

CORRECTION_CHUNK = 1000


def events_reharmonise(
    *,
    carrier_id: str,
    codes: Iterable[str] | None = None,
    progress: Callable[[Iterable[int], int], Iterable[int]] | None = None,
    chunk_size: int = 2000,
    now: datetime | None = None,
) -> int:
    """Re-apply the mapping table to stored events of a carrier; returns events changed.

    Every event whose codes change is a correction: it gets ``corrected_at``
    and the re-harmonising transaction's id as its ``txid`` (on SQLite one past the highest stored),
    so it reappears in the ``/events`` feed and the sFTP exports after any
    cursor handed out before; and ``events_recorded`` is sent for it with
    ``correction=True`` in the same transaction, so the outbox delivers it
    again with the same event identity and ``correction: true``.
    ``progress`` wraps the iteration over item chunks (the command line passes
    tqdm; the queued job records it in its Reharmonisation row).
    """
    now = now or timezone.now()
    code_filter = set(codes) if codes is not None else None
    table = mapping_table(carrier_id=carrier_id, codes=code_filter)
    events = TrackingEvent.objects.filter(carrier_id=carrier_id)
    if code_filter is not None:
        events = events.filter(carrier_code__in=code_filter)
    pairs = events.values_list("carrier_code", "carrier_sub_code").distinct()
    changed_ids: list[int] = []
    touched: set[int] = set()
    bump: dict[str, Any] = {"corrected_at": now}
    if connection.vendor == "postgresql":
        bump["txid"] = RawSQL("pg_current_xact_id()::text::bigint", [])
    else:  # serial writers: one past the highest stored, so corrections sort after every cursor
        bump["txid"] = db.sqlite_feed_txid() + 1
    with transaction.atomic():
        for code, sub in list(pairs):
            (milestone, new_code, new_sub), unmapped = harmonise(table, code, sub)
            stale = events.filter(carrier_code=code, carrier_sub_code=sub).exclude(
                milestone=milestone, code=new_code, sub_code=new_sub, unmapped=unmapped
            )
            for event_id, item_id in stale.values_list("id", "tracked_item_id"):
                changed_ids.append(event_id)
                touched.add(item_id)
            stale.update(milestone=milestone, code=new_code, sub_code=new_sub, unmapped=unmapped, **bump)
            if not unmapped:
                UnmappedCode.objects.filter(carrier_id=carrier_id, carrier_code=code, carrier_sub_code=sub).delete()
        if code_filter is not None:
            # A fallback row also resolves the code's sub-code-specific unmapped entries.
            for code, sub in list(
                UnmappedCode.objects.filter(carrier_id=carrier_id, carrier_code__in=code_filter).values_list(
                    "carrier_code", "carrier_sub_code"
                )
            ):
                if not harmonise(table, code, sub)[1]:
                    UnmappedCode.objects.filter(carrier_id=carrier_id, carrier_code=code, carrier_sub_code=sub).delete()
        changed_ids.sort()
        # Their stored track JSON carries the codes: rendered again before anyone can read them.
        events_render(event_ids=changed_ids)
        for start in range(0, len(changed_ids), CORRECTION_CHUNK):
            _corrections_send(changed_ids[start : start + CORRECTION_CHUNK])
    ordered = sorted(touched)
    chunks = range(0, len(ordered), chunk_size)
    iterator: Iterable[int] = progress(chunks, len(chunks)) if progress else chunks
    for start in iterator:
        with transaction.atomic():
            tracked_items_refresh_state(item_ids=ordered[start : start + chunk_size])
    return len(changed_ids)


def _corrections_send(event_ids: list[int]) -> None:
    corrected = list(TrackingEvent.objects.filter(id__in=event_ids).order_by("id"))
    shipments: dict[int, list[Shipment]] = defaultdict(list)
    parcels: dict[int, list[Parcel]] = defaultdict(list)
    item_ids = {e.tracked_item_id for e in corrected}
    for shipment in Shipment.objects.filter(tracked_item_id__in=item_ids).select_related("customer"):
        shipments[shipment.tracked_item_id].append(shipment)
    for parcel in Parcel.objects.filter(tracked_item_id__in=item_ids).select_related("shipment__customer"):
        parcels[parcel.tracked_item_id].append(parcel)
    events_recorded.send(sender=TrackingEvent, events=corrected, shipments=shipments, parcels=parcels, correction=True)


def reharmonisation_run(*, reharmonisation_id: int) -> int:
    """Run one queued re-harmonisation, recording its progress and outcome on its row."""
    job = Reharmonisation.objects.get(pk=reharmonisation_id)
    Reharmonisation.objects.filter(pk=job.pk).update(status=Reharmonisation.Status.RUNNING, started_at=timezone.now())

    def progress(chunks: Iterable[int], total: int) -> Iterable[int]:
        Reharmonisation.objects.filter(pk=job.pk).update(chunks_total=total)
        for done, chunk in enumerate(chunks, start=1):
            yield chunk
            Reharmonisation.objects.filter(pk=job.pk).update(chunks_done=done)

    try:
        changed = events_reharmonise(carrier_id=job.carrier_id, codes=job.codes, progress=progress)
    except Exception as exc:
        Reharmonisation.objects.filter(pk=job.pk).update(
            status=Reharmonisation.Status.FAILED, error=str(exc)[:500], finished_at=timezone.now()
        )
        raise
    Reharmonisation.objects.filter(pk=job.pk).update(
        status=Reharmonisation.Status.DONE, events_changed=changed, finished_at=timezone.now()
    )
    return changed


def reharmonisation_create(
    *, carrier_id: str, codes: Iterable[str] | None = None, requested_by: str = ""
) -> Reharmonisation:
    """The row a queued re-harmonisation reports its progress on (``tracking.tasks`` queues the work)."""
    return Reharmonisation.objects.create(
        carrier_id=carrier_id, codes=sorted(set(codes)) if codes is not None else None, requested_by=requested_by[:100]
    )


class MappingError(ValueError):
    """A mapping row that cannot be stored (names the row and the problem)."""


@dataclass
class MappingRow:
    carrier_code: str
    carrier_sub_code: str
    milestone: str
    code: str
    sub_code: str
    note: str = ""


REQUIRED_COLUMNS = ["carrier_code", "carrier_sub_code", "milestone", "code", "sub_code"]
CSV_COLUMNS = [*REQUIRED_COLUMNS, "note"]


def mapping_rows_from_csv(text: str) -> list[MappingRow]:
    """Parse a code-map CSV; a missing column or unreadable CSV is a ``MappingError``.

    Only the shape is checked here; ``mapping_rows_validate`` checks the rows' content.
    """
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise MappingError(f"CSV is missing column(s): {', '.join(missing)}")
        rows = []
        for raw in reader:
            cells = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            rows.append(
                MappingRow(
                    carrier_code=cells["carrier_code"],
                    carrier_sub_code=cells["carrier_sub_code"],
                    milestone=cells["milestone"],
                    code=cells["code"],
                    sub_code=cells["sub_code"],
                    note=cells.get("note", ""),
                )
            )
    except csv.Error as exc:
        raise MappingError(f"unreadable CSV: {exc}") from None
    return rows


def mapping_rows_from_file(*, data: bytes, max_bytes: int) -> list[MappingRow]:
    """An uploaded code-map file: at most ``max_bytes``, UTF-8 (a BOM is fine), a header and at least one row."""
    if len(data) > max_bytes:
        raise MappingError(f"the file is {len(data)} bytes; the limit is {max_bytes}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MappingError("the file is not UTF-8 text") from None
    rows = mapping_rows_from_csv(text)
    if not rows:
        raise MappingError("the file has a header but no rows")
    return rows


def code_mappings_csv(*, carrier_id: str) -> str:
    """A carrier's mappings as a code-map CSV (with notes), as ``mapping_rows_from_csv`` reads it back."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    mappings = (
        CodeMapping.objects.filter(carrier_id=carrier_id)
        .select_related("status")
        .order_by("carrier_code", "carrier_sub_code")
    )
    for m in mappings:
        writer.writerow([m.carrier_code, m.carrier_sub_code, *m.status.triple, m.note])
    return buffer.getvalue()


def mapping_rows_validate(*, rows: Sequence[MappingRow]) -> dict[tuple[str, str, str], StatusCode]:
    """Check every row (code present, status in the taxonomy, no code twice); returns the statuses by triple."""
    statuses = {s.triple: s for s in StatusCode.objects.all()}
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(rows, start=1):
        if not row.carrier_code.strip():
            raise MappingError(f"row {number}: carrier_code is empty")
        if (row.milestone, row.code, row.sub_code) not in statuses:
            raise MappingError(
                f"row {number}: {row.milestone}/{row.code}/{row.sub_code} is not in the harmonised taxonomy"
            )
        key = (row.carrier_code, row.carrier_sub_code)
        if key in seen:
            raise MappingError(f"row {number}: carrier code {row.carrier_code}/{row.carrier_sub_code} appears twice")
        seen.add(key)
    return statuses


def code_mappings_import(
    *,
    carrier_id: str,
    rows: Sequence[MappingRow],
    reharmonise: bool = True,
    progress: Callable[[Iterable[int], int], Iterable[int]] | None = None,
) -> dict[str, int]:
    """Validate every row first (all or nothing), then upsert and re-harmonise.

    Returns counts: created, updated, unchanged, events_reharmonised.
    """
    statuses = mapping_rows_validate(rows=rows)
    counts = {"created": 0, "updated": 0, "unchanged": 0, "events_reharmonised": 0}
    existing = {(m.carrier_code, m.carrier_sub_code): m for m in CodeMapping.objects.filter(carrier_id=carrier_id)}
    changed_codes: set[str] = set()
    with transaction.atomic():
        for row in rows:
            status = statuses[(row.milestone, row.code, row.sub_code)]
            current = existing.get((row.carrier_code, row.carrier_sub_code))
            if current is None:
                CodeMapping.objects.create(
                    carrier_id=carrier_id,
                    carrier_code=row.carrier_code,
                    carrier_sub_code=row.carrier_sub_code,
                    status=status,
                    note=row.note[:200],
                )
                counts["created"] += 1
                changed_codes.add(row.carrier_code)
            elif current.status_id != status.id or (row.note and current.note != row.note[:200]):
                if current.status_id != status.id:
                    changed_codes.add(row.carrier_code)
                current.status = status
                current.note = row.note[:200] or current.note
                current.save(update_fields=["status", "note", "updated_at"])
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
    if reharmonise and changed_codes:
        counts["events_reharmonised"] = events_reharmonise(
            carrier_id=carrier_id, codes=changed_codes, progress=progress
        )
    return counts
