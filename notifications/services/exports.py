"""sFTP exports: each run turns the events recorded since a destination's cursor into
one EDI interchange, persists it, uploads it under a temporary name, renames it
into place, and only then advances the cursor.

The Export row (file name, control number, cursor range, bytes, sha256) is
written before the upload, so a failed run is retried with the very same file:
same name, same control number, same bytes. Control numbers come from the
destination's counter, bumped in the transaction that creates the Export, so
they rise and are never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from edi.errors import EdiError
from gluey import sftp
from notifications import conf
from notifications.models import Export, ExportFormat, ExportStatus, SftpDestination
from tracking import selectors as tracking_selectors
from tracking.models import TrackingEvent

logger = logging.getLogger(__name__)

EXPORT_TASK = "notifications.tasks.export_run"
# One run uploads at most this many files, then leaves the rest to the next run.
FILES_PER_RUN = settings.EXPORT_FILES_PER_RUN


class InvalidDestination(ValueError):
    """A destination setting that cannot work: ``field`` names it, ``reason`` says why; ``str()`` is both."""

    def __init__(self, reason: str, *, field: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ExportFailed(Exception):
    """An upload failed; the Export stays pending and the next run re-sends it as is."""


@dataclass
class ExportRunResult:
    uploaded: list[str]
    busy: bool = False


# --- Validation and scheduling ---------------------------------------------------------------


def sftp_destination_validate(*, values: Mapping[str, Any]) -> None:
    """Raise InvalidDestination naming the first unusable field of a destination's values."""
    if not str(values.get("host") or "").strip():
        raise InvalidDestination("a host is required", field="host")
    port = values.get("port") or 22
    if not 1 <= int(port) <= 65535:
        raise InvalidDestination("must be 1–65535", field="port")
    if not str(values.get("username") or "").strip():
        raise InvalidDestination("a user name is required", field="username")
    keys = [line for line in str(values.get("host_keys") or "").splitlines() if line.strip()]
    if not keys:
        raise InvalidDestination("pin at least one host key (ssh-ed25519 AAAA…)", field="host_keys")
    for line in keys:
        try:
            sftp.parse_public_key(line)
        except sftp.SftpError as exc:
            raise InvalidDestination(str(exc), field="host_keys") from None
    if values.get("private_key"):
        try:
            sftp.load_private_key(str(values["private_key"]), str(values.get("passphrase") or ""))
        except sftp.SftpError as exc:
            raise InvalidDestination(str(exc), field="private_key") from None
    elif not values.get("password"):
        raise InvalidDestination("give a password or a private key", field="password")
    if not str(values.get("remote_dir") or "/").startswith("/"):
        raise InvalidDestination("must be an absolute path (/…)", field="remote_dir")
    fmt = values.get("format")
    if fmt not in ExportFormat.values:
        raise InvalidDestination(f"must be one of {', '.join(ExportFormat.values)}", field="format")
    if fmt == ExportFormat.X12_214 and not values.get("isa_receiver_id"):
        raise InvalidDestination("X12 exports need the receiver's ISA id", field="isa_receiver_id")
    if fmt == ExportFormat.EDIFACT_IFTSTA and not values.get("unb_recipient"):
        raise InvalidDestination("EDIFACT exports need the UNB recipient", field="unb_recipient")
    if int(values.get("interval_minutes") or 0) < 1:
        raise InvalidDestination("must be at least 1", field="interval_minutes")


def sftp_destination_schedule(*, destination: SftpDestination) -> PeriodicTask:
    """Create or update the destination's django-celery-beat PeriodicTask."""
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=max(1, destination.interval_minutes), period=IntervalSchedule.MINUTES
    )
    name = f"sftp export: destination {destination.pk} ({destination.name})"[:200]
    values = {
        "name": name,
        "task": EXPORT_TASK,
        "interval": interval,
        "args": json.dumps([destination.pk]),
        "enabled": destination.enabled,
        "queue": None,
        "description": f"Upload new events to {destination.host}:{destination.port}{destination.remote_dir}",
    }
    task = (
        PeriodicTask.objects.filter(pk=destination.periodic_task_id).first() if destination.periodic_task_id else None
    )
    if task is None:
        task = PeriodicTask.objects.create(**values)
        SftpDestination.objects.filter(pk=destination.pk).update(periodic_task=task)
        destination.periodic_task = task
    else:
        for key, value in values.items():
            setattr(task, key, value)
        task.save()
    return task


def sftp_destination_unschedule(*, destination: SftpDestination) -> None:
    if destination.periodic_task_id:
        PeriodicTask.objects.filter(pk=destination.periodic_task_id).delete()


def export_enqueue(*, destination_id: int) -> None:
    from notifications.tasks import export_run

    transaction.on_commit(lambda: export_run.delay(destination_id), robust=True)


# --- Building a file ---------------------------------------------------------------------------


def status_event(entry: tracking_selectors.FeedEntry, *, all_references: bool = False) -> Any:
    """A recorded event as the EDI writers' neutral StatusEvent.

    The carrier's code, sub-code and text pass through unchanged and the time
    keeps the carrier's offset. References carry the customer's own shipment
    reference (``CR``); with ``all_references`` (CSV, which has no length
    limits) also Gluey's shipment id (``SHIPMENT_ID``), the parcel reference
    (``PARCEL_REF``) and the harmonised code (``GLUEY``, milestone/code/sub_code).
    """
    from edi.model import Location as EdiLocation
    from edi.model import StatusEvent

    event, shipment, parcel = entry.event, entry.shipment, entry.parcel
    offset = dt_timezone(timedelta(minutes=event.utc_offset_minutes))
    place = event.location or {}
    references: list[tuple[str, str]] = []
    if shipment.uuid_ref:
        references.append(("CR", shipment.uuid_ref))
    if all_references:
        references.append(("SHIPMENT_ID", str(shipment.id)))
        if parcel is not None and parcel.uuid_ref:
            references.append(("PARCEL_REF", parcel.uuid_ref))
        references.append(("GLUEY", f"{event.milestone}/{event.code}/{event.sub_code}"))
    return StatusEvent(
        tracking_id=parcel.carrier_tracking_id if parcel is not None else shipment.carrier_tracking_id,
        carrier_code=event.carrier_code,
        carrier_sub_code=event.carrier_sub_code,
        occurred_at=event.occurred_at.astimezone(offset),
        description=event.carrier_text,
        location=EdiLocation(
            city=str(place.get("city") or ""),
            state=str(place.get("state") or ""),
            postal_code=str(place.get("postal_code") or ""),
            iso_country=str(place.get("iso_country") or ""),
            code=str(place.get("code") or ""),
            name=str(place.get("name") or ""),
        ),
        references=tuple(references),
        shipper_id=shipment.reference_shipper,
        eta=event.eta,
        weight=event.weight_kg,
        weight_unit="K" if event.weight_kg is not None else "",
    )


def _latin1(value: str) -> str:
    return value.encode("iso-8859-1", errors="replace").decode("iso-8859-1") if value else value


def _x12_bytes(destination: SftpDestination, entries: list[Any], control: int, created: datetime) -> bytes:
    from edi.x12.writer import X12Profile, write_x12_214

    profile = X12Profile(
        sender_id=destination.isa_sender_id,
        receiver_id=destination.isa_receiver_id,
        sender_qualifier=destination.isa_sender_qualifier,
        receiver_qualifier=destination.isa_receiver_qualifier,
        gs_sender_id=destination.gs_sender_id,
        gs_receiver_id=destination.gs_receiver_id,
        test=destination.test_indicator,
    )
    # ISA13 has nine digits; the counter itself never repeats.
    number = control % 1_000_000_000 or 1
    return write_x12_214([status_event(e) for e in entries], profile, number, number, created_at=created)


def _edifact_bytes(destination: SftpDestination, entries: list[Any], control: int, created: datetime) -> bytes:
    from dataclasses import replace

    from edi.edifact.writer import EdifactProfile, write_iftsta

    profile = EdifactProfile(
        sender_id=destination.unb_sender,
        recipient_id=destination.unb_recipient,
        sender_qualifier=destination.unb_sender_qualifier or "ZZ",
        recipient_qualifier=destination.unb_recipient_qualifier or "ZZ",
        test=destination.test_indicator,
    )
    events = []
    for entry in entries:
        event = status_event(entry)
        # UNOC is Latin-1: a character it cannot carry becomes "?" rather than failing the file.
        loc = event.location
        events.append(
            replace(
                event,
                description=_latin1(event.description),
                location=replace(loc, city=_latin1(loc.city), name=_latin1(loc.name), state=_latin1(loc.state)),
            )
        )
    return write_iftsta(events, profile, str(control % 10**14 or 1), created_at=created)


def csv_profile() -> Any:
    """The columns of Gluey's CSV export (readable with ``edi.csvfile.iter_events``)."""
    from edi.csvfile import DEFAULT_COLUMNS, CsvProfile

    columns = {**DEFAULT_COLUMNS, "location_name": "location_name", "references": "references"}
    return CsvProfile(columns=columns, encoding="utf-8")


def _csv_bytes(destination: SftpDestination, entries: list[Any], control: int, created: datetime) -> bytes:
    from edi.csvfile import write_csv

    return write_csv([status_event(e, all_references=True) for e in entries], csv_profile())


_WRITERS: dict[str, Callable[[SftpDestination, list[Any], int, datetime], bytes]] = {
    ExportFormat.X12_214: _x12_bytes,
    ExportFormat.EDIFACT_IFTSTA: _edifact_bytes,
    ExportFormat.CSV: _csv_bytes,
}
_NAMES: dict[str, tuple[str, str]] = {
    ExportFormat.X12_214: ("gluey_214", "edi"),
    ExportFormat.EDIFACT_IFTSTA: ("gluey_iftsta", "edi"),
    ExportFormat.CSV: ("gluey_events", "csv"),
}


def export_file_name(*, fmt: str, control_number: int, created: datetime) -> str:
    prefix, ext = _NAMES[fmt]
    return f"{prefix}_{created:%Y%m%d}_{control_number:09d}.{ext}"


def _collect(destination: SftpDestination) -> tuple[list[tracking_selectors.FeedEntry], str | None, int]:
    """The customer's events after the cursor (up to EXPORT_MAX_EVENTS), paired with shipments."""
    scope = tracking_selectors.customer_events(customer=destination.customer)
    cursor = destination.cursor or None
    events: list[TrackingEvent] = []
    limit = conf.export_max_events()
    while len(events) < limit:
        page = tracking_selectors.events_after_cursor(
            cursor=cursor, limit=min(tracking_selectors.FEED_MAX_LIMIT, limit - len(events)), events=scope
        )
        events.extend(page.events)
        cursor = page.next_cursor
        if not page.has_more:
            break
    entries = tracking_selectors.event_registrations(customer=destination.customer, events=events)
    return entries, cursor, len(events)


_SKIPPED = "skipped"


def _export_build(destination_id: int) -> Export | str | None:
    """Persist the next file for the destination.

    None when nothing new was recorded; ``_SKIPPED`` when the new events no
    longer belong to any of the customer's shipments (the cursor moves past
    them without spending a control number on an empty file).
    """
    destination = SftpDestination.objects.select_related("customer").get(pk=destination_id)
    entries, cursor_to, count = _collect(destination)
    if not count or cursor_to is None:
        return None
    if not entries:
        moved = SftpDestination.objects.filter(pk=destination_id, cursor=destination.cursor).update(cursor=cursor_to)
        return _SKIPPED if moved else None
    created = timezone.now()
    with transaction.atomic():
        locked = SftpDestination.objects.select_for_update().get(pk=destination_id)
        if locked.cursor != destination.cursor:
            return None  # moved under us; the next run starts from the new cursor
        control = locked.next_control_number
        content = _WRITERS[locked.format](locked, entries, control, created)
        export = Export.objects.create(
            destination=locked,
            control_number=control,
            file_name=export_file_name(fmt=locked.format, control_number=control, created=created),
            format=locked.format,
            cursor_from=locked.cursor,
            cursor_to=cursor_to,
            event_count=count,
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
        )
        SftpDestination.objects.filter(pk=destination_id).update(next_control_number=F("next_control_number") + 1)
    return export


# --- Running an export ----------------------------------------------------------------------------


def _config(destination: SftpDestination) -> sftp.SftpConfig:
    return sftp.SftpConfig(
        host=destination.host,
        port=destination.port,
        username=destination.username,
        password=destination.password,
        private_key=destination.private_key,
        passphrase=destination.passphrase,
        host_keys=tuple(line for line in destination.host_keys.splitlines() if line.strip()),
        # A destination is a customer's server: the same address policy as their webhooks.
        public_only=True,
    )


def _upload(destination: SftpDestination, export: Export) -> None:
    content = bytes(export.content)
    if hashlib.sha256(content).hexdigest() != export.sha256:
        raise ExportFailed(f"stored content of {export.file_name} does not match its sha256")
    with sftp.sftp_open(_config(destination)) as session:
        session.makedirs(destination.remote_dir)
        session.upload_atomic(content, destination.remote_dir, export.file_name)


def _complete(destination_id: int, export: Export) -> None:
    now = timezone.now()
    with transaction.atomic():
        Export.objects.filter(pk=export.pk).update(
            status=ExportStatus.UPLOADED, uploaded_at=now, attempts=F("attempts") + 1, last_error=""
        )
        SftpDestination.objects.filter(pk=destination_id, cursor=export.cursor_from).update(
            cursor=export.cursor_to, last_export_at=now, last_error="", last_error_at=None
        )


def _fail(destination_id: int, export: Export, error: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        Export.objects.filter(pk=export.pk).update(attempts=F("attempts") + 1, last_error=error[:1000])
        SftpDestination.objects.filter(pk=destination_id).update(last_error=error[:1000], last_error_at=now)


def _lease(destination_id: int, token: str) -> bool:
    now = timezone.now()
    return bool(
        SftpDestination.objects.filter(pk=destination_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=now + timedelta(seconds=conf.export_lease_seconds()))
    )


def export_run(*, destination_id: int) -> ExportRunResult:
    """Upload pending and new exports for one destination; raises ExportFailed after recording it."""
    token = secrets.token_hex(8)
    result = ExportRunResult(uploaded=[])
    if not _lease(destination_id, token):
        result.busy = True
        return result
    try:
        for _ in range(FILES_PER_RUN):
            destination = SftpDestination.objects.get(pk=destination_id)
            if not destination.enabled:
                break
            export = Export.objects.filter(destination_id=destination_id, status=ExportStatus.PENDING).first()
            if export is None:
                try:
                    built = _export_build(destination_id)
                except EdiError as exc:
                    message = f"cannot write the {destination.format} file: {exc}"
                    SftpDestination.objects.filter(pk=destination_id).update(
                        last_error=message[:1000], last_error_at=timezone.now()
                    )
                    raise ExportFailed(message) from exc
                if built is None:
                    break
                if not isinstance(built, Export):
                    continue  # skipped events no longer registered to the customer
                export = built
            try:
                _upload(destination, export)
            except (sftp.SftpError, OSError, EOFError) as exc:
                message = f"{export.file_name}: {exc}"
                _fail(destination_id, export, message)
                raise ExportFailed(message) from exc
            _complete(destination_id, export)
            result.uploaded.append(export.file_name)
    finally:
        SftpDestination.objects.filter(pk=destination_id, lease_token=token).update(lease_token="", lease_until=None)
    return result
