"""Beat rows follow carrier saves; the admin shows channel settings, schedules,
back-off state, raw bodies, and reprocesses failed messages."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from carriers.models import Carrier, InboundMessage
from carriers.services import inbound_message_store
from carriers.services.schedules import DISPATCH_NAME, PURGE_NAME, SWEEP_NAME, sftp_task_name
from gluey.sftp_server import generate_ed25519_key
from tests.carriers.conftest import generic_body
from tests.factories import make_carrier

pytestmark = pytest.mark.django_db

HOST_KEY = f"ssh-ed25519 {generate_ed25519_key().get_base64()}"


def sftp_config(**extra):
    return {
        "host": "sftp.carrier.test",
        "username": "gluey",
        "password": "pw",
        "host_key": HOST_KEY,
        "remote_dir": "/out",
        "format": "generic_json",
        **extra,
    }


def test_global_jobs_exist_after_migrate():
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {DISPATCH_NAME, SWEEP_NAME, PURGE_NAME} <= names
    purge = PeriodicTask.objects.get(name=PURGE_NAME)
    assert purge.task == "tracking.tasks.purge_unregistered" and purge.crontab.hour == "3"
    assert PeriodicTask.objects.get(name=SWEEP_NAME).task == "carriers.tasks.inbound_sweep"


def test_an_sftp_carrier_gets_its_own_fetch_job_that_follows_its_settings():
    carrier = make_carrier("filer", **sftp_config())
    task = PeriodicTask.objects.get(name=sftp_task_name("filer"))
    assert task.task == "carriers.tasks.sftp_fetch" and json.loads(task.args) == ["filer"]
    assert (task.interval.every, task.interval.period, task.enabled) == (60, "seconds", True)
    carrier.enabled = False
    carrier.save()
    assert PeriodicTask.objects.get(name=sftp_task_name("filer")).enabled is False
    carrier.enabled = True
    carrier.config = {**carrier.config, "interval_seconds": 120}
    carrier.save()
    task = PeriodicTask.objects.get(name=sftp_task_name("filer"))
    assert (task.interval.every, task.enabled) == (120, True)
    carrier.config = {}
    carrier.save()
    assert not PeriodicTask.objects.filter(name=sftp_task_name("filer")).exists()


def test_the_dispatcher_runs_only_while_a_carrier_polls():
    assert PeriodicTask.objects.get(name=DISPATCH_NAME).enabled is False
    ups = make_carrier("ups", adapter="ups", client_id="a", client_secret="b")
    assert PeriodicTask.objects.get(name=DISPATCH_NAME).enabled is True
    ups.config = {"polling": False}  # Track Alert only
    ups.save()
    assert PeriodicTask.objects.get(name=DISPATCH_NAME).enabled is False
    make_carrier("dhl", adapter="dhl", api_key="k")
    assert PeriodicTask.objects.get(name=DISPATCH_NAME).enabled is True
    Carrier.objects.get(pk="dhl").delete()
    assert PeriodicTask.objects.get(name=DISPATCH_NAME).enabled is False


@pytest.mark.parametrize(
    "config, problem",
    [
        (
            {"host": "h", "username": "u", "password": "p", "remote_dir": "/out", "format": "generic_json"},
            "host_key must be set",
        ),
        (sftp_config(host_key="not a key"), "not an OpenSSH public key line"),
        (sftp_config(format="dhl"), "format 'dhl' is not a file format"),
        (sftp_config(password=""), "password or private_key must be set"),
        (sftp_config(remote_dir=""), "remote_dir must be set"),
        ({"base_url": "ftp://x"}, "base_url must start with http"),
    ],
)
def test_bad_channel_settings_are_refused_with_the_reason(config, problem):
    from carriers.services import CarrierSetupError, carrier_create

    with pytest.raises(CarrierSetupError, match=problem):
        carrier_create(carrier_id="bad", adapter="generic_json", config=config)
    assert not Carrier.objects.filter(pk="bad").exists()


def test_batch_size_defaults_to_and_is_capped_by_the_adapter():
    from carriers.services import CarrierSetupError, carrier_create

    assert make_carrier("fedex", adapter="fedex").poll_batch_size == 30
    with pytest.raises(CarrierSetupError, match="poll_batch_size must be between 1 and 1 for the dhl adapter"):
        carrier_create(carrier_id="dhl2", adapter="dhl", config={"poll_batch_size": 5})


def test_create_carrier_command_prints_the_webhook_and_keeps_secrets_encrypted(tmp_path, capsys):
    from django.core.management import call_command
    from django.db import connection

    config = tmp_path / "carrier.json"
    config.write_text(json.dumps(sftp_config()))
    call_command("create_carrier", "filer2", "--adapter", "generic_json", "--config", str(config))
    # The JSON line (other threads of earlier tests may log to the captured streams too).
    out = json.loads([line for line in capsys.readouterr().out.splitlines() if line.startswith("{")][-1])
    assert out["carrier_id"] == "filer2" and out["webhook_url"].endswith("/carriers/filer2/webhook")
    assert out["webhook_secret"].startswith("whsec_")
    carrier = Carrier.objects.get(pk="filer2")
    assert carrier.credentials == {"password": "pw"} and "password" not in carrier.config
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM carriers_carrier WHERE id = 'filer2'")
        raw = cursor.fetchone()[0]
    # A Fernet token is url-safe base64: the JSON of the secret (quotes included) cannot hide in it.
    assert raw.startswith("gAAAA") and '"password"' not in raw and '"pw"' not in raw


def test_admin_carrier_pages_show_channels_schedules_and_backoff(admin_client):
    carrier = make_carrier("filer", **sftp_config())
    PeriodicTask.objects.filter(name=sftp_task_name("filer")).update(last_run_at=timezone.now() - timedelta(seconds=20))
    Carrier.objects.filter(pk="filer").update(
        backoff_until=timezone.now() + timedelta(minutes=5), poll_failures=2, last_error="FedEx API answered 429"
    )
    page = admin_client.get(f"/admin/carriers/carrier/{carrier.pk}/change/").content.decode()
    assert "carriers: sftp fetch filer" in page and "last run 20" in page and "next run 20" in page
    assert "paused until" in page and "2 failure(s)" in page and "FedEx API answered 429" in page
    assert "password (set)" in page and ">pw<" not in page
    listing = admin_client.get("/admin/carriers/carrier/").content.decode()
    assert "sftp, webhook" in listing


def test_admin_rejects_bad_channel_settings(admin_client):
    carrier = make_carrier("filer", **sftp_config())
    response = admin_client.post(
        f"/admin/carriers/carrier/{carrier.pk}/change/",
        {
            "name": "",
            "adapter": "generic_json",
            "enabled": "on",
            "default_zone": "UTC",
            "webhook_secret": carrier.webhook_secret,
            "config": json.dumps({**carrier.config, "host_key": "garbage"}),
            "new_credentials": "",
            "poll_interval_minutes": 15,
            "poll_batch_size": 1,
        },
    )
    assert response.status_code == 200
    assert "not an OpenSSH public key line" in response.content.decode()
    carrier.refresh_from_db()
    assert carrier.config["host_key"] == HOST_KEY


def test_admin_shows_raw_body_and_error_and_reprocesses(admin_client, carrier, django_capture_on_commit_callbacks):
    stored = inbound_message_store(carrier=carrier, channel="webhook", body=generic_body(), process=False)
    InboundMessage.objects.filter(pk=stored.message.pk).update(status="failed", error="boom: database went away")
    page = admin_client.get(f"/admin/carriers/inboundmessage/{stored.message.pk}/change/").content.decode()
    assert "boom: database went away" in page and "JD0002234001100086" in page and "Reprocess this message" in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(f"/admin/carriers/inboundmessage/{stored.message.pk}/reprocess/")
    assert response.status_code == 302 and len(callbacks) == 1
    assert InboundMessage.objects.get(pk=stored.message.pk).status == "pending"
    # Bulk action.
    other = inbound_message_store(
        carrier=carrier, channel="webhook", body=generic_body(tracking_id="X2"), process=False
    )
    InboundMessage.objects.filter(pk__in=[stored.message.pk, other.message.pk]).update(status="failed")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        admin_client.post(
            "/admin/carriers/inboundmessage/",
            {"action": "reprocess", "_selected_action": [stored.message.pk, other.message.pk]},
        )
    assert len(callbacks) == 2
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"pending"}
