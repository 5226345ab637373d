"""Testing a carrier's sFTP connection against a real SSH server (paramiko's, in process).

The host key fingerprint is shown for pinning; it is saved only on explicit confirmation.
"""

from __future__ import annotations

import socket

import pytest

from carriers.models import Carrier
from gluey.sftp_server import SftpServer, generate_ed25519_key
from tests.factories import make_carrier

# The test server listens on 127.0.0.1, which the outbound address policy refuses unless opened.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_allowed")]


@pytest.fixture
def server(tmp_path):
    with SftpServer(tmp_path / "root", password="pw") as srv:
        (srv.root / "inbox").mkdir()
        (srv.root / "inbox" / "events-1.json").write_text("{}")
        yield srv


def filer(server: SftpServer, host_key: str) -> Carrier:
    return make_carrier(
        "filer",
        host="127.0.0.1",
        port=server.port,
        username="gluey",
        password="pw",
        host_key=host_key,
        remote_dir="/inbox",
        stable_seconds=0,
    )


def other_key_line() -> str:
    key = generate_ed25519_key()
    return f"{key.get_name()} {key.get_base64()}"


def url(carrier: Carrier) -> str:
    return f"/admin/ops/carriers/{carrier.pk}/sftp-test/"


def test_the_form_is_prefilled_from_the_carrier(ops, server):
    carrier = filer(server, server.host_key_line)
    page = ops.get(url(carrier)).content.decode()
    assert f'value="{server.port}"' in page and 'value="127.0.0.1"' in page
    assert server.host_key_line in page


def test_pinned_key_logs_in_and_lists_the_directory(ops, server):
    from ops.services import key_fingerprint

    carrier = filer(server, server.host_key_line)
    page = ops.post(url(carrier), {"action": "scan", "host": "127.0.0.1", "port": server.port}).content.decode()
    assert key_fingerprint(server.host_key_line) in page
    assert "This is the pinned key" in page
    assert "Logged in with the stored credentials; 1 file(s)" in page and "events-1.json" in page
    assert 'id="pin-form"' not in page


def test_changed_key_is_shown_and_pinned_only_on_confirmation(ops, server):
    from ops.services import key_fingerprint

    old = other_key_line()
    carrier = filer(server, old)
    page = ops.post(url(carrier), {"action": "scan", "host": "127.0.0.1", "port": server.port}).content.decode()
    assert "NOT the pinned key" in page and key_fingerprint(server.host_key_line) in page
    assert "Login failed" in page and "does not match the pinned key" in page
    assert 'id="pin-form"' in page
    # Without ticking the confirmation nothing is saved.
    pin = {"action": "pin", "host": "127.0.0.1", "port": server.port, "key_line": server.host_key_line}
    page = ops.post(url(carrier), pin).content.decode()
    assert "This field is required" in page
    carrier.refresh_from_db()
    assert carrier.config["host_key"] == old
    # With it, the key is saved, and the next test logs in.
    response = ops.post(url(carrier), {**pin, "confirm": "on"}, follow=True)
    assert f"Pinned {key_fingerprint(server.host_key_line)}" in " ".join(str(m) for m in response.context["messages"])
    carrier.refresh_from_db()
    assert carrier.config["host_key"] == server.host_key_line
    page = ops.post(url(carrier), {"action": "scan", "host": "127.0.0.1", "port": server.port}).content.decode()
    assert "Logged in" in page


def test_pin_refuses_a_key_the_server_does_not_present(ops, server):
    old = other_key_line()
    carrier = filer(server, old)
    forged = other_key_line()
    pin = {"action": "pin", "host": "127.0.0.1", "port": server.port, "key_line": forged, "confirm": "on"}
    page = ops.post(url(carrier), pin).content.decode()
    assert "nothing saved" in page.lower()
    carrier.refresh_from_db()
    assert carrier.config["host_key"] == old


def test_another_host_or_port_cannot_be_probed_or_pinned(ops, server, tmp_path):
    """The test only ever connects to the carrier's configured server: no port scanning from the admin."""
    carrier = filer(server, other_key_line())
    with SftpServer(tmp_path / "other") as elsewhere:
        page = ops.post(url(carrier), {"action": "scan", "host": "127.0.0.1", "port": elsewhere.port}).content.decode()
        assert "Only filer&#x27;s configured server" in page and 'id="probe-result"' not in page
        pin = {
            "action": "pin",
            "host": "127.0.0.1",
            "port": elsewhere.port,
            "key_line": elsewhere.host_key_line,
            "confirm": "on",
        }
        page = ops.post(url(carrier), pin).content.decode()
    assert "is not filer&#x27;s configured sFTP server" in page
    carrier.refresh_from_db()
    assert carrier.config["host_key"] != elsewhere.host_key_line


def test_an_unreachable_configured_server_says_so(ops, server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    carrier = make_carrier(
        "filer",
        host="127.0.0.1",
        port=closed_port,
        username="gluey",
        password="pw",
        host_key=server.host_key_line,
        remote_dir="/inbox",
        stable_seconds=0,
    )
    page = ops.post(url(carrier), {"action": "scan", "host": "127.0.0.1", "port": closed_port}).content.decode()
    assert f"cannot connect to 127.0.0.1:{closed_port}" in page


def test_a_private_configured_server_is_refused_by_the_address_policy(ops, server, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    carrier = filer(server, server.host_key_line)
    page = ops.post(url(carrier), {"action": "scan", "host": "127.0.0.1", "port": server.port}).content.decode()
    assert "not a public address" in page and "Logged in" not in page


def test_probing_needs_the_change_permission(server, client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_carrier"))
    client.force_login(user)
    carrier = filer(server, server.host_key_line)
    assert client.get(url(carrier)).status_code == 200
    assert client.post(url(carrier), {"action": "scan", "host": "127.0.0.1", "port": server.port}).status_code == 403
