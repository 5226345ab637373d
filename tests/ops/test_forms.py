"""Admin forms with no traps (issue 14): a webhook-only carrier saves with the defaults, its
webhook secret is generated and shown once with the URL, credentials are never pre-filled
with ``null``, and the sections an adapter does not use are hidden (or explained on add)."""

from __future__ import annotations

import re

import pytest

from carriers.models import Carrier
from tests.factories import make_carrier
from tracking.models import CodeMapping

pytestmark = pytest.mark.django_db


def add_form_defaults(**values: str) -> dict[str, str]:
    """What a browser posts for the add page left at its defaults."""
    return {
        "id": "",
        "name": "",
        "adapter": "generic_json",
        "enabled": "on",
        "default_zone": "UTC",
        "webhook_secret": "",
        "config": "{}",
        "new_credentials": "",
        "poll_interval_minutes": "15",
        "poll_batch_size": "10",
        "rate_limit_per_minute": "60",
        **values,
    }


def test_a_webhook_only_carrier_saves_with_the_defaults_and_shows_its_secret_once(ops):
    response = ops.post("/admin/carriers/carrier/add/", add_form_defaults(id="acme-push"), follow=True)
    assert response.redirect_chain, response.content.decode()[-3000:]
    carrier = Carrier.objects.get(pk="acme-push")
    assert carrier.webhook_secret.startswith("whsec_")
    assert carrier.poll_batch_size == 1  # generic_json does not poll: the adapter's own maximum
    shown = response.content.decode()
    assert "/carriers/acme-push/webhook" in shown and carrier.webhook_secret in shown
    # Once: after that page, the change page never sends the secret back.
    page = ops.get(f"/admin/carriers/carrier/{carrier.pk}/change/").content.decode()
    assert carrier.webhook_secret not in page
    assert "/carriers/acme-push/webhook" in page


def test_the_adapter_default_code_map_is_loaded_for_a_carrier_added_in_the_admin(ops):
    ops.post("/admin/carriers/carrier/add/", add_form_defaults(id="acme-push"))
    assert CodeMapping.objects.filter(carrier_id="acme-push").count() > 0


def test_saving_without_a_new_secret_keeps_the_old_one(ops):
    carrier = make_carrier("acme-push")
    secret = carrier.webhook_secret
    values = add_form_defaults(poll_batch_size="1")
    values.pop("id")
    response = ops.post(f"/admin/carriers/carrier/{carrier.pk}/change/", values)
    assert response.status_code == 302
    carrier.refresh_from_db()
    assert carrier.webhook_secret == secret


def test_a_typed_secret_replaces_it_and_is_not_echoed(ops):
    carrier = make_carrier("acme-push")
    values = add_form_defaults(poll_batch_size="1", webhook_secret="ups-track-alert-credential-42")
    values.pop("id")
    response = ops.post(f"/admin/carriers/carrier/{carrier.pk}/change/", values, follow=True)
    carrier.refresh_from_db()
    assert carrier.webhook_secret == "ups-track-alert-credential-42"
    assert "ups-track-alert-credential-42" not in response.content.decode()


def test_credentials_are_never_prefilled_with_null(ops):
    for page in ("/admin/carriers/carrier/add/", f"/admin/carriers/carrier/{make_carrier('acme-push').pk}/change/"):
        html = ops.get(page).content.decode()
        box = re.search(r'<textarea name="new_credentials"[^>]*>(.*?)</textarea>', html, re.DOTALL)
        assert box is not None and box.group(1).strip() == "", page


def test_a_polling_carrier_left_at_the_default_batch_size_saves_with_its_adapter_maximum(ops):
    response = ops.post("/admin/carriers/carrier/add/", add_form_defaults(id="dhl-main", adapter="dhl"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Carrier.objects.get(pk="dhl-main").poll_batch_size == 1
    # A batch size typed by hand beyond the adapter's limit is still an error, naming the limit.
    values = add_form_defaults(adapter="dhl", poll_batch_size="5")
    values.pop("id")
    response = ops.post("/admin/carriers/carrier/dhl-main/change/", values)
    assert response.status_code == 200
    assert "The dhl adapter sends at most 1 numbers per request." in response.content.decode()


def test_sections_an_adapter_does_not_use_are_hidden_and_explained_on_add(ops):
    push = ops.get(f"/admin/carriers/carrier/{make_carrier('acme-push').pk}/change/").content.decode()
    assert 'name="poll_batch_size"' not in push and 'name="webhook_secret"' in push
    poller = ops.get(f"/admin/carriers/carrier/{make_carrier('dhl-main', adapter='dhl').pk}/change/").content.decode()
    assert 'name="webhook_secret"' not in poller and 'name="poll_batch_size"' in poller
    add = ops.get("/admin/carriers/carrier/add/").content.decode()
    assert "Only for adapters that receive webhooks" in add and "Only for adapters that poll an API" in add


def test_api_keys_appear_once_in_the_admin_index(ops):
    index = ops.get("/admin/").content.decode()
    assert len(re.findall(r">API keys<", index)) == 1, re.findall(r"<a[^>]*>API keys</a>", index)
