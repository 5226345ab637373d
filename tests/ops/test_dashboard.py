"""The dashboard: staff only, and it shows what is wrong per carrier and per customer."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from carriers.models import Carrier
from carriers.services.schedules import sftp_task_name

pytestmark = pytest.mark.django_db

URL = "/admin/ops/"


def test_anonymous_is_sent_to_the_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_is_refused(clerk):
    response = clerk.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert "ops-dashboard" not in clerk.get(URL, follow=True).content.decode()


def _row(page: str, attr: str, value: str) -> str:
    match = re.search(rf'<tr class="\w+" data-{attr}="{re.escape(value)}">(.*?)</tr>', page, re.DOTALL)
    assert match, f"no row for {value}"
    return match.group(1)


def test_carrier_row_shows_events_failures_unmapped_and_charts(ops, busy_day):
    page = ops.get(URL).content.decode()
    row = _row(page, "carrier", "acme-post")
    assert "3 in 24 h" in row  # three events recorded in the last day
    assert row.count("<svg") >= 3  # status dot, events per hour, freshness
    assert 'aria-label="acme-post events per hour, last 24 h: 3 in total' in row
    assert "?status=failed&amp;carrier__id__exact=acme-post" in row and ">1</a>" in row  # one failed inbound message
    assert "carrier__id__exact=acme-post" in row and "Reprocess failed" in row
    assert "1 unmapped code(s)" in row  # the state dot's label names the problem
    quiet = _row(page, "carrier", "parcelco")
    assert "0 in 24 h" in quiet and "never" in quiet and "Reprocess failed" not in quiet


def test_freshness_is_carrier_time_to_recorded_time(ops, busy_day):
    # Each event was recorded 10 minutes after its carrier time.
    page = ops.get(URL).content.decode()
    row = _row(page, "carrier", "acme-post")
    assert "<title>≤5m: 0</title>" in row and "<title>≤15m: 3</title>" in row and "<title>≤1h: 0</title>" in row
    assert "median ≤15m over 3" in row


def test_backoff_and_schedules_are_shown(ops, busy_day):
    until = timezone.now() + timezone.timedelta(minutes=30)
    Carrier.objects.filter(pk="acme-post").update(
        backoff_until=until, poll_failures=3, last_error="HTTP 503 from carrier"
    )
    page = ops.get(URL).content.decode()
    row = _row(page, "carrier", "acme-post")
    assert f"until {until:%H:%M:%S}" in row and "3 failure(s)" in row and "HTTP 503 from carrier" in row


def test_sftp_schedule_last_and_next_run(ops, busy_day, tmp_path):
    from gluey.sftp_server import SftpServer
    from tests.factories import make_carrier

    with SftpServer(tmp_path) as server:
        make_carrier(
            "filer",
            host="127.0.0.1",
            port=server.port,
            username="gluey",
            password="pw",
            host_key=server.host_key_line,
            remote_dir="/",
            stable_seconds=0,
        )
    last = timezone.now() - timezone.timedelta(seconds=20)
    PeriodicTask.objects.filter(name=sftp_task_name("filer")).update(last_run_at=last)
    row = _row(ops.get(URL).content.decode(), "carrier", "filer")
    assert f"{last:%H:%M:%S} / " in row and "Test sFTP" in row


def test_customer_row_shows_endpoint_health_deliveries_and_exports(ops, busy_day):
    from notifications.models import WebhookEndpoint

    WebhookEndpoint.objects.filter(pk=busy_day.endpoint.pk).update(
        failing_since=timezone.now(), consecutive_failures=4, last_error="connection refused"
    )
    page = ops.get(URL).content.decode()
    row = _row(page, "customer", busy_day.shipment.customer.account_number)
    assert "failing since" in row and "4 failure(s)" in row
    assert "http://127.0.0.1:9/gluey" in row
    assert 'aria-label="acme deliveries waiting: pending 1, retrying 0, dead-lettered 1"' in row
    assert "Send test event" in row and "Replay a window" in row
    assert "no export yet" not in row and "none" in row  # acme has no sFTP destination


def test_health_checks_and_timeline_link_on_top(ops, busy_day):
    page = ops.get(URL).content.decode()
    assert "<strong>database</strong>" in page and "<strong>broker</strong>" in page and "<strong>beat</strong>" in page
    assert f"/admin/tracking/shipment/{busy_day.shipment.pk}/change/" in page


def test_admin_index_links_to_the_dashboard(ops):
    page = ops.get("/admin/").content.decode()
    assert 'href="/admin/ops/"' in page


def test_last_export_and_its_control_number(ops, busy_day):
    import hashlib

    from notifications.models import Export, ExportStatus, SftpDestination

    destination = SftpDestination.objects.create(
        customer=busy_day.shipment.customer,
        name="acme-edi",
        host="127.0.0.1",
        username="acme",
        host_keys="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        last_error="Connection refused",
        last_error_at=timezone.now(),
    )
    for number, status in ((41, ExportStatus.UPLOADED), (42, ExportStatus.PENDING)):
        Export.objects.create(
            destination=destination,
            control_number=number,
            file_name=f"GLUEY_{number:09d}.x12",
            format="x12_214",
            cursor_to="c",
            event_count=3,
            content=b"ISA*...",
            sha256=hashlib.sha256(b"ISA*...").hexdigest(),
            size=7,
            status=status,
            uploaded_at=timezone.now() if status == ExportStatus.UPLOADED else None,
        )
    row = _row(ops.get(URL).content.decode(), "customer", busy_day.shipment.customer.account_number)
    assert '<strong class="control-number">42</strong>' in row and "GLUEY_000000042.x12" in row and "pending" in row
    assert "Connection refused" in row
