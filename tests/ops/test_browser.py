"""The ops console in a real browser: headless Chromium (Debian's package, no browser download)
on a live server at a 1400 px laptop width.

Every list without horizontal scrolling, the dashboard's states, mapping a code from the form,
retry-now releasing a queue, the timeline's links, no Content-Security-Policy violation on the
admin and the API docs; screenshots of the main pages go to artifacts/screenshots/ (or
GLUEY_SCREENSHOTS_DIR, e.g. docs/screenshots for the README).

All database work happens before the browser starts or after it closes: Playwright's sync API
runs an event loop in this thread, and Django refuses ORM calls from a thread with one running.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.utils import timezone

from carriers.models import Carrier
from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.services import endpoint_subscribe
from tests.factories import event
from tests.notifications.receiver import Receiver, Reply
from tracking.models import CodeMapping
from tracking.services import events_record

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH = 1400
ROOT = Path(__file__).resolve().parents[2]
# artifacts/ (git-ignored) by default; GLUEY_SCREENSHOTS_DIR=docs/screenshots refreshes the README's copies.
SCREENSHOTS = ROOT / os.environ.get("GLUEY_SCREENSHOTS_DIR", "artifacts/screenshots")
PASSWORD = "a-long-ops-password"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"{CHROMIUM} is not installed (apt-get install -y chromium; CI's .ci/run installs it)",
    ),
]


@contextmanager
def browser_page(live_server: Any) -> Iterator[Any]:
    """A logged-in page; yields (page, console messages)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"{live_server.url}/admin/login/?next=/admin/ops/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/ops/")
            page.console = console  # type: ignore[attr-defined]
            yield page
        finally:
            browser.close()


def overflow(page: Any) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("ops", "ops@example.com", PASSWORD)


def test_every_list_fits_1400_px_and_the_main_pages_are_captured(live_server, busy_day, superuser):
    lists = sorted(f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model in admin.site._registry)
    shipment = f"/admin/tracking/shipment/{busy_day.shipment.pk}/change/"
    delivery = Delivery.objects.filter(endpoint=busy_day.endpoint).order_by("id").first()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    too_wide = {}
    with browser_page(live_server) as page:
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
        for path in lists:
            page.goto(live_server.url + path)
            assert page.locator("#changelist").count() == 1, path
            assert page.locator("#nav-sidebar").count() == 0, path  # the sidebar is out of the way on lists
            if overflow(page) > 0:
                too_wide[path] = overflow(page)
        for name, path in (
            ("timeline", shipment),
            ("deliveries", "/admin/notifications/delivery/"),
            ("delivery", f"/admin/notifications/delivery/{delivery.pk}/change/"),
            ("inbound-messages", "/admin/carriers/inboundmessage/"),
        ):
            page.goto(live_server.url + path)
            assert overflow(page) == 0, path
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        csp = [text for text in page.console if "Content Security Policy" in text]
    assert len(lists) > 15
    assert too_wide == {}, f"lists wider than {WIDTH} px: {too_wide}"
    assert csp == []
    for name in ("dashboard", "timeline", "deliveries", "delivery", "inbound-messages"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000


def test_the_dashboard_shows_each_state_and_a_legend(live_server, busy_day, superuser):
    # acme-post: failed inbound (red). parcelco: no events ever (orange). A secretless carrier (red).
    # A carrier whose pushes are refused (red). The endpoint: failing with dead letters (red).
    from tests.factories import make_carrier

    secretless = make_carrier("nosecret")
    Carrier.objects.filter(pk=secretless.pk).update(webhook_secret="")
    refused = make_carrier("bouncer")
    Client().post(
        "/carriers/bouncer/webhook",
        data=b'{"events": []}',
        content_type="application/json",
        headers={"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,bm9wZQ=="},
    )
    WebhookEndpoint.objects.filter(pk=busy_day.endpoint.pk).update(
        failing_since=timezone.now(),
        consecutive_failures=5,
        last_error="HTTP 503",
        retry_at=timezone.now() + timedelta(minutes=30),
    )
    with browser_page(live_server) as page:
        states = {
            carrier: page.locator(f'tr[data-carrier="{carrier}"]').get_attribute("data-state")
            for carrier in ("acme-post", "parcelco", "nosecret", "bouncer")
        }
        refusal_text = page.locator('tr[data-carrier="bouncer"] td.problems').inner_text()
        endpoint = page.locator(f'tr[data-endpoint="{busy_day.endpoint.pk}"]')
        endpoint_state = endpoint.get_attribute("data-state")
        queue = endpoint.locator("td.queue").inner_text()
        has_retry = endpoint.locator("button.retry-now").count()
        legend = page.locator("#legend").inner_text()
        charts = page.locator('tr[data-carrier="acme-post"] svg.axis-chart').count()
        chart_text = page.locator('tr[data-carrier="acme-post"] svg.axis-chart').first.text_content()
        assert overflow(page) == 0
        page.screenshot(path=str(SCREENSHOTS / "dashboard-states.png"), full_page=True)
    assert states == {"acme-post": "bad", "parcelco": "warn", "nosecret": "bad", "bouncer": "bad"}
    assert "1 webhook(s) refused" in refusal_text and "Authentication failed" in refusal_text
    assert endpoint_state == "bad" and queue.startswith("1") and has_retry == 1
    assert "green" in legend and "orange" in legend and "red" in legend and "grey" in legend
    assert charts == 3 and "events recorded: peak 1, total 3" in chart_text and "0" in chart_text
    assert refused.pk == "bouncer"


def test_mapping_a_code_from_the_form(live_server, busy_day, superuser):
    with browser_page(live_server) as page:
        page.goto(f"{live_server.url}/admin/tracking/unmappedcode/")
        page.check("input.action-select")
        page.select_option("select[name=action]", "map_codes")
        page.click("button[name=index]")
        page.wait_for_selector("#map-codes")
        page.screenshot(path=str(SCREENSHOTS / "map-codes.png"), full_page=True)
        assert "ZZZ-UNKNOWN" in page.locator("#codes-to-map").inner_text()
        assert busy_day.shipment.carrier_tracking_id in page.locator("#codes-to-map").inner_text()
        page.fill("input[name=find]", "signed")
        with page.expect_navigation():
            page.click("#search-button")
        options = page.locator("#taxonomy input[type=radio]")
        assert 0 < options.count() < 10
        page.locator("#taxonomy label", has_text="signed for").first.click()
        page.click("#apply-button")
        page.wait_for_url(f"{live_server.url}/admin/tracking/unmappedcode/")
        message = page.locator("ul.messagelist").inner_text()
    assert "Mapped 1 code(s)" in message
    mapping = CodeMapping.objects.get(carrier_id="acme-post", carrier_code="ZZZ-UNKNOWN")
    assert mapping.status.triple[0] == "delivery"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def test_retry_now_releases_a_stuck_queue(live_server, acme, carrier, receiver, superuser, settings, eager_tasks):
    from tracking.services import shipment_register

    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    settings.WEBHOOK_CONNECT_TIMEOUT = 2.0
    settings.WEBHOOK_TOTAL_TIMEOUT = 5.0
    endpoint, _ = endpoint_subscribe(customer=acme, url=receiver.url())
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    later = timezone.now() + timedelta(hours=3)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now(), consecutive_failures=3, retry_at=later, last_error="HTTP 503"
    )
    events_record(carrier=carrier, events=[event(code="HUB"), event(code="DEP", minutes=5)], channel="webhook")
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=later, attempt_count=1)
    receiver.script(Reply(200, b"ok"))
    row = f'tr[data-endpoint="{endpoint.pk}"]'
    with browser_page(live_server) as page:
        assert page.locator(f"{row} td.queue").inner_text().startswith("1")
        page.click(f"{row} button.retry-now")
        page.wait_for_selector("ul.messagelist")
        message = page.locator("ul.messagelist").inner_text()
        received = receiver.wait_for(1)
        page.reload()
        queue_after = page.locator(f"{row} td.queue").inner_text()
    assert "Sending 1 waiting delivery(ies)" in message
    assert len(received) == 1 and queue_after.startswith("0")
    assert not Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).exists()


def test_the_timeline_links_to_the_inbound_message_and_the_deliveries(live_server, busy_day, superuser):
    from carriers.services import inbound_message_store

    body = (
        b'{"events": [{"tracking_id": "JD0002234001100086", "code": "DLV", "description": "Delivered",'
        b' "occurred_at": "2026-11-28T14:03:00+01:00", "location": {"city": "Leeds", "iso_country": "GB"}}]}'
    )
    from carriers.services import inbound_message_process

    message = inbound_message_store(carrier=busy_day.carrier, channel="webhook", body=body, process=False).message
    inbound_message_process(message_id=message.pk)
    shipment = f"{live_server.url}/admin/tracking/shipment/{busy_day.shipment.pk}/change/"
    with browser_page(live_server) as page:
        page.goto(shipment)
        first = page.locator("table.gluey-timeline tbody tr", has_text="DLV")
        assert "2026-11-28 14:03:00 +01:00" in first.inner_text()
        state = page.locator("#current-state").inner_text()
        first.locator("a", has_text="inbound #").click()
        page.wait_for_url(f"{live_server.url}/admin/carriers/inboundmessage/{message.pk}/change/")
        page.go_back()
        page.locator("table.gluey-timeline tbody tr", has_text="DLV").locator("a", has_text="deliveries").click()
        page.wait_for_url("**/admin/notifications/delivery/**")
        deliveries = page.locator("#result_list tbody tr").count()
    assert state and state != "—"
    assert deliveries == 1


def test_the_api_docs_render_under_the_content_security_policy(live_server, superuser):
    with browser_page(live_server) as page:
        page.goto(f"{live_server.url}/api/docs")
        page.wait_for_selector("#swagger-ui .info .title", timeout=30_000)
        title = page.locator("#swagger-ui .info .title").inner_text()
        operations = page.locator("#swagger-ui .opblock").count()
        page.goto(f"{live_server.url}/admin/carriers/carrier/add/")
        violations = [text for text in page.console if "Content Security Policy" in text]
    assert "Gluey tracking API" in title and operations > 3
    assert violations == []
