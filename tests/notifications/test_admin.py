"""Admin: endpoints (health, test event, disable/enable), deliveries (filter, attempts, replay)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.services import endpoint_deliver
from tests.notifications.conftest import record
from tests.notifications.receiver import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-not-used")
    client.force_login(user)
    return client


def action(staff, model: str, name: str, ids: list) -> str:
    response = staff.post(
        f"/admin/notifications/{model}/",
        {"action": name, "_selected_action": [str(i) for i in ids]},
        follow=True,
    )
    assert response.status_code == 200
    return " ".join(str(m) for m in response.context["messages"])


def test_endpoint_list_shows_health(staff, subscribed):
    WebhookEndpoint.objects.update(failing_since=timezone.now(), consecutive_failures=2)
    page = staff.get("/admin/notifications/webhookendpoint/").content.decode()
    assert subscribed.url in page and "failing since" in page


def test_send_test_event_shows_the_response(staff, subscribed, receiver):
    receiver.script(Reply(202, b"thanks"))
    messages = action(staff, "webhookendpoint", "send_test_event", [subscribed.pk])
    assert "HTTP 202" in messages and "thanks" in messages
    assert len(receiver.requests) == 1


def test_disable_and_enable(staff, subscribed):
    action(staff, "webhookendpoint", "disable", [subscribed.pk])
    assert not WebhookEndpoint.objects.get().is_active
    action(staff, "webhookendpoint", "enable", [subscribed.pk])
    assert WebhookEndpoint.objects.get().is_active


def test_adding_an_endpoint_shows_its_secret_once(staff, acme, loopback_allowed):
    response = staff.post(
        "/admin/notifications/webhookendpoint/add/", {"customer": acme.pk, "url": "http://127.0.0.1:9/x"}, follow=True
    )
    messages = " ".join(str(m) for m in response.context["messages"])
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in messages


def test_adding_a_private_endpoint_is_refused(staff, acme):
    response = staff.post("/admin/notifications/webhookendpoint/add/", {"customer": acme.pk, "url": "http://10.0.0.1/"})
    assert response.status_code == 200 and "not a public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_deliveries_filter_attempts_and_replay(staff, carrier, shipment, subscribed, receiver):
    receiver.script(Reply(500, b"upstream broke"))
    record(carrier)
    endpoint_deliver(endpoint_id=subscribed.pk)
    delivery = Delivery.objects.get()
    Delivery.objects.update(status=DeliveryStatus.DEAD, dead_at=timezone.now())

    listed = staff.get("/admin/notifications/delivery/?status__exact=dead").content.decode()
    assert delivery.msg_id in listed
    assert delivery.msg_id not in staff.get("/admin/notifications/delivery/?status__exact=pending").content.decode()
    detail = staff.get(f"/admin/notifications/delivery/{delivery.pk}/change/").content.decode()
    assert "upstream broke" in detail and "500" in detail

    messages = action(staff, "delivery", "replay", [delivery.pk])
    assert "Queued 1" in messages
    assert Delivery.objects.get().status == DeliveryStatus.PENDING


def destination_form(acme, srv, **overrides) -> dict:
    data = {
        "customer": acme.pk,
        "name": "acme-sftp",
        "enabled": "on",
        "format": "x12_214",
        "interval_minutes": "10",
        "host": "127.0.0.1",
        "port": str(srv.port),
        "username": "gluey",
        "password": "s3cret",
        "private_key": "",
        "passphrase": "",
        "host_keys": srv.host_key_line,
        "remote_dir": "/exports",
        "isa_sender_qualifier": "ZZ",
        "isa_sender_id": "GLUEY",
        "isa_receiver_qualifier": "ZZ",
        "isa_receiver_id": "ACME",
        "gs_sender_id": "",
        "gs_receiver_id": "",
        "unb_sender_qualifier": "",
        "unb_sender": "GLUEY",
        "unb_recipient_qualifier": "",
        "unb_recipient": "",
        "exports-TOTAL_FORMS": "0",
        "exports-INITIAL_FORMS": "0",
        "exports-MIN_NUM_FORMS": "0",
        "exports-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_adding_a_destination_schedules_it_and_keeps_the_password_write_only(staff, acme, tmp_path):
    from django_celery_beat.models import PeriodicTask

    from gluey.sftp_server import SftpServer
    from notifications.models import SftpDestination

    with SftpServer(tmp_path / "root", password="s3cret") as srv:
        response = staff.post("/admin/notifications/sftpdestination/add/", destination_form(acme, srv), follow=True)
        assert response.status_code == 200
        destination = SftpDestination.objects.get()
        assert destination.password == "s3cret"
        assert PeriodicTask.objects.get(pk=destination.periodic_task_id).interval.every == 10

        page = staff.get(f"/admin/notifications/sftpdestination/{destination.pk}/change/").content.decode()
        assert "s3cret" not in page and "sftp export: destination" in page

        # Saving with a blank password keeps the stored one.
        form = destination_form(acme, srv, password="", interval_minutes="20")
        staff.post(f"/admin/notifications/sftpdestination/{destination.pk}/change/", form, follow=True)
        destination.refresh_from_db()
        assert destination.password == "s3cret" and destination.interval_minutes == 20


def test_a_destination_with_a_bad_host_key_is_refused_naming_the_field(staff, acme, tmp_path):
    from gluey.sftp_server import SftpServer
    from notifications.models import SftpDestination

    with SftpServer(tmp_path / "root", password="s3cret") as srv:
        response = staff.post(
            "/admin/notifications/sftpdestination/add/", destination_form(acme, srv, host_keys="not a key")
        )
    assert response.status_code == 200 and "not an OpenSSH public key line" in response.content.decode()
    assert not SftpDestination.objects.exists()


def test_destination_and_export_lists_show_cursor_control_number_and_files(staff, acme, tmp_path):
    from notifications.models import Export, SftpDestination

    destination = SftpDestination.objects.create(
        customer=acme,
        name="acme-sftp",
        host="127.0.0.1",
        username="gluey",
        password="pw",
        host_keys="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKr4eVXB9h1IVV8cS2L0j5c0sF2gKZBf0R8kq9Zl3b1E",
        isa_receiver_id="ACME",
        cursor="Yzox",
        next_control_number=8,
    )
    Export.objects.create(
        destination=destination,
        control_number=7,
        file_name="gluey_214_20261128_000000007.edi",
        format="x12_214",
        cursor_to="Yzox",
        event_count=3,
        content=b"ISA",
        sha256="0" * 64,
        size=3,
        status="uploaded",
    )
    listed = staff.get("/admin/notifications/sftpdestination/").content.decode()
    assert "Yzox" in listed and ">8<" in listed
    exports = staff.get("/admin/notifications/export/").content.decode()
    assert "gluey_214_20261128_000000007.edi" in exports
