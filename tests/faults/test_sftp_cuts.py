"""sFTP connections cut mid-transfer, in both directions, again and again.

A campaign per direction against the in-process SSH server
(``gluey.sftp_server``): runs alternate between a connection cut after a
seeded-random number of file bytes, a connection lost right around the final
rename (the client never learns whether it happened), and clean runs, while
new files and events keep arriving. At the end the invariants hold:

- fetch: every file ingested exactly once (its events recorded once), none
  left behind, each archived once;
- export: every recorded event in exactly one uploaded file, control numbers
  1…n with no gap and none reused, each file name once, and the cursor at the end.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carriers.models import InboundMessage, InboundStatus, SftpFile
from carriers.services.sftp import sftp_fetch
from gluey import sftp
from gluey.sftp_server import SftpServer
from notifications.models import Export, ExportStatus, SftpDestination
from notifications.services import ExportFailed, export_run
from tests.factories import event, make_carrier, make_customer
from tests.faults.support import feed_settled
from tracking.models import TrackingEvent
from tracking.services import events_record, shipment_register

pytestmark = pytest.mark.slow  # fault injection

T0 = datetime(2026, 11, 4, 6, 0, tzinfo=UTC)


@pytest.fixture
def server(tmp_path):
    with SftpServer(tmp_path / "root", password="pw") as srv:
        (srv.root / "inbox").mkdir()
        yield srv


@pytest.fixture
def lose_connection_around_rename(monkeypatch):
    """Arm with ``before`` or ``after``: the next rename loses the connection on that side of the rename."""
    state = {"when": None}
    real_rename = sftp.SftpSession.rename

    def rename(self, source: str, target: str) -> None:
        when, state["when"] = state["when"], None
        if when == "before":
            self.transport.close()
            raise sftp.SftpError(f"connection lost before renaming {source}")
        real_rename(self, source, target)
        if when == "after":
            self.transport.close()
            raise sftp.SftpError(f"connection lost after renaming {source} (the client never heard back)")

    monkeypatch.setattr(sftp.SftpSession, "rename", rename)
    return state


def carrier_file(n: int, events: int) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "tracking_id": f"CUT{n:03d}{i % 7}",
                    "code": ("HUB", "DEP", "ARR", "OFD")[i % 4],
                    "description": f"file {n} event {i} " + "x" * 80,
                    "occurred_at": (T0 + timedelta(hours=n, seconds=i)).isoformat(),
                    "location": {"city": "Leeds", "iso_country": "GB"},
                }
                for i in range(events)
            ]
        }
    ).encode()


@pytest.mark.django_db
def test_fetch_campaign_of_cut_connections_ingests_every_file_exactly_once(server, lose_connection_around_rename):
    carrier = make_carrier(
        "filer",
        host="127.0.0.1",
        port=server.port,
        username="gluey",
        password="pw",
        host_key=server.host_key_line,
        remote_dir="/inbox",
        pattern="*.json",
        stable_seconds=0,
    )
    rng = random.Random(20261129)
    inbox = server.root / "inbox"
    files: dict[str, int] = {}

    def drop(n: int) -> None:
        count = rng.choice([3, 40, 400])  # up to ~60 KB: several read requests per file
        name = f"status_{n:03d}.json"
        (inbox / name).write_bytes(carrier_file(n, count))
        stamp = time.time() - 3600 + n
        os.utime(inbox / name, (stamp, stamp))
        files[name] = count

    for n in range(6):
        drop(n)
    faults = []
    for run in range(40):
        pending = sum(p.stat().st_size for p in inbox.glob("*.json"))
        if not pending:
            break
        fault = ("cut", "rename-before", "rename-after", "none")[run % 4] if run < 24 else "none"
        if fault == "cut":
            server.cut_connection_after(rng.randint(1, pending))
        elif fault.startswith("rename"):
            lose_connection_around_rename["when"] = fault.removeprefix("rename-")
        report = sftp_fetch(carrier_id=carrier.pk, stable_seconds=0)
        server.cut_connection_after(None)
        if report.error:
            faults.append(fault)
        if run in (3, 9, 15):
            drop(6 + run)  # the carrier keeps dropping files between runs
    assert not list(inbox.glob("*.json")), "a file was left behind"
    assert {"cut", "rename-before", "rename-after"} <= set(faults), faults

    # Every file ingested once: one original message, one ledger row, one archived copy.
    originals = InboundMessage.objects.exclude(status=InboundStatus.DUPLICATE)
    assert sorted(originals.values_list("filename", flat=True)) == sorted(files)
    assert set(originals.values_list("status", flat=True)) == {InboundStatus.PROCESSED}
    assert sorted(SftpFile.objects.values_list("name", flat=True)) == sorted(files)
    assert sorted(p.name for p in (inbox / "archive").iterdir()) == sorted(files)
    # Every event once.
    assert TrackingEvent.objects.count() == sum(files.values())
    for message in originals:
        assert TrackingEvent.objects.filter(inbound_message_id=message.pk).count() == files[message.filename]


def isa_control_number(content: bytes) -> int:
    return int(content[:106].split(content[3:4])[13])


def read_events(content: bytes) -> list[tuple[str, str, datetime]]:
    from edi.x12.reader import iter_events

    return [(e.tracking_id, e.carrier_code, e.occurred_at) for e in iter_events(io.BytesIO(content))]


@pytest.mark.django_db(transaction=True)
def test_export_campaign_of_cut_connections_leaves_no_gap_and_no_duplicate(
    taxonomy, server, lose_connection_around_rename, loopback_allowed
):
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    tracking_ids = [f"EXP{i:04d}" for i in range(5)]
    for tracking_id in tracking_ids:
        shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id=tracking_id)
    destination = SftpDestination.objects.create(
        customer=acme,
        name="acme-sftp",
        host="127.0.0.1",
        port=server.port,
        username="gluey",
        password="pw",
        host_keys=server.host_key_line,
        remote_dir="/exports",
        format="x12_214",
        isa_receiver_id="ACME",
        interval_minutes=5,
    )
    rng = random.Random(4711)
    minute = 0
    faults = []
    for round_ in range(12):
        count = rng.choice([1, 30, 300])  # up to ~70 KB: several write requests per file
        events_record(
            carrier=carrier,
            channel="webhook",
            events=[
                event(tracking_id=tracking_ids[i % 5], code=("HUB", "DEP")[i % 2], minutes=minute + i)
                for i in range(count)
            ],
        )
        minute += count
        feed_settled()  # each round must have a file to send, or its fault is never tried
        fault = ("cut", "rename-before", "rename-after", "cut", "none")[round_ % 5]
        if fault == "cut":
            server.cut_connection_after(rng.randint(1, 200 * count))
        elif fault.startswith("rename"):
            lose_connection_around_rename["when"] = fault.removeprefix("rename-")
        try:
            export_run(destination_id=destination.pk)
        except ExportFailed:
            faults.append(fault)
        server.cut_connection_after(None)
        lose_connection_around_rename["when"] = None
    feed_settled()  # another database's transaction on a shared server holds the feed back for a while
    export_run(destination_id=destination.pk)  # the next scheduled run, without faults
    assert {"cut", "rename-before", "rename-after"} <= set(faults), faults

    exports = list(Export.objects.order_by("control_number"))
    assert [e.status for e in exports] == [ExportStatus.UPLOADED] * len(exports)
    # Control numbers 1…n: none skipped, none reused; one file per export under its own name.
    assert [e.control_number for e in exports] == list(range(1, len(exports) + 1))
    folder: Path = server.root / "exports"
    visible = {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}
    assert sorted(visible) == sorted(e.file_name for e in exports)
    for export in exports:
        assert visible[export.file_name] == bytes(export.content)
        assert isa_control_number(visible[export.file_name]) == export.control_number
    # Consecutive cursors: each export starts where the previous one ended.
    assert exports[0].cursor_from == ""
    assert all(b.cursor_from == a.cursor_to for a, b in itertools.pairwise(exports))
    destination.refresh_from_db()
    assert destination.cursor == exports[-1].cursor_to
    # Every recorded event in exactly one file.
    sent = [e for content in visible.values() for e in read_events(content)]
    recorded = [
        (e.tracked_item.tracking_id, e.carrier_code, e.occurred_at)
        for e in TrackingEvent.objects.select_related("tracked_item")
    ]
    assert len(sent) == len(set(sent)) == len(recorded)
    assert set(sent) == set(recorded)
