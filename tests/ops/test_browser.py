"""One real-browser smoke test: headless Chromium (Debian's package, no browser download) logs into
the admin on a live server, opens the ops dashboard and a shipment's timeline, and saves screenshots
under artifacts/ (git-ignored)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"{CHROMIUM} is not installed (apt-get install -y chromium; CI's .ci/run installs it)",
    ),
]


def test_admin_dashboard_and_timeline_in_a_real_browser(live_server, busy_day, django_user_model):
    from playwright.sync_api import expect, sync_playwright

    # All database work happens before the browser starts: Playwright's sync API runs an event
    # loop in this thread, and Django refuses ORM calls from a thread with a running loop.
    django_user_model.objects.create_superuser("ops", "ops@example.com", "a-long-ops-password")
    shipment_url = f"{live_server.url}/admin/tracking/shipment/{busy_day.shipment.pk}/change/"
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{live_server.url}/admin/ops/")
            assert "/admin/login/" in page.url  # not logged in yet
            page.fill("#id_username", "ops")
            page.fill("#id_password", "a-long-ops-password")
            page.click("input[type=submit]")
            page.wait_for_url(f"{live_server.url}/admin/ops/")

            carrier = page.locator('tr[data-carrier="acme-post"]')
            expect(carrier).to_be_visible()
            expect(carrier).to_contain_text("3 in 24 h")
            expect(carrier.locator("svg.gluey-chart").first).to_be_visible()
            expect(page.locator("#customers")).to_contain_text("dead-lettered")
            page.screenshot(path=str(ARTIFACTS / "ops-dashboard.png"), full_page=True)

            page.click("#latest-timeline")
            page.wait_for_url(shipment_url)
            timeline = page.locator("table.gluey-timeline")
            expect(timeline).to_be_visible()
            expect(timeline).to_contain_text("ZZZ-UNKNOWN")
            expect(timeline.locator("tbody tr")).to_have_count(3)
            page.screenshot(path=str(ARTIFACTS / "shipment-timeline.png"), full_page=True)
        finally:
            browser.close()

    assert (ARTIFACTS / "ops-dashboard.png").stat().st_size > 10_000
    assert (ARTIFACTS / "shipment-timeline.png").stat().st_size > 10_000
