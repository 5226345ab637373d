"""sFTP exports against real SSH servers: paramiko's in-process server always,
OpenSSH's sshd where it is installed (CI installs it). Files are read back with
the EDI readers."""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Max
from django_celery_beat.models import PeriodicTask

from gluey.sftp_server import SftpServer, generate_ed25519_key
from notifications.models import Export, ExportStatus, SftpDestination
from notifications.services import ExportFailed, export_run
from tests.factories import T0, event
from tests.notifications.conftest import record
from tests.sshd import sshd_available, start_sshd
from tracking.models import TrackingEvent

# Committed transactions: on PostgreSQL the export cursor never reads events of
# a transaction still in flight, and a test's own open transaction is one.
# The test servers listen on loopback: open it as WEBHOOK_ALLOWED_NETWORKS would in development.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("taxonomy", "loopback_allowed")]


class Server:
    """What a test needs of an SSH server: where to connect and where files land."""

    def __init__(self, port: int, username: str, host_key_line: str, root: Path, credentials: dict, raw=None):
        self.port, self.username, self.host_key_line, self.root = port, username, host_key_line, root
        self.credentials = credentials
        self.raw = raw

    def files(self, remote_dir: str = "/exports") -> dict[str, bytes]:
        folder = self.root / remote_dir.lstrip("/")
        if not folder.exists():
            return {}
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(params=["paramiko", "openssh"])
def server(request, tmp_path):
    if request.param == "paramiko":
        srv = SftpServer(tmp_path / "root", password="s3cret").start()
        yield Server(srv.port, "gluey", srv.host_key_line, srv.root, {"password": "s3cret"}, raw=srv)
        srv.stop()
        return
    if not sshd_available():
        pytest.skip("OpenSSH sshd is not installed here (CI installs openssh-server)")
    sshd = start_sshd(tmp_path / "sshd")
    # internal-sftp -d puts the session in the files directory: remote paths are absolute on disk.
    yield Server(
        sshd.port, sshd.username, sshd.host_key_line, Path("/"), {"private_key": sshd.client_private_key}, raw=sshd
    )
    sshd.stop()


def make_destination(acme, server: Server, tmp_path, **overrides) -> SftpDestination:
    remote_dir = "/exports" if server.raw.__class__ is SftpServer else str(tmp_path / "sshd" / "files" / "exports")
    values = dict(
        customer=acme,
        name="acme-sftp",
        host="127.0.0.1",
        port=server.port,
        username=server.username,
        host_keys=server.host_key_line,
        remote_dir=remote_dir,
        format="x12_214",
        isa_receiver_id="ACME",
        interval_minutes=5,
        **server.credentials,
    )
    values.update(overrides)
    return SftpDestination.objects.create(**values)


def uploaded(server: Server, destination: SftpDestination) -> dict[str, bytes]:
    return server.files(destination.remote_dir)


def feed_settled(timeout: float = 60.0) -> None:
    """Wait until every recorded event is below the feed horizon.

    On PostgreSQL the export cursor reads only transactions older than every
    one still running anywhere in the cluster, so an unrelated long transaction
    (another database's job) can hold it back for a while: that is the design.
    """
    if connection.vendor != "postgresql":
        return
    latest = TrackingEvent.objects.aggregate(Max("txid"))["txid__max"]
    deadline = time.monotonic() + timeout
    while latest is not None and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            if cursor.fetchone()[0] > latest:
                return
        time.sleep(0.05)


def run_export(destination: SftpDestination):
    feed_settled()
    return export_run(destination_id=destination.pk)


def x12_events(content: bytes) -> list:
    from edi.x12.reader import iter_events

    return list(iter_events(io.BytesIO(content)))


def read_back(fmt: str, content: bytes) -> list:
    if fmt == "x12_214":
        return x12_events(content)
    if fmt == "edifact_iftsta":
        from edi.edifact.reader import iter_events

        return list(iter_events(io.BytesIO(content)))
    from edi import csvfile
    from notifications.services.exports import csv_profile

    return list(csvfile.iter_events(io.BytesIO(content), profile=csv_profile()))


@pytest.fixture
def destination(acme, server, tmp_path, shipment):
    return make_destination(acme, server, tmp_path)


@pytest.mark.slow  # a whole interchange through an sFTP server: seconds
def test_export_uploads_one_interchange_that_reads_back(server, destination, carrier):
    record(carrier, event(code="HUB", minutes=1), event(code="DLV", sub_code="NB", minutes=2))

    result = run_export(destination)

    files = uploaded(server, destination)
    assert list(files) == result.uploaded and len(files) == 1
    ((name, content),) = files.items()
    assert name.startswith("gluey_214_") and name.endswith("_000000001.edi")
    events = x12_events(content)
    assert [(e.tracking_id, e.carrier_code, e.carrier_sub_code) for e in events] == [
        ("JD0002234001100086", "HUB", ""),
        ("JD0002234001100086", "DLV", "NB"),
    ]
    assert events[0].occurred_at.isoformat() == "2026-11-28T09:01:00+00:00"
    export = Export.objects.get()
    assert export.status == ExportStatus.UPLOADED and export.sha256 == hashlib.sha256(content).hexdigest()
    destination.refresh_from_db()
    assert destination.cursor == export.cursor_to and destination.next_control_number == 2
    assert destination.last_export_at is not None


@pytest.mark.slow  # whole interchanges through an sFTP server: seconds
@pytest.mark.parametrize("fmt, suffix", [("x12_214", ".edi"), ("edifact_iftsta", ".edi"), ("csv", ".csv")])
def test_every_format_reads_back_with_the_edi_readers(acme, server, tmp_path, shipment, carrier, fmt, suffix):
    from tracking.models import Shipment

    Shipment.objects.filter(pk=shipment.pk).update(uuid_ref="order-4711")
    destination = make_destination(acme, server, tmp_path, format=fmt, unb_recipient="ACME")
    record(
        carrier,
        event(code="HUB", minutes=1, city="Köln", description="Ankunft im Depot — Köln"),
        event(code="DLV", sub_code="NB", minutes=2, description="Delivered to neighbour"),
    )

    run_export(destination)

    ((name, content),) = uploaded(server, destination).items()
    assert name.endswith(suffix)
    events = read_back(fmt, content)
    assert [(e.tracking_id, e.carrier_code, e.carrier_sub_code) for e in events] == [
        ("JD0002234001100086", "HUB", ""),
        ("JD0002234001100086", "DLV", "NB"),
    ]
    # The same instants (EDIFACT writes local time in the place's zone; the reader resolves it back).
    assert [e.occurred_at for e in events] == [T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    assert events[1].description == "Delivered to neighbour"
    assert ("CR", "order-4711") in events[0].references
    if fmt == "csv":
        assert events[0].description == "Ankunft im Depot — Köln"
        assert ("GLUEY", "delivery/delivered/left_with_neighbor") in events[1].references


def test_nothing_new_uploads_nothing_and_uses_no_control_number(server, destination, carrier):
    record(carrier)
    run_export(destination)
    assert run_export(destination).uploaded == []
    destination.refresh_from_db()
    assert destination.next_control_number == 2 and len(uploaded(server, destination)) == 1


def test_each_run_sends_only_what_is_new_with_rising_control_numbers(server, destination, carrier):
    record(carrier, event(code="HUB", minutes=1))
    run_export(destination)
    record(carrier, event(code="OFD", minutes=2))
    run_export(destination)
    Export.objects.all().delete()  # even with the history gone, numbers are never reused
    record(carrier, event(code="DLV", minutes=3))
    run_export(destination)

    files = uploaded(server, destination)
    assert [name[-13:-4] for name in files] == ["000000001", "000000002", "000000003"]
    assert [[e.carrier_code for e in x12_events(c)] for c in files.values()] == [["HUB"], ["OFD"], ["DLV"]]


def test_a_failure_mid_upload_is_retried_with_the_same_file_and_no_gap(acme, tmp_path, shipment, carrier):
    with SftpServer(tmp_path / "root", password="s3cret") as srv:
        server = Server(srv.port, "gluey", srv.host_key_line, srv.root, {"password": "s3cret"}, raw=srv)
        destination = make_destination(acme, server, tmp_path)
        record(carrier, *[event(code="HUB", minutes=i, city=f"Hub {i}") for i in range(200)])
        srv.cut_connection_after(2000)

        with pytest.raises(ExportFailed):
            run_export(destination)

        pending = Export.objects.get()
        assert pending.status == ExportStatus.PENDING and pending.attempts == 1 and pending.last_error
        destination.refresh_from_db()
        assert destination.cursor == "" and destination.next_control_number == 2
        # Nothing partial under the final name: only the temporary file may be there.
        assert pending.file_name not in uploaded(server, destination)

        record(carrier, event(code="DLV", minutes=500))  # recorded between the failure and the retry
        result = run_export(destination)

        files = uploaded(server, destination)
        first, second = result.uploaded
        assert first == pending.file_name
        assert hashlib.sha256(files[first]).hexdigest() == pending.sha256
        assert set(files) == {first, second}  # the temporary file was renamed away
        codes = [e.carrier_code for name in (first, second) for e in x12_events(files[name])]
        assert codes == ["HUB"] * 200 + ["DLV"]  # every event once, none missing


def test_rename_falls_back_when_the_server_lacks_posix_rename(acme, tmp_path, shipment, carrier):
    with SftpServer(tmp_path / "root", password="s3cret", posix_rename=False) as srv:
        server = Server(srv.port, "gluey", srv.host_key_line, srv.root, {"password": "s3cret"}, raw=srv)
        destination = make_destination(acme, server, tmp_path)
        record(carrier)
        assert len(run_export(destination).uploaded) == 1
        assert len(uploaded(server, destination)) == 1


def test_a_changed_host_key_is_refused(acme, tmp_path, shipment, carrier):
    with SftpServer(tmp_path / "root", password="s3cret") as srv:
        server = Server(srv.port, "gluey", srv.host_key_line, srv.root, {"password": "s3cret"}, raw=srv)
        other = generate_ed25519_key()
        destination = make_destination(acme, server, tmp_path, host_keys=f"ssh-ed25519 {other.get_base64()}")
        record(carrier)

        with pytest.raises(ExportFailed, match="does not match the pinned key"):
            run_export(destination)

        assert uploaded(server, destination) == {}
        destination.refresh_from_db()
        assert destination.cursor == "" and "does not match the pinned key" in destination.last_error


def test_saving_a_destination_schedules_its_periodic_task(acme, server, tmp_path):
    destination = make_destination(acme, server, tmp_path)
    task = PeriodicTask.objects.get(pk=destination.periodic_task_id)
    assert task.task == "notifications.tasks.export_run" and json.loads(task.args) == [destination.pk]
    assert (task.interval.every, task.interval.period, task.enabled) == (5, "minutes", True)

    destination.interval_minutes = 15
    destination.enabled = False
    destination.save()
    task.refresh_from_db()
    assert (task.interval.every, task.enabled) == (15, False)

    destination.delete()
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


def test_a_disabled_destination_exports_nothing(server, destination, carrier):
    SftpDestination.objects.filter(pk=destination.pk).update(enabled=False)
    record(carrier)
    assert run_export(destination).uploaded == []
    assert uploaded(server, destination) == {}


def test_only_the_customers_own_events_are_exported(server, destination, carrier):
    record(carrier, event(tracking_id="SOMEONE-ELSES", code="HUB"), event(code="OFD"))
    run_export(destination)
    (content,) = uploaded(server, destination).values()
    assert [(e.tracking_id, e.carrier_code) for e in x12_events(content)] == [("JD0002234001100086", "OFD")]


def test_remote_paths_stay_inside_the_remote_dir(server, destination, carrier):
    record(carrier)
    run_export(destination)
    name = Export.objects.get().file_name
    assert posixpath.basename(name) == name and "/" not in name
