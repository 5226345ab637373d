"""The demo receiver (a real subprocess) and the demo seeding command."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from standardwebhooks import Webhook

from gluey import http
from notifications.models import WebhookEndpoint
from notifications.services import delivery_headers, secret_generate

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_receiver(tmp_path):
    port = free_port()
    secret = secret_generate()
    env = {**os.environ, "GLUEY_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo_receiver", "--port", str(port), "--secret", secret],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/webhooks", secret, process
    process.terminate()
    process.wait(10)


def test_demo_receiver_accepts_signed_and_refuses_forged(demo_receiver, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    url, secret, process = demo_receiver
    body = json.dumps([{"carrier_tracking_id": "JD1", "event": {"codes": {"gluey": {"milestone": "delivery"}}}}])
    now = datetime.now(UTC)

    signed = delivery_headers(signers=[Webhook(secret)], msg_id="msg_demo1", body=body, when=now)
    forged = delivery_headers(signers=[Webhook(secret_generate())], msg_id="msg_demo2", body=body, when=now)

    assert http.post(url, body=body.encode(), headers=signed).status == 204
    assert http.post(url, body=body.encode(), headers=forged).status == 401
    process.terminate()
    output = process.communicate(timeout=10)[0]
    assert "✓ msg_demo1: 1 event(s) verified" in output
    assert "✗ msg_demo2: signature did not verify" in output


@pytest.mark.django_db
def test_seed_demo_notifications_is_idempotent(acme, tmp_path, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo_notifications", "--customer", acme.account_number, stdout=out)
    first = json.loads(out.getvalue())
    assert first["webhook_endpoint"] == "http://127.0.0.1:8001/webhooks" and first["webhook_secret"].startswith(
        "whsec_"
    )

    out = StringIO()
    call_command("seed_demo_notifications", "--customer", acme.account_number, stdout=out)
    assert json.loads(out.getvalue())["webhook_secret"] is None
    assert WebhookEndpoint.objects.get().secret == first["webhook_secret"]


@pytest.mark.django_db
def test_seed_demo_notifications_explains_the_loopback_setting(acme, tmp_path, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    settings.VAR_DIR = tmp_path
    with pytest.raises(CommandError, match="WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8"):
        call_command("seed_demo_notifications", "--customer", acme.account_number, stdout=StringIO())
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_seed_demo_notifications_points_a_destination_at_the_simulators_server(acme, tmp_path, settings):
    from django_celery_beat.models import PeriodicTask

    from gluey.sftp_server import SftpServer
    from notifications.models import SftpDestination

    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    settings.VAR_DIR = tmp_path
    with SftpServer(tmp_path / "sim", username="sim", password="pw") as srv:
        config = {"host": "127.0.0.1", "port": srv.port, "username": "sim", "password": "pw",
                  "host_key": srv.host_key_line, "remote_dir": "/customer-exports"}  # fmt: skip
        (tmp_path / "demo_sftp.json").write_text(json.dumps(config))
        out = StringIO()
        call_command("seed_demo_notifications", "--customer", acme.account_number, stdout=out)
        # Run again after the simulator moved to another port: the destination follows.
        config["port"] = srv.port + 1
        (tmp_path / "demo_sftp.json").write_text(json.dumps(config))
        call_command("seed_demo_notifications", "--customer", acme.account_number, stdout=StringIO())

    destination = SftpDestination.objects.get()
    assert (destination.name, destination.port, destination.remote_dir) == ("demo", srv.port + 1, "/customer-exports")
    assert destination.password == "pw" and destination.host_keys == srv.host_key_line
    assert PeriodicTask.objects.filter(pk=destination.periodic_task_id, enabled=True).exists()
    assert json.loads(out.getvalue())["sftp_destination"].startswith("demo (sim@127.0.0.1")


@pytest.mark.django_db
def test_seed_demo_notifications_names_a_bad_sftp_setting(acme, tmp_path, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    settings.VAR_DIR = tmp_path
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"host": "127.0.0.1", "port": 22, "username": "sim", "password": "pw"}))
    with pytest.raises(CommandError, match="host_keys: pin at least one host key"):
        call_command("seed_demo_notifications", "--customer", acme.account_number, "--sftp-config", str(bad))
    assert not WebhookEndpoint.objects.exists()  # nothing half-done
