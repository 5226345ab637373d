"""Hardening probes from issue 14, each answered by a test that would catch it coming back.

- the admin login locks out repeated failures (django-axes), and staff see and clear the lockout;
- every page carries a Content-Security-Policy with no inline script allowed, and the pages
  that must work under it (admin, API docs) load no inline script;
- ``/metrics`` answers only a bearer token from the environment;
- sFTP connections the staff trigger (a customer's export, the ops console's test) follow
  the outbound address policy: a loopback target is refused before any connection is made;
- a plain ``celery -A gluey worker`` serves every queue a task can be routed to;
- ``scripts/supervise.sh`` (``make run``'s worker and beat) starts a process again when it exits.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from gluey import sftp
from notifications.models import Export, SftpDestination
from notifications.services import ExportFailed, export_run
from tests.factories import event, make_carrier, make_customer
from tracking.services import events_record, shipment_register

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)


def login(client: Client, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": "ops", "password": password, "next": "/admin/"})


# --- Admin login lockout ------------------------------------------------------------------------


def test_repeated_failed_logins_lock_the_account_out_even_with_the_right_password(staff, settings):
    from axes.models import AccessAttempt

    settings.AXES_FAILURE_LIMIT = 3
    attacker = Client()
    for _ in range(2):
        assert login(attacker, "wrong-guess").status_code == 200  # the form again, with an error
    locked = login(attacker, "wrong-guess")
    assert locked.status_code == 429
    # Locked out: the right password no longer opens the admin for this client.
    assert login(attacker, PASSWORD).status_code == 429
    assert "_auth_user_id" not in attacker.session
    attempt = AccessAttempt.objects.get(username="ops")
    assert attempt.failures_since_start >= 3


def test_the_lockout_is_listed_in_the_admin_and_deleting_it_lets_the_user_in(staff, settings):
    from axes.models import AccessAttempt

    settings.AXES_FAILURE_LIMIT = 2
    attacker = Client()
    login(attacker, "wrong-guess")
    assert login(attacker, "wrong-guess").status_code == 429

    admin = Client()
    admin.force_login(staff)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    attempt = AccessAttempt.objects.get(username="ops")
    assert f"/admin/axes/accessattempt/{attempt.pk}/change/" in listing.content.decode()
    cleared = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert cleared.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert login(attacker, PASSWORD).status_code == 302
    assert attacker.session["_auth_user_id"] == str(staff.pk)


# --- Content-Security-Policy ----------------------------------------------------------------------


class _Scripts(HTMLParser):
    """Collects inline script bodies that a browser would execute, and inline event handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_inline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "script" and not values.get("src"):
            kind = (values.get("type") or "text/javascript").lower()
            self._in_inline = kind in {"text/javascript", "module", "application/javascript"}

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline = False

    def handle_data(self, data: str) -> None:
        if self._in_inline and data.strip():
            self.inline.append(data.strip()[:80])


def csp_directives(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy", "")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
def test_every_kind_of_page_carries_a_policy_without_inline_script(staff):
    client = Client()
    client.force_login(staff)
    responses = [
        client.get("/admin/"),
        client.get("/admin/ops/"),
        client.get("/admin/carriers/carrier/add/"),
        client.get("/api/docs"),
        client.get("/healthz"),
        Client().get("/events"),  # the API, refusing an anonymous caller
        Client().get("/no/such/page"),
    ]
    for response in responses:
        directives = csp_directives(response)
        assert directives["script-src"] == ["'self'"], directives
        assert directives["default-src"] == ["'self'"]
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_the_admin_and_api_docs_need_no_inline_script(staff):
    client = Client()
    client.force_login(staff)
    for path in ("/admin/", "/admin/ops/", "/admin/carriers/carrier/add/", "/admin/login/", "/api/docs"):
        response = (Client() if path == "/admin/login/" else client).get(path)
        assert response.status_code == 200, path
        parser = _Scripts()
        parser.feed(response.content.decode())
        assert parser.inline == [], (path, parser.inline)
        assert parser.handlers == [], (path, parser.handlers)
    # The docs page's initialiser is a separate script, served from this site.
    docs = client.get("/api/docs").content.decode()
    initialiser = re.search(r'<script src="(/api/docs\?[^"]*script[^"]*)"', docs)
    assert initialiser, docs[-600:]
    script = client.get(initialiser.group(1).replace("&amp;", "&"))
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


# --- /metrics ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_refuse_anonymous_and_wrong_tokens_and_answer_the_right_one(settings):
    settings.METRICS_TOKEN = "prometheus-scrape-token-0123456789"
    anonymous = Client().get("/metrics")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    assert b"gluey_" not in anonymous.content
    for header in ("Bearer wrong-token", "Basic cHJvbWV0aGV1czp4", "Bearer", "prometheus-scrape-token-0123456789"):
        response = Client().get("/metrics", headers={"Authorization": header})
        assert response.status_code == 401, header
    good = Client().get("/metrics", headers={"Authorization": "Bearer prometheus-scrape-token-0123456789"})
    assert good.status_code == 200 and b"gluey_events_recorded" in good.content


@pytest.mark.django_db
def test_metrics_without_a_configured_token_refuse_everyone(settings):
    settings.METRICS_TOKEN = ""
    for header in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x"}):
        response = Client().get("/metrics", headers=header)
        assert response.status_code == 401
        assert "METRICS_TOKEN" in response.json()["detail"]


# --- Outbound address policy for staff-triggered sFTP ------------------------------------------


class Listener:
    """A TCP listener on loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> int:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        return self.accepted


@pytest.fixture
def listener():
    probe = Listener()
    yield probe
    probe.close()


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


@pytest.mark.django_db(transaction=True)
def test_an_export_to_a_loopback_server_is_refused_before_connecting(listener, settings):
    from tests.faults.conftest import load_taxonomy
    from tests.faults.support import feed_settled

    settings.WEBHOOK_ALLOWED_NETWORKS = []
    load_taxonomy()  # a transactional test starts with empty tables
    carrier = make_carrier()
    acme, _ = make_customer("acme")
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    events_record(carrier=carrier, events=[event(code="HUB")], channel="webhook")
    destination = SftpDestination.objects.create(
        customer=acme,
        name="internal",
        host="127.0.0.1",
        port=listener.port,
        username="gluey",
        password="pw",
        host_keys=KEY,
        remote_dir="/exports",
        format="csv",
    )
    feed_settled()  # so there is a file to send even on a busy shared server
    with pytest.raises(ExportFailed, match="not a public address"):
        export_run(destination_id=destination.pk)
    assert listener.close() == 0
    destination.refresh_from_db()
    assert "not a public address" in destination.last_error
    assert Export.objects.filter(destination=destination, status="pending").count() == 1  # kept, not lost


@pytest.mark.django_db
def test_the_same_export_connects_once_the_setting_opens_loopback(listener, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    config = sftp.SftpConfig(
        host="127.0.0.1",
        port=listener.port,
        username="u",
        password="p",
        host_keys=(KEY,),
        connect_timeout=2,
        banner_timeout=1,
        public_only=True,
    )
    with pytest.raises(sftp.SftpError), sftp.sftp_open(config):  # no SSH server behind the listener
        pass
    deadline = time.monotonic() + 5
    while listener.accepted == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.accepted == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "::1", "0.0.0.0"])
def test_a_host_key_scan_of_a_private_address_is_refused_without_a_packet(host, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(sftp.SftpError, match="not a public address"):
        sftp.host_key_scan(host, 22, timeout=1, public_only=True)


# --- Celery queues and supervision ---------------------------------------------------------------


def test_every_routed_queue_is_declared_so_a_plain_worker_consumes_it():
    from gluey.celery import app

    declared = {queue.name for queue in django_settings.CELERY_TASK_QUEUES}
    assert django_settings.CELERY_TASK_DEFAULT_QUEUE in declared
    routed = {route["queue"] for route in django_settings.CELERY_TASK_ROUTES.values()}
    assert routed <= declared, routed - declared
    app.loader.import_default_modules()
    for name in app.tasks:
        if name.startswith("celery."):
            continue
        queue = next(
            (r["queue"] for pattern, r in django_settings.CELERY_TASK_ROUTES.items() if fnmatch.fnmatch(name, pattern)),
            django_settings.CELERY_TASK_DEFAULT_QUEUE,
        )
        assert queue in declared, (name, queue)
    assert set(app.amqp.queues) == declared


@pytest.mark.slow
def test_a_worker_started_without_q_listens_on_every_queue():
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith(("redis://", "amqp://")):
        pytest.skip("needs a real broker: set CELERY_BROKER_URL (CI does)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_JSON": "false"}
    argv = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "gluey",
        "worker",
        "--pool",
        "solo",
        "-n",
        f"queues-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if " ready." in line:
                break
        banner = "".join(lines)
        consumed = set(re.findall(r"\.> (\w+)\s+exchange=", banner))
        assert consumed == {"default", "ingest", "notify", "poll", "sftp"}, banner
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def test_supervise_starts_an_exiting_command_again_and_stops_on_sigterm(tmp_path):
    runs = tmp_path / "runs"
    script = ROOT / "scripts" / "supervise.sh"
    process = subprocess.Popen(
        ["bash", str(script), "sh", "-c", f"echo run >> {runs}; exit 3"],
        env={**os.environ, "SUPERVISE_DELAY": "0.1"},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while (not runs.exists() or len(runs.read_text().splitlines()) < 3) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(runs.read_text().splitlines()) >= 3  # it exited twice and came back twice
        assert process.poll() is None  # the supervisor itself keeps running
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    assert "exited with status 3; starting it again" in process.stderr.read()


def test_supervise_passes_sigterm_to_a_long_running_command_and_exits(tmp_path):
    started = tmp_path / "started"
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "supervise.sh"), "sh", "-c", f"touch {started}; exec sleep 300"],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists()
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) is not None  # gone, rather than starting the command again


def test_make_run_supervises_the_worker_and_beat():
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if ": " in line)
    for name in ("worker", "beat"):
        assert procfile[name].startswith("scripts/supervise.sh "), procfile[name]
    assert " -Q " not in procfile["worker"]  # the declared queues, all of them
