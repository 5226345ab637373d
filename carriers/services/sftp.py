"""sFTP fetch (1b): take a carrier's new files, store them, ingest them, move them away.

One run, for one carrier, holding that carrier's lease so overlapping runs
never fetch the same file:

1. list ``remote_dir`` (files matching ``pattern``);
2. list again after ``stable_seconds`` and keep only files whose size and
   mtime did not change (a file still being written waits for the next run);
3. download each (bounded by ``max_file_bytes``); a file already in the
   ledger with the same (name, size, mtime, sha256) was ingested by an
   earlier run that could not move it: move it now, never ingest it again;
4. otherwise store it as an InboundMessage together with its ledger row,
   parse and record its events, then move it to ``archive_dir`` — or, if it
   could not be parsed, to ``quarantine_dir`` with the error on the ledger
   row and the message — and carry on with the next file.

A dropped connection ends the run; a file whose download did not complete has
no ledger row and is taken by the next run.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from carriers.models import Carrier, InboundStatus, SftpFile, SftpFileStatus
from carriers.services.channels import carrier_fetches_sftp
from carriers.services.inbound import inbound_message_process, inbound_message_store
from carriers.services.limits import lease_acquire, lease_extend, lease_release
from gluey.sftp import RemoteFile, SftpConfig, SftpError, SftpSession, sftp_open

log = logging.getLogger(__name__)

# Tunables (declared with their environment variables in gluey/settings.py).
LOCK_TTL = timedelta(seconds=settings.SFTP_FETCH_LOCK_SECONDS)
DEFAULT_MAX_FILE_BYTES = settings.SFTP_MAX_FILE_BYTES
DEFAULT_STABLE_SECONDS = settings.SFTP_STABLE_SECONDS


@dataclass
class FetchReport:
    listed: int = 0
    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    growing: int = 0
    moved_late: int = 0
    events: int = 0
    locked: bool = False
    skipped: str = ""
    error: str = ""
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Settings:
    remote_dir: str
    pattern: str
    archive_dir: str
    quarantine_dir: str
    max_bytes: int
    stable_seconds: float
    parser: str


def _settings(carrier: Carrier) -> _Settings:
    config = carrier.config
    remote_dir = str(config.get("remote_dir") or ".").rstrip("/") or "/"
    return _Settings(
        remote_dir=remote_dir,
        pattern=str(config.get("pattern") or "*"),
        archive_dir=str(config.get("archive_dir") or posixpath.join(remote_dir, "archive")),
        quarantine_dir=str(config.get("quarantine_dir") or posixpath.join(remote_dir, "quarantine")),
        max_bytes=int(config.get("max_file_bytes") or DEFAULT_MAX_FILE_BYTES),
        stable_seconds=float(config.get("stable_seconds", DEFAULT_STABLE_SECONDS)),
        parser=str(config.get("format") or carrier.adapter),
    )


def _move(session: SftpSession, remote: RemoteFile, target_dir: str, suffix: str) -> str:
    session.makedirs(target_dir)
    target = posixpath.join(target_dir, remote.name)
    if session.exists(target):
        target = posixpath.join(target_dir, f"{remote.name}.{suffix}")
    session.rename(remote.path, target)
    return target


def _ingest(
    session: SftpSession, carrier: Carrier, remote: RemoteFile, data: bytes, cfg: _Settings, report: FetchReport
) -> None:
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        stored = inbound_message_store(
            carrier=carrier, channel="sftp", body=data, parser=cfg.parser, filename=remote.name, process=False
        )
        ledger = SftpFile.objects.create(
            carrier=carrier,
            name=remote.name,
            size=remote.size,
            mtime=remote.mtime,
            sha256=digest,
            status=SftpFileStatus.INGESTED,
            inbound_message=stored.message,
        )
    status: str = InboundStatus.PROCESSED
    error = ""
    if stored.duplicate:
        report.duplicates += 1
        # The same bytes arrived before (maybe under another name): if that copy failed, this one is bad too.
        if stored.original is not None and stored.original.status == InboundStatus.FAILED:
            status, error = InboundStatus.FAILED, f"same content as failed message #{stored.original.pk}"
    else:
        try:
            outcome = inbound_message_process(message_id=stored.message.pk)
        except Exception as exc:
            log.exception("processing %s from %s failed; left pending", remote.name, carrier.pk)
            outcome = None
            error = f"{type(exc).__name__}: {exc}"
        if outcome is not None:
            status, error = outcome.status, outcome.error
            report.events += outcome.created
    if status == InboundStatus.FAILED:
        target = _move(session, remote, cfg.quarantine_dir, str(ledger.pk))
        SftpFile.objects.filter(pk=ledger.pk).update(
            status=SftpFileStatus.QUARANTINED, error=error[:5000], moved_to=target
        )
        report.quarantined += 1
        log.warning("quarantined %s from %s: %s", remote.name, carrier.pk, error)
    else:
        target = _move(session, remote, cfg.archive_dir, str(ledger.pk))
        SftpFile.objects.filter(pk=ledger.pk).update(moved_to=target)
        if not stored.duplicate:
            report.ingested += 1
    report.files.append(remote.name)


def sftp_fetch(*, carrier_id: str, stable_seconds: float | None = None) -> FetchReport:
    """One fetch run for one carrier (see the module docstring)."""
    report = FetchReport()
    carrier = Carrier.objects.get(pk=carrier_id)
    if not carrier.enabled or not carrier_fetches_sftp(carrier):
        report.skipped = "carrier is disabled or has no sFTP settings"
        return report
    lease_name = f"sftp-fetch:{carrier.pk}"
    owner = lease_acquire(name=lease_name, ttl=LOCK_TTL)
    if owner is None:
        report.locked = True
        return report
    try:
        cfg = _settings(carrier)
        if stable_seconds is not None:
            cfg = _Settings(**{**cfg.__dict__, "stable_seconds": stable_seconds})
        sftp_cfg = SftpConfig.from_settings(carrier.config, carrier.credentials)
        with sftp_open(sftp_cfg) as session:
            listing = session.list(cfg.remote_dir, cfg.pattern)
            report.listed = len(listing)
            candidates = listing
            if candidates and cfg.stable_seconds > 0:
                time.sleep(cfg.stable_seconds)
                again = {f.name: f for f in session.list(cfg.remote_dir, cfg.pattern)}
                stable = [f for f in candidates if again.get(f.name) == f]
                report.growing = len(candidates) - len(stable)
                candidates = stable
            for remote in candidates:
                lease_extend(name=lease_name, owner=owner, ttl=LOCK_TTL)
                if remote.size > cfg.max_bytes:
                    _quarantine_oversize(session, carrier, remote, cfg, report)
                    continue
                data = session.read(remote.path, max_bytes=cfg.max_bytes)
                if len(data) != remote.size:
                    # It changed between the listing and the download: leave it for the next run.
                    report.growing += 1
                    continue
                known = SftpFile.objects.filter(
                    carrier=carrier,
                    name=remote.name,
                    size=remote.size,
                    mtime=remote.mtime,
                    sha256=hashlib.sha256(data).hexdigest(),
                ).first()
                if known is not None:
                    # Ingested by an earlier run that could not move it away: move it now, never ingest it twice.
                    target_dir = cfg.quarantine_dir if known.status == SftpFileStatus.QUARANTINED else cfg.archive_dir
                    target = _move(session, remote, target_dir, str(known.pk))
                    SftpFile.objects.filter(pk=known.pk).update(moved_to=target)
                    report.moved_late += 1
                    continue
                _ingest(session, carrier, remote, data, cfg, report)
    except SftpError as exc:
        report.error = str(exc)
        Carrier.objects.filter(pk=carrier.pk).update(last_error=f"sFTP: {exc}"[:500], last_error_at=timezone.now())
        log.warning("sftp fetch for %s stopped: %s", carrier.pk, exc)
    finally:
        lease_release(name=lease_name, owner=owner)
    return report


def _quarantine_oversize(
    session: SftpSession, carrier: Carrier, remote: RemoteFile, cfg: _Settings, report: FetchReport
) -> None:
    error = f"{remote.name} is {remote.size} bytes, over this carrier's {cfg.max_bytes}-byte limit; not downloaded"
    ledger = SftpFile.objects.create(
        carrier=carrier,
        name=remote.name,
        size=remote.size,
        mtime=remote.mtime,
        sha256="",
        status=SftpFileStatus.QUARANTINED,
        error=error,
    )
    target = _move(session, remote, cfg.quarantine_dir, str(ledger.pk))
    SftpFile.objects.filter(pk=ledger.pk).update(moved_to=target)
    report.quarantined += 1
