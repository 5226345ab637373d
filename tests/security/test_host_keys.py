"""sFTP host-key pinning, both directions: fetching carrier files and exporting to customers.

A server that is not the pinned one — another key at the address we were
given, or the right host offering only another key type — is refused before
authentication: the password or private key never leaves, nothing is
downloaded or uploaded, and nothing moves (ledger, export cursor). A pinned
second key (a planned rotation) is accepted, so the refusals are not the
client failing for some other reason.
"""

from __future__ import annotations

import ipaddress

import paramiko
import pytest

from carriers.models import InboundMessage, SftpFile
from carriers.services.sftp import sftp_fetch
from gluey import sftp_server
from gluey.sftp_server import SftpServer, generate_ed25519_key
from notifications.models import Export, ExportStatus, SftpDestination
from notifications.services import ExportFailed, export_run
from tests.factories import event, make_carrier, make_customer
from tests.faults.support import feed_settled
from tracking.services import events_record, shipment_register


@pytest.fixture
def auth_attempts(monkeypatch):
    """Every authentication any in-process test SSH server sees: (username, kind)."""
    seen: list[tuple[str, str]] = []
    password, publickey = sftp_server._Auth.check_auth_password, sftp_server._Auth.check_auth_publickey

    def check_password(self, username, secret):
        seen.append((username, "password"))
        return password(self, username, secret)

    def check_publickey(self, username, key):
        seen.append((username, "publickey"))
        return publickey(self, username, key)

    monkeypatch.setattr(sftp_server._Auth, "check_auth_password", check_password)
    monkeypatch.setattr(sftp_server._Auth, "check_auth_publickey", check_publickey)
    return seen


@pytest.fixture
def genuine(tmp_path):
    with SftpServer(tmp_path / "genuine", password="pw") as srv:
        (srv.root / "inbox").mkdir()
        yield srv


@pytest.fixture
def impostor(tmp_path):
    """Another server answering where the genuine one should be, with its own key."""
    with SftpServer(tmp_path / "impostor", password="pw") as srv:
        (srv.root / "inbox").mkdir()
        (srv.root / "inbox" / "planted.json").write_text('{"events": []}')
        yield srv


def rsa_only_server(tmp_path) -> SftpServer:
    return SftpServer(tmp_path / "rsa", password="pw", host_key=paramiko.RSAKey.generate(2048)).start()


def carrier_at(server: SftpServer, pinned: str):
    return make_carrier(
        "filer",
        host="127.0.0.1",
        port=server.port,
        username="gluey",
        password="pw",
        host_key=pinned,
        remote_dir="/inbox",
        pattern="*.json",
        stable_seconds=0,
    )


@pytest.mark.django_db
def test_fetch_from_an_impostor_is_refused_before_authenticating(genuine, impostor, auth_attempts):
    carrier = carrier_at(impostor, genuine.host_key_line)  # pinned: the genuine key; answering: the impostor
    report = sftp_fetch(carrier_id=carrier.pk)
    assert "host key" in report.error and "does not match the pinned key" in report.error
    assert auth_attempts == []  # the password never left
    assert (impostor.root / "inbox" / "planted.json").exists()
    assert not InboundMessage.objects.exists() and not SftpFile.objects.exists()
    carrier.refresh_from_db()
    assert "host key" in carrier.last_error


@pytest.mark.django_db
def test_fetch_refuses_a_server_offering_only_another_key_type(tmp_path, genuine, auth_attempts):
    server = rsa_only_server(tmp_path)
    try:
        (server.root / "inbox").mkdir()
        (server.root / "inbox" / "a.json").write_text('{"events": []}')
        carrier = carrier_at(server, genuine.host_key_line)  # an ed25519 pin; the server has RSA only
        report = sftp_fetch(carrier_id=carrier.pk)
    finally:
        server.stop()
    assert report.error and auth_attempts == []
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db
def test_fetch_accepts_the_second_pinned_key_of_a_rotation(genuine, auth_attempts):
    old = generate_ed25519_key()
    carrier = carrier_at(genuine, f"ssh-ed25519 {old.get_base64()}\n{genuine.host_key_line}")
    (genuine.root / "inbox" / "a.json").write_text(
        '{"events": [{"tracking_id": "HK1", "code": "HUB", "occurred_at": "2026-11-28T09:00:00+00:00"}]}'
    )
    report = sftp_fetch(carrier_id=carrier.pk)
    assert (report.error, report.ingested) == ("", 1)
    assert auth_attempts == [("gluey", "password")]


def destination_at(server: SftpServer, customer, pinned: str) -> SftpDestination:
    return SftpDestination.objects.create(
        customer=customer,
        name="acme-sftp",
        host="127.0.0.1",
        port=server.port,
        username="gluey",
        password="pw",
        host_keys=pinned,
        remote_dir="/exports",
        format="x12_214",
        isa_receiver_id="ACME",
    )


@pytest.fixture
def acme_with_events(transactional_db, settings):
    from tests.faults.conftest import load_taxonomy

    # The test servers listen on loopback, which exports refuse unless the policy opens it.
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]

    load_taxonomy()
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    events_record(carrier=carrier, events=[event(code="HUB"), event(code="DLV", minutes=5)], channel="webhook")
    feed_settled()  # so each export has something to send even on a busy shared server
    return acme


def test_export_to_an_impostor_is_refused_before_authenticating(acme_with_events, genuine, impostor, auth_attempts):
    destination = destination_at(impostor, acme_with_events, genuine.host_key_line)
    with pytest.raises(ExportFailed, match="does not match the pinned key"):
        export_run(destination_id=destination.pk)
    assert auth_attempts == []
    assert not (impostor.root / "exports").exists()
    export = Export.objects.get()  # built, kept for the retry, never uploaded
    assert export.status == ExportStatus.PENDING
    destination.refresh_from_db()
    assert destination.cursor == "" and "host key" in destination.last_error


def test_export_refuses_a_server_offering_only_another_key_type(acme_with_events, tmp_path, genuine, auth_attempts):
    server = rsa_only_server(tmp_path)
    try:
        destination = destination_at(server, acme_with_events, genuine.host_key_line)
        with pytest.raises(ExportFailed):
            export_run(destination_id=destination.pk)
        assert not (server.root / "exports").exists()
    finally:
        server.stop()
    assert auth_attempts == []
    destination.refresh_from_db()
    assert destination.cursor == ""


def test_export_accepts_the_second_pinned_key_of_a_rotation(acme_with_events, genuine, auth_attempts):
    old = generate_ed25519_key()
    destination = destination_at(genuine, acme_with_events, f"ssh-ed25519 {old.get_base64()}\n{genuine.host_key_line}")
    feed_settled()  # so there is something to upload even on a busy shared server
    assert len(export_run(destination_id=destination.pk).uploaded) == 1
    assert auth_attempts == [("gluey", "password")]
