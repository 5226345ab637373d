"""The dashboard: staff only, and it shows what is wrong per carrier and per customer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from carriers.models import Carrier, InboundMessage
from carriers.services.inbound import inbound_message_store
from carriers.services.retention import retention_purge
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
    match = re.search(rf'<tr class="[\w -]+" data-{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', page, re.DOTALL)
    assert match, f"no row for {value}"
    return match.group(0)


def _state(page: str, attr: str, value: str) -> str:
    match = re.search(r'data-state="(\w+)"', _row(page, attr, value))
    assert match, f"no state for {value}"
    return match.group(1)


def test_carrier_row_shows_events_failures_unmapped_and_charts(ops, busy_day):
    page = ops.get(URL).content.decode()
    row = _row(page, "carrier", "acme-post")
    assert "3 in 24h" in row  # three events recorded in the last day
    assert row.count("axis-chart") == 3  # volume, latency, failure rate
    assert "events recorded: peak 1, total 3" in row  # values written on the chart, no hovering needed
    assert "event → recorded: peak 10 min" in row  # each event was recorded 10 minutes after its carrier time
    assert "?status=failed&amp;carrier__id__exact=acme-post" in row and ">1 failed</a>" in row
    assert "Reprocess failed" in row
    assert "1 unmapped code(s)" in row and "1 failed inbound" in row
    assert _state(page, "carrier", "acme-post") == "bad"
    quiet = _row(page, "carrier", "parcelco")
    assert "0 in 24h" in quiet and "never" in quiet and "no events ever" in quiet and "Reprocess failed" not in quiet
    assert _state(page, "carrier", "parcelco") == "warn"  # never green without a single event


def test_the_chart_window_can_be_seven_days(ops, busy_day):
    page = ops.get(URL + "?window=7d").content.decode()
    row = _row(page, "carrier", "acme-post")
    assert "3 in 7d" in row and "events recorded: peak 3, total 3" in row  # 6-hour bars
    assert "<strong>last 7d</strong>" in page


def test_backoff_and_schedules_are_shown(ops, busy_day):
    until = timezone.now() + timezone.timedelta(minutes=30)
    Carrier.objects.filter(pk="acme-post").update(
        backoff_until=until, poll_failures=3, last_error="HTTP 503 from carrier"
    )
    page = ops.get(URL).content.decode()
    row = _row(page, "carrier", "acme-post")
    assert f"until {until:%Y-%m-%d %H:%M:%S} UTC" in row and "3 failure(s)" in row and "HTTP 503 from carrier" in row


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
    assert f"sFTP fetch last {last:%Y-%m-%d %H:%M:%S} UTC, next" in row and "Test sFTP" in row


def test_endpoint_row_shows_its_queue_its_oldest_delivery_and_retry_now(ops, busy_day):
    from notifications.models import WebhookEndpoint

    WebhookEndpoint.objects.filter(pk=busy_day.endpoint.pk).update(
        failing_since=timezone.now(),
        consecutive_failures=4,
        last_error="connection refused",
        retry_at=timezone.now() + timezone.timedelta(minutes=30),
    )
    page = ops.get(URL).content.decode()
    row = _row(page, "endpoint", str(busy_day.endpoint.pk))
    assert "http://127.0.0.1:9/gluey" in row and "failing (4 failure(s)): connection refused" in row
    assert f"?endpoint__id__exact={busy_day.endpoint.pk}&amp;status__exact=pending" in row
    assert re.search(r'class="num queue"><a [^>]*>1</a>', row)  # one delivery waiting
    assert "1 dead" in row and "ago" in row  # the oldest waiting delivery's age
    assert "Retry now" in row and "Send test event" in row and "Replay a window" in row
    assert _state(page, "endpoint", str(busy_day.endpoint.pk)) == "bad"  # dead letters


def test_a_carrier_without_a_webhook_secret_is_red(ops, busy_day):
    Carrier.objects.filter(pk="parcelco").update(webhook_secret="")
    page = ops.get(URL).content.decode()
    assert _state(page, "carrier", "parcelco") == "bad"
    assert "no webhook secret" in _row(page, "carrier", "parcelco")


def test_refused_webhooks_are_counted_per_carrier_with_the_last_reason(ops, busy_day, client):
    from django.test import Client

    for signature in ("v1,bm9wZQ==", "v1,c3RpbGwgbm8="):
        response = Client().post(
            "/carriers/parcelco/webhook",
            data=b'{"events": []}',
            content_type="application/json",
            headers={"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": signature},
        )
        assert response.status_code == 401
    page = ops.get(URL).content.decode()
    row = _row(page, "carrier", "parcelco")
    assert "2 webhook(s) refused in 24 h (2×401)" in row and "Authentication failed" in row
    assert _state(page, "carrier", "parcelco") == "bad"  # nothing accepted since
    assert "/admin/carriers/webhookrefusal/?carrier__id__exact=parcelco" in row
    assert '<strong class="value">2</strong> webhooks refused' in page
    listing = ops.get("/admin/carriers/webhookrefusal/").content.decode()
    assert "parcelco" in listing and "401" in listing


def test_polling_on_schedule_is_not_orange(ops, busy_day):
    from tracking.models import TrackedItem

    Carrier.objects.filter(pk="acme-post").update(webhook_secret="x")  # keep other checks quiet
    TrackedItem.objects.update(next_check_at=timezone.now() - timezone.timedelta(seconds=30))
    page = ops.get(URL).content.decode()
    row = _row(page, "carrier", "acme-post")
    assert "overdue" not in row


def test_every_colour_has_a_legend(ops, busy_day):
    page = ops.get(URL).content.decode()
    legend = re.search(r'<div class="legend" id="legend".*?</div>', page, re.DOTALL).group(0)
    for meaning in ("green: healthy", "orange:", "red:", "grey:"):
        assert meaning in legend


def test_a_healthy_carrier_is_green(ops, busy_day):
    from carriers.models import InboundMessage
    from tracking.models import UnmappedCode

    InboundMessage.objects.filter(status="failed").delete()
    UnmappedCode.objects.filter(carrier_id="acme-post").delete()
    page = ops.get(URL).content.decode()
    assert _state(page, "carrier", "acme-post") == "ok", _row(page, "carrier", "acme-post")


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
    row = _row(ops.get(URL).content.decode(), "destination", str(destination.pk))
    assert '<strong class="control-number">42</strong>' in row and "GLUEY_000000042.x12" in row and "pending" in row
    assert "Connection refused" in row


def test_retention_figures_are_on_the_dashboard(ops, busy_day):
    # Two processed webhooks of acme-post, aged past the 30 days of retention: waiting for the purge.
    for n in range(2):
        stored = inbound_message_store(
            carrier=busy_day.carrier, channel="webhook", body=f'{{"old": {n}}}'.encode(), process=False
        )
        InboundMessage.objects.filter(pk=stored.message.pk).update(
            status="processed", received_at=timezone.now() - timedelta(days=40)
        )

    def tile() -> str:
        page = ops.get(URL).content.decode()
        match = re.search(
            r'<div class="tile tile-(\w+)" data-tile="inbound rows past retention">(.*?)</div>', page, re.DOTALL
        )
        assert match, "no retention tile"
        return match.group(1) + " " + match.group(2)

    before = tile()
    assert before.startswith("warn ") and '<strong class="value">2</strong>' in before
    assert "no purge has run yet" in before

    retention_purge()
    after = tile()
    assert after.startswith("ok ") and '<strong class="value">0</strong>' in after
    assert "deleted 2 in" in after


def test_a_short_api_budget_is_orange_and_refused_credentials_red(ops, busy_day):
    Carrier.objects.filter(pk="parcelco").update(
        quota_warning="30 numbers want about 2880 calls a day, the budget allows 250: every polling interval "
        "is stretched ×12.8"
    )
    page = ops.get(URL).content.decode()
    assert "API budget short: 30 numbers want about 2880 calls a day" in _row(page, "carrier", "parcelco")
    Carrier.objects.filter(pk="parcelco").update(poll_alert="polling paused: USPS refused our credentials")
    page = ops.get(URL).content.decode()
    assert "USPS refused our credentials" in _row(page, "carrier", "parcelco")
    assert _state(page, "carrier", "parcelco") == "bad"


def test_a_carrier_silent_for_longer_than_the_stale_limit_is_orange(ops, busy_day, settings):
    settings.OPS_CARRIER_STALE_HOURS = 2  # acme-post's last event was recorded an hour ago
    page = ops.get(URL).content.decode()
    assert "stale" not in _row(page, "carrier", "acme-post")
    settings.OPS_CARRIER_STALE_HOURS = 1
    from tracking.models import TrackedItem

    TrackedItem.objects.filter(carrier_id="acme-post").update(
        last_event_recorded_at=timezone.now() - timezone.timedelta(hours=3)
    )
    page = ops.get(URL).content.decode()
    assert "stale: no event for 3 h" in _row(page, "carrier", "acme-post")
