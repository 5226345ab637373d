"""Retention: old finished inbound messages and sFTP ledger rows are purged; nothing else is.

acme-post has webhooks of every age and status, polling responses and sFTP
ledger rows; the purge runs (with a small chunk, so it loops) and deletes
exactly what the README's retention table says, keeps events recorded from
purged messages, and leaves its figures for the ops dashboard.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from carriers.models import InboundMessage, InboundStatus, SftpFile, SftpFileStatus
from carriers.services.inbound import inbound_message_process, inbound_message_store
from carriers.services.retention import retention_purge, retention_status
from carriers.services.schedules import RETENTION_NAME, schedules_ensure
from tests.carriers.conftest import generic_body
from tests.factories import make_carrier
from tracking.models import TrackingEvent

pytestmark = pytest.mark.django_db


def message(carrier, *, days: int, status: str, channel: str = "webhook", n: int) -> int:
    stored = inbound_message_store(
        carrier=carrier, channel=channel, body=generic_body(tracking_id=f"RET{n}"), process=False
    ).message
    InboundMessage.objects.filter(pk=stored.pk).update(status=status, received_at=timezone.now() - timedelta(days=days))
    return stored.pk


def ledger(carrier, *, days: int, status: str, moved_to: str, n: int) -> int:
    row = SftpFile.objects.create(
        carrier=carrier, name=f"f{n}.json", size=n, mtime=n, sha256=f"{n:064d}", status=status, moved_to=moved_to
    )
    SftpFile.objects.filter(pk=row.pk).update(taken_at=timezone.now() - timedelta(days=days))
    return row.pk


def test_the_purge_deletes_exactly_what_is_past_retention(settings):
    settings.RETENTION_INBOUND_DAYS = 30
    settings.RETENTION_POLL_RESPONSES_DAYS = 7
    settings.RETENTION_FAILED_DAYS = 90
    settings.RETENTION_SFTP_LEDGER_DAYS = 90
    carrier = make_carrier()
    processed_old = message(carrier, days=0, status=InboundStatus.PENDING, n=1)
    inbound_message_process(message_id=processed_old)
    InboundMessage.objects.filter(pk=processed_old).update(received_at=timezone.now() - timedelta(days=31))
    gone = {
        processed_old,
        *(message(carrier, days=31 + n, status=InboundStatus.PROCESSED, n=10 + n) for n in range(5)),
        message(carrier, days=40, status=InboundStatus.DUPLICATE, n=20),
        message(carrier, days=8, status=InboundStatus.PROCESSED, channel="poll", n=21),
        message(carrier, days=91, status=InboundStatus.FAILED, n=22),
    }
    kept = {
        message(carrier, days=29, status=InboundStatus.PROCESSED, n=30),
        message(carrier, days=6, status=InboundStatus.PROCESSED, channel="poll", n=31),
        message(carrier, days=89, status=InboundStatus.FAILED, n=32),  # waiting for ops
        message(carrier, days=400, status=InboundStatus.PENDING, n=33),  # never purged
    }
    ledger_gone = {
        ledger(carrier, days=91, status=SftpFileStatus.INGESTED, moved_to="archive/f40.json", n=40),
        ledger(carrier, days=91, status=SftpFileStatus.QUARANTINED, moved_to="quarantine/f41.json", n=41),
    }
    ledger_kept = {
        ledger(carrier, days=89, status=SftpFileStatus.INGESTED, moved_to="archive/f50.json", n=50),
        # Still in the carrier's directory (its move failed): the row stops the file being taken twice.
        ledger(carrier, days=200, status=SftpFileStatus.INGESTED, moved_to="", n=51),
    }
    before = retention_status()
    assert before["past_retention"]["inbound messages"] == 7

    report = retention_purge(chunk=2)

    assert set(InboundMessage.objects.values_list("pk", flat=True)) == kept
    assert set(SftpFile.objects.values_list("pk", flat=True)) == ledger_kept
    assert sum(report.deleted.values()) == len(gone) + len(ledger_gone)
    assert report.deleted["polling responses"] == 1 and report.deleted["failed messages"] == 1
    # The events recorded from a purged message stay, with the id of the message they came from.
    assert TrackingEvent.objects.get(inbound_message_id=processed_old).carrier_code == "DLV"
    after = retention_status()
    assert after["last_run"]["deleted"] == report.deleted
    assert set(after["past_retention"].values()) == {0}
    assert retention_purge().deleted == dict.fromkeys(report.deleted, 0)


def test_the_nightly_purge_is_a_beat_job():
    from django_celery_beat.models import PeriodicTask

    schedules_ensure()
    job = PeriodicTask.objects.get(name=RETENTION_NAME)
    assert job.task == "carriers.tasks.retention_purge" and job.enabled and job.crontab is not None
