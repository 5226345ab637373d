"""sFTP fetch against real SSH servers: paramiko's in-process server always, OpenSSH's
sshd on a high port when /usr/sbin/sshd is installed (CI installs it)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from carriers.models import Carrier, InboundMessage, SftpFile
from carriers.services.limits import lease_acquire, lease_release
from carriers.services.sftp import sftp_fetch
from gluey.sftp_server import SftpServer, generate_ed25519_key
from tests.factories import make_carrier
from tests.sshd import sshd_available, start_sshd
from tracking.models import TrackingEvent

pytestmark = pytest.mark.django_db


def events_file(tracking_id: str, code: str = "HUB", minute: int = 0) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "tracking_id": tracking_id,
                    "code": code,
                    "occurred_at": f"2026-11-28T09:{minute:02d}:00+00:00",
                    "location": {"city": "Leeds", "iso_country": "GB"},
                }
            ]
        }
    ).encode()


@pytest.fixture
def server(tmp_path):
    with SftpServer(tmp_path / "root", password="pw") as srv:
        (srv.root / "inbox").mkdir()
        yield srv


def sftp_carrier(srv: SftpServer, carrier_id: str = "filer", **overrides) -> Carrier:
    config = {
        "host": "127.0.0.1",
        "port": srv.port,
        "username": "gluey",
        "password": "pw",
        "host_key": srv.host_key_line,
        "remote_dir": "/inbox",
        "pattern": "*.json",
        "stable_seconds": 0,
        **overrides,
    }
    return make_carrier(carrier_id, adapter="generic_json", **config)


def test_new_file_is_stored_ingested_and_archived(server):
    carrier = sftp_carrier(server)
    (server.root / "inbox" / "a.json").write_bytes(events_file("S1"))
    (server.root / "inbox" / "ignored.txt").write_text("not matching the pattern")
    report = sftp_fetch(carrier_id=carrier.pk)
    assert (report.ingested, report.quarantined, report.error) == (1, 0, "")
    message = InboundMessage.objects.get()
    assert (message.channel, message.filename, message.status) == ("sftp", "a.json", "processed")
    assert bytes(message.body) == events_file("S1")
    event = TrackingEvent.objects.get()
    assert event.channel == "sftp" and event.inbound_message_id == message.pk
    ledger = SftpFile.objects.get()
    assert (ledger.name, ledger.size, ledger.status, ledger.moved_to) == (
        "a.json",
        len(events_file("S1")),
        "ingested",
        "/inbox/archive/a.json",
    )
    assert ledger.sha256 == message.sha256
    assert not (server.root / "inbox" / "a.json").exists()
    assert (server.root / "inbox" / "archive" / "a.json").read_bytes() == events_file("S1")
    assert (server.root / "inbox" / "ignored.txt").exists()
    # Nothing left to do on the next run.
    assert sftp_fetch(carrier_id=carrier.pk).ingested == 0


def fetch_while_growing(carrier, path: Path):
    """Run one fetch while another thread keeps appending to ``path``, as a carrier mid-upload does."""
    path.write_bytes(b'{"events": [')
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            with path.open("ab") as handle:
                handle.write(b" ")
            time.sleep(0.05)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        return sftp_fetch(carrier_id=carrier.pk, stable_seconds=0.5)
    finally:
        stop.set()
        thread.join()


def test_file_still_growing_waits_for_the_next_run(server):
    carrier = sftp_carrier(server)
    path = server.root / "inbox" / "big.json"
    report = fetch_while_growing(carrier, path)
    assert report.growing == 1 and report.ingested == 0
    assert InboundMessage.objects.count() == 0 and path.exists()
    # The carrier finishes writing; the next run sees a stable size and takes it.
    with path.open("ab") as handle:
        handle.write(json.dumps(json.loads(events_file("G1"))["events"][0]).encode() + b"]}")
    report = sftp_fetch(carrier_id=carrier.pk, stable_seconds=0.3)
    assert report.ingested == 1 and TrackingEvent.objects.count() == 1


def test_same_content_again_is_a_duplicate_and_records_nothing_twice(server):
    carrier = sftp_carrier(server)
    (server.root / "inbox" / "day1.json").write_bytes(events_file("D1"))
    sftp_fetch(carrier_id=carrier.pk)
    # The carrier re-sends the same file under the same name, a minute later.
    again = server.root / "inbox" / "day1.json"
    again.write_bytes(events_file("D1"))
    import os

    os.utime(again, (time.time() + 60, time.time() + 60))
    report = sftp_fetch(carrier_id=carrier.pk)
    assert report.duplicates == 1 and report.ingested == 0
    first, second = InboundMessage.objects.order_by("pk")
    assert second.status == "duplicate" and second.duplicate_of_id == first.pk
    assert TrackingEvent.objects.count() == 1
    assert sorted(p.name for p in (server.root / "inbox" / "archive").iterdir()) == [
        "day1.json",
        f"day1.json.{SftpFile.objects.order_by('pk').last().pk}",
    ]


def test_a_file_ingested_but_not_moved_is_never_ingested_again(server):
    carrier = sftp_carrier(server)
    path = server.root / "inbox" / "once.json"
    path.write_bytes(events_file("O1"))
    sftp_fetch(carrier_id=carrier.pk)
    # Simulate a run that died after ingesting but before the move: the file is back in place.
    archived = server.root / "inbox" / "archive" / "once.json"
    archived.rename(path)
    ledger = SftpFile.objects.get()
    import os

    os.utime(path, (ledger.mtime, ledger.mtime))
    report = sftp_fetch(carrier_id=carrier.pk)
    assert report.moved_late == 1 and report.ingested == 0
    assert InboundMessage.objects.count() == 1 and not path.exists()


def test_bad_file_is_quarantined_and_the_others_go_on(server):
    carrier = sftp_carrier(server)
    (server.root / "inbox" / "1-good.json").write_bytes(events_file("B1"))
    (server.root / "inbox" / "2-bad.json").write_bytes(b'{"events": [{"code": "HUB"}]}')
    (server.root / "inbox" / "3-good.json").write_bytes(events_file("B3"))
    report = sftp_fetch(carrier_id=carrier.pk)
    assert (report.ingested, report.quarantined) == (2, 1)
    bad = SftpFile.objects.get(name="2-bad.json")
    assert bad.status == "quarantined" and "events[0].tracking_id is required" in bad.error
    assert bad.moved_to == "/inbox/quarantine/2-bad.json"
    assert (server.root / "inbox" / "quarantine" / "2-bad.json").exists()
    message = InboundMessage.objects.get(filename="2-bad.json")
    assert message.status == "failed" and "tracking_id is required" in message.error
    assert sorted(TrackingEvent.objects.values_list("tracked_item__tracking_id", flat=True)) == ["B1", "B3"]


def test_oversized_file_is_quarantined_without_downloading_it(server):
    carrier = sftp_carrier(server, max_file_bytes=100)
    (server.root / "inbox" / "huge.json").write_bytes(b" " * 500)
    report = sftp_fetch(carrier_id=carrier.pk)
    assert report.quarantined == 1 and InboundMessage.objects.count() == 0
    assert "over this carrier's 100-byte limit" in SftpFile.objects.get().error


def test_changed_host_key_refuses_the_connection(server):
    other = generate_ed25519_key()
    carrier = sftp_carrier(server, host_key=f"ssh-ed25519 {other.get_base64()}")
    (server.root / "inbox" / "a.json").write_bytes(events_file("K1"))
    report = sftp_fetch(carrier_id=carrier.pk)
    assert "does not match the pinned key" in report.error
    assert InboundMessage.objects.count() == 0 and (server.root / "inbox" / "a.json").exists()
    carrier.refresh_from_db()
    assert carrier.last_error.startswith("sFTP: host key of 127.0.0.1")


def test_connection_cut_mid_download_leaves_the_file_for_the_next_run(server):
    carrier = sftp_carrier(server)
    big = json.dumps(
        {
            "events": [
                {
                    "tracking_id": f"C{i}",
                    "code": "HUB",
                    "occurred_at": "2026-11-28T09:00:00+00:00",
                    "description": "x" * 200,
                }
                for i in range(400)
            ]
        }
    ).encode()
    (server.root / "inbox" / "big.json").write_bytes(big)
    server.cut_connection_after(20_000)
    report = sftp_fetch(carrier_id=carrier.pk)
    assert "connection lost" in report.error or "cannot read" in report.error
    assert InboundMessage.objects.count() == 0 and SftpFile.objects.count() == 0
    assert (server.root / "inbox" / "big.json").exists()
    report = sftp_fetch(carrier_id=carrier.pk)
    assert report.ingested == 1 and TrackingEvent.objects.count() == 400


def test_overlapping_runs_never_fetch_the_same_file(server):
    carrier = sftp_carrier(server)
    (server.root / "inbox" / "a.json").write_bytes(events_file("L1"))
    owner = lease_acquire(name=f"sftp-fetch:{carrier.pk}", ttl=timedelta(minutes=5))
    assert owner
    try:
        report = sftp_fetch(carrier_id=carrier.pk)
    finally:
        lease_release(name=f"sftp-fetch:{carrier.pk}", owner=owner)
    assert report.locked and InboundMessage.objects.count() == 0
    assert sftp_fetch(carrier_id=carrier.pk).ingested == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_take_each_file_once(postgres_only, taxonomy, tmp_path):
    # Threads on SQLite's shared in-memory test database lock tables instead of waiting; PostgreSQL shows the real behaviour.
    from django.db import connections

    with SftpServer(tmp_path / "root", password="pw") as srv:
        (srv.root / "inbox").mkdir()
        carrier = sftp_carrier(srv, stable_seconds=0.3)
        for n in range(5):
            (srv.root / "inbox" / f"f{n}.json").write_bytes(events_file(f"P{n}", minute=n))
        reports = []
        barrier = threading.Barrier(3)

        def run():
            try:
                barrier.wait()
                reports.append(sftp_fetch(carrier_id=carrier.pk))
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sum(r.ingested for r in reports) == 5
    assert sum(1 for r in reports if r.locked) == 2
    assert InboundMessage.objects.count() == 5 and TrackingEvent.objects.count() == 5


@pytest.fixture
def sshd(tmp_path):
    if not sshd_available():
        pytest.skip("OpenSSH's sshd is not installed here (CI installs openssh-server)")
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


def openssh_carrier(sshd, **overrides) -> Carrier:
    inbox = Path(sshd.root) / "inbox"
    inbox.mkdir(exist_ok=True)
    config = {
        "host": "127.0.0.1",
        "port": sshd.port,
        "username": sshd.username,
        "private_key": sshd.client_private_key,
        "host_key": sshd.host_key_line,
        "remote_dir": str(inbox),
        "pattern": "*.json",
        "stable_seconds": 0,
        **overrides,
    }
    return make_carrier("openssh", adapter="generic_json", **config)


def test_openssh_new_file_bad_file_and_archive(sshd):
    carrier = openssh_carrier(sshd)
    inbox = Path(sshd.root) / "inbox"
    (inbox / "good.json").write_bytes(events_file("OS1"))
    (inbox / "bad.json").write_bytes(b"{{{")
    report = sftp_fetch(carrier_id=carrier.pk)
    assert (report.ingested, report.quarantined, report.error) == (1, 1, "")
    assert (inbox / "archive" / "good.json").exists() and (inbox / "quarantine" / "bad.json").exists()
    assert TrackingEvent.objects.get().tracked_item.tracking_id == "OS1"


def test_openssh_host_key_mismatch_is_refused(sshd):
    other = generate_ed25519_key()
    carrier = openssh_carrier(sshd, host_key=f"ssh-ed25519 {other.get_base64()}")
    (Path(sshd.root) / "inbox" / "a.json").write_bytes(events_file("OS2"))
    report = sftp_fetch(carrier_id=carrier.pk)
    assert "does not match the pinned key" in report.error and InboundMessage.objects.count() == 0


def test_openssh_duplicate_content_is_not_ingested_twice(sshd):
    carrier = openssh_carrier(sshd)
    inbox = Path(sshd.root) / "inbox"
    (inbox / "d.json").write_bytes(events_file("OS3"))
    assert sftp_fetch(carrier_id=carrier.pk).ingested == 1
    (inbox / "d.json").write_bytes(events_file("OS3"))
    import os

    os.utime(inbox / "d.json", (time.time() + 60, time.time() + 60))  # re-sent a minute later
    assert sftp_fetch(carrier_id=carrier.pk).duplicates == 1
    assert TrackingEvent.objects.count() == 1


def test_x12_214_files_are_parsed_by_the_edi_library_and_harmonised(server):
    from tests.carriers.adapter_cases import fixtures_dir

    carrier = make_carrier(
        "ltl",
        adapter="x12_214",
        host="127.0.0.1",
        port=server.port,
        username="gluey",
        password="pw",
        host_key=server.host_key_line,
        remote_dir="/inbox",
        pattern="*.edi",
        stable_seconds=0,
    )
    (server.root / "inbox" / "214_0001.edi").write_bytes(
        (fixtures_dir("x12_214") / "ltl_three_statuses.edi").read_bytes()
    )
    report = sftp_fetch(carrier_id=carrier.pk)
    assert report.ingested == 1 and report.events == 3
    codes = dict(TrackingEvent.objects.values_list("carrier_code", "code"))
    assert codes == {"AF": "collected", "X4": "arrived_at_carrier_facility", "AH": "attempt"}


def test_openssh_file_still_growing_waits(sshd):
    carrier = openssh_carrier(sshd)
    path = Path(sshd.root) / "inbox" / "grow.json"
    report = fetch_while_growing(carrier, path)
    assert report.growing == 1 and InboundMessage.objects.count() == 0
    with path.open("ab") as handle:
        handle.write(json.dumps(json.loads(events_file("OS4"))["events"][0]).encode() + b"]}")
    assert sftp_fetch(carrier_id=carrier.pk, stable_seconds=0.3).ingested == 1


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _bytes_read(pid: int) -> int:
    try:
        for line in (Path("/proc") / str(pid) / "io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_openssh_connection_cut_mid_download_leaves_the_file(sshd):
    import os
    import signal

    carrier = openssh_carrier(sshd, max_file_bytes=300_000_000)
    big = Path(sshd.root) / "inbox" / "big.json"
    with big.open("wb") as handle:
        handle.truncate(150_000_000)  # sparse: costs no disk, takes seconds to send
    killed = threading.Event()

    def cut_when_the_transfer_runs():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not killed.is_set():
            sessions = _descendants(sshd.process.pid)
            if any(_bytes_read(pid) > 5_000_000 for pid in sessions):
                for pid in sessions:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                killed.set()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=cut_when_the_transfer_runs)
    thread.start()
    try:
        report = sftp_fetch(carrier_id=carrier.pk)
    finally:
        killed.set()
        thread.join()
    assert "connection lost" in report.error or "cannot read" in report.error, report.error
    assert InboundMessage.objects.count() == 0 and SftpFile.objects.count() == 0
    assert big.exists() and big.stat().st_size == 150_000_000
