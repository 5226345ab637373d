"""The admin and the ops console: staff login, CSRF on every write.

Every admin page (each registered model's list, add and change pages, and the
ops console under /admin/ops/) sends anonymous visitors and logged-in
non-staff users to the login page and shows them nothing. Clients here
enforce CSRF as browsers experience it (``Client(enforce_csrf_checks=True)``):
a write without the token is refused 403 and changes nothing — logging in,
saving a model, an admin action, an ops console action.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from carriers.models import Carrier
from notifications.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)


@pytest.fixture
def clerk(db):
    return get_user_model().objects.create_user("clerk", "clerk@example.com", PASSWORD)


def admin_pages(world) -> list[str]:
    """List, add and (for a model with a row) change pages of every registered model, and the ops console."""
    endpoint = WebhookEndpoint.objects.first()
    assert endpoint is not None
    pages = [
        "/admin/",
        "/admin/ops/",
        "/admin/ops/carriers/acme-post/sftp-test/",
        f"/admin/ops/endpoints/{endpoint.pk}/replay/",
    ]
    for model in admin.site._registry:
        meta = model._meta
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
        row = model._default_manager.first()
        if row is not None:
            pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk]))
    return pages


def assert_sent_to_login(response, page: str) -> None:
    assert response.status_code == 302, (page, response.status_code)
    assert response["Location"].startswith("/admin/login/"), (page, response["Location"])


def test_every_admin_and_ops_page_needs_a_staff_login(world, clerk):
    pages = admin_pages(world)
    assert len(pages) > 20
    anonymous = Client(enforce_csrf_checks=True)
    not_staff = Client(enforce_csrf_checks=True)
    not_staff.force_login(clerk)
    for page in pages:
        assert_sent_to_login(anonymous.get(page), page)
        assert_sent_to_login(not_staff.get(page), page)


def test_the_login_itself_refuses_a_post_without_the_csrf_token(staff):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "ops", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    # With the token from the form, the same login works.
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        "/admin/login/", {"username": "ops", "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"}
    )
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(staff.pk)


def test_a_non_staff_user_cannot_log_in_to_the_admin(clerk):
    client = Client()
    response = client.post("/admin/login/", {"username": "clerk", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 200  # the form again, with an error
    assert_sent_to_login(client.get("/admin/"), "/admin/")


def test_admin_writes_without_the_csrf_token_are_refused_and_change_nothing(world, staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    carrier_page = reverse("admin:carriers_carrier_change", args=["acme-post"])
    name_before = Carrier.objects.get(pk="acme-post").name
    response = client.post(carrier_page, {"name": "hijacked", "adapter": "generic_json"})
    assert response.status_code == 403
    assert Carrier.objects.get(pk="acme-post").name == name_before
    endpoint = WebhookEndpoint.objects.first()
    changelist = reverse("admin:notifications_webhookendpoint_changelist")
    response = client.post(changelist, {"action": "delete_selected", "_selected_action": [endpoint.pk], "post": "yes"})
    assert response.status_code == 403 and WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_ops_console_actions_without_the_csrf_token_are_refused(world, staff):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    endpoint = WebhookEndpoint.objects.first()
    for action in (
        "/admin/ops/carriers/acme-post/reprocess-failed/",
        "/admin/ops/carriers/acme-post/reharmonise/",
        f"/admin/ops/endpoints/{endpoint.pk}/test-event/",
        f"/admin/ops/endpoints/{endpoint.pk}/replay/",
    ):
        response = client.post(action, {})
        assert response.status_code == 403, action
    assert not endpoint.deliveries.filter(kind="test").exists()  # the test event was not sent


def test_ops_console_actions_need_staff_even_with_a_valid_token(world, clerk):
    client = Client()
    client.force_login(clerk)
    endpoint = WebhookEndpoint.objects.first()
    response = client.post(f"/admin/ops/endpoints/{endpoint.pk}/test-event/")
    assert_sent_to_login(response, "test-event")
    assert not endpoint.deliveries.filter(kind="test").exists()
