"""The README's customer path runs as written against a live server.

Every ``sh`` and ``python`` block the README marks with ``<!-- customer-path -->``
is taken in order and run as one bash script (a python block through
``.venv/bin/python``), against a live server on the test database holding what
``make run``'s demo has: the demo customer (created by the first block) and the
simulator's push carrier ``sim-push``. Only the environment differs: the
server's address (``PUBLIC_BASE_URL``, which ``seed_demo --env`` prints) and the
database. A command that fails (curl's ``--fail-with-body`` on a 4xx/5xx) fails
the test, so the README cannot drift from the code.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from carriers.services import carrier_create
from notifications.models import WebhookEndpoint
from tests.api.conftest import client_for
from tests.notifications.conftest import taxonomy
from tracking.models import Customer, Shipment, TrackingEvent

__all__ = ["taxonomy"]  # the fixture, shared with the notifications tests

ROOT = Path(__file__).resolve().parents[2]
MARKED_BLOCK = re.compile(r"<!-- customer-path -->\n```(sh|python)\n(.*?)```", re.DOTALL)


def customer_path_script(readme: str) -> str:
    parts = ["set -euo pipefail"]
    for language, code in MARKED_BLOCK.findall(readme):
        parts.append(code if language == "sh" else f".venv/bin/python - <<'PY'\n{code}PY\n")
    return "\n".join(parts)


def test_the_readme_marks_the_whole_customer_path():
    blocks = MARKED_BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    text = "\n".join(code for _, code in blocks)
    assert blocks[0][1].startswith('eval "$(.venv/bin/python manage.py seed_demo --env)"')
    for step in ("/shipments", "/track", "/events", "/webhooks/tracking/subscriptions", "/carriers/sim-push/webhook"):
        assert step in text, step
    assert [language for language, _ in blocks].count("python") == 1
    # One set of variables, the demo receiver as the endpoint, no carrier the demo lacks.
    assert "$API_KEY" not in text and "example.com" not in text and "acme-post" not in text


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("taxonomy")
def test_the_readme_customer_commands_run_as_written(live_server, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the commands run in another process: they need a database server (CI has PostgreSQL)")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    from gluey.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    carrier_create(carrier_id="sim-push", adapter="generic_json", config={"name": "Simulated push carrier"})
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PUBLIC_BASE_URL": live_server.url,
        "GLUEY_VAR_DIR": str(tmp_path),
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        # The same keys as the live server, which wrote the encrypted carrier secret.
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
    }
    script = customer_path_script((ROOT / "README.md").read_text(encoding="utf-8"))
    try:
        done = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        celery_app.conf.task_always_eager = False
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"

    customer = Customer.objects.get(name="Demo Shop")
    shipment = Shipment.objects.get(customer=customer, uuid_ref="order-1001")
    assert shipment.carrier_id == "sim-push" and shipment.tracking_level == "parcel"
    assert WebhookEndpoint.objects.get(customer=customer).url == "http://127.0.0.1:8001/webhooks"
    # Both signing recipes were accepted and recorded.
    assert set(TrackingEvent.objects.values_list("carrier_code", flat=True)) == {"DLV"}
    assert TrackingEvent.objects.count() == 2
    demo = json.loads((tmp_path / "demo.json").read_text())  # the key the README's commands used
    tracked = client_for(demo["api_key"]).get(f"/shipments/{shipment.pk}/track").json()
    (parcel,) = tracked["parcels"]
    assert parcel["tracking_data"]["delivery_confirmation"]["signed_by"] == "J SMITH"
    assert [e["codes"]["carrier"]["code"] for e in tracked["tracking_data"]["events"]] == ["DLV"]
