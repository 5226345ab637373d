"""Dashboard actions through the test client: reprocess, re-harmonise, replay, test event."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from carriers.models import InboundMessage, InboundStatus
from carriers.services import inbound_message_store
from notifications.models import Delivery, DeliveryStatus, WebhookEndpoint
from notifications.services import endpoint_subscribe
from tests.notifications.receiver import Receiver, Reply
from tracking.models import CodeMapping, StatusCode, TrackingEvent, UnmappedCode

pytestmark = pytest.mark.django_db


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


@pytest.fixture
def staff_without_perms(client, db):
    user = get_user_model().objects.create_user("viewer", "viewer@example.com", "viewer-password-1", is_staff=True)
    client.force_login(user)
    return client


# --- reprocess -------------------------------------------------------------------------------------


def test_reprocess_failed_messages_of_a_carrier(ops, busy_day, eager_tasks, django_capture_on_commit_callbacks):
    # A message that failed for a reason since fixed (here: it is valid JSON after all).
    body = json.dumps(
        {"events": [{"tracking_id": "JD0002234001100086", "code": "DLV", "occurred_at": "2026-11-28T14:03:00+01:00"}]}
    ).encode()
    good = inbound_message_store(carrier=busy_day.carrier, channel="webhook", body=body, process=False).message
    InboundMessage.objects.filter(pk=good.pk).update(status=InboundStatus.FAILED, error="database was down")
    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(f"/admin/ops/carriers/{busy_day.carrier.pk}/reprocess-failed/", follow=True)
    assert response.status_code == 200
    assert "Queued 2 failed message(s) of acme-post" in messages_of(response)
    good.refresh_from_db()
    assert good.status == InboundStatus.PROCESSED and good.event_count == 1
    assert TrackingEvent.objects.filter(inbound_message_id=good.pk, carrier_code="DLV").exists()
    # The truly broken one failed again, with its reason kept.
    busy_day.failed_message.refresh_from_db()
    assert busy_day.failed_message.status == InboundStatus.FAILED and busy_day.failed_message.error


def test_actions_need_post(ops, busy_day):
    assert ops.get(f"/admin/ops/carriers/{busy_day.carrier.pk}/reprocess-failed/").status_code == 405
    assert ops.get(f"/admin/ops/carriers/{busy_day.carrier.pk}/reharmonise/").status_code == 405
    assert ops.get(f"/admin/ops/endpoints/{busy_day.endpoint.pk}/test-event/").status_code == 405


def test_actions_need_their_permission(staff_without_perms, busy_day):
    client = staff_without_perms
    assert client.get("/admin/ops/").status_code == 403  # even looking needs the view permissions
    assert client.post(f"/admin/ops/endpoints/{busy_day.endpoint.pk}/retry-now/").status_code == 403
    assert client.post(f"/admin/ops/carriers/{busy_day.carrier.pk}/reprocess-failed/").status_code == 403
    assert client.post(f"/admin/ops/carriers/{busy_day.carrier.pk}/reharmonise/").status_code == 403
    assert client.get(f"/admin/ops/endpoints/{busy_day.endpoint.pk}/replay/").status_code == 403
    assert client.post(f"/admin/ops/endpoints/{busy_day.endpoint.pk}/test-event/").status_code == 403
    assert client.get(f"/admin/ops/carriers/{busy_day.carrier.pk}/sftp-test/").status_code == 403
    busy_day.failed_message.refresh_from_db()
    assert busy_day.failed_message.status == InboundStatus.FAILED


def test_actions_refuse_anonymous_and_non_staff(client, clerk, busy_day):
    for path in (
        f"/admin/ops/carriers/{busy_day.carrier.pk}/reprocess-failed/",
        f"/admin/ops/carriers/{busy_day.carrier.pk}/reharmonise/",
        f"/admin/ops/endpoints/{busy_day.endpoint.pk}/test-event/",
    ):
        response = clerk.post(path)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    busy_day.failed_message.refresh_from_db()
    assert busy_day.failed_message.status == InboundStatus.FAILED
    client.logout()
    response = client.get(f"/admin/ops/endpoints/{busy_day.endpoint.pk}/replay/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# --- re-harmonise ---------------------------------------------------------------------------------


def test_reharmonise_a_carrier(ops, busy_day, eager_tasks, django_capture_on_commit_callbacks):
    status = StatusCode.objects.get(milestone="exception", code="damage_loss", sub_code="parcel_damaged")
    # A mapping written behind the admin's back (e.g. a bulk SQL fix): stored events are stale until re-harmonised.
    CodeMapping.objects.create(carrier=busy_day.carrier, carrier_code="ZZZ-UNKNOWN", status=status)
    assert TrackingEvent.objects.get(carrier_code="ZZZ-UNKNOWN").unmapped
    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(f"/admin/ops/carriers/{busy_day.carrier.pk}/reharmonise/", follow=True)
    assert "Re-harmonising acme-post's stored events" in messages_of(response)
    stored = TrackingEvent.objects.get(carrier_code="ZZZ-UNKNOWN")
    assert (stored.milestone, stored.code, stored.sub_code, stored.unmapped) == (
        "exception",
        "damage_loss",
        "parcel_damaged",
        False,
    )
    assert not UnmappedCode.objects.filter(carrier_code="ZZZ-UNKNOWN").exists()


# --- replay ---------------------------------------------------------------------------------------


def test_replay_a_window_previews_then_requeues(ops, busy_day, django_capture_on_commit_callbacks):
    url = f"/admin/ops/endpoints/{busy_day.endpoint.pk}/replay/"
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    page = ops.get(url, {"since": since}).content.decode()
    assert (
        "dead: <strong>1</strong>" in page
        and "delivered: <strong>1</strong>" in page
        and "pending: <strong>1</strong>" in page
    )
    assert "Replay 2 delivery(ies)" in page
    before = {d.pk: d.status for d in Delivery.objects.filter(endpoint=busy_day.endpoint)}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = ops.post(url, {"since": since, "until": "", "confirm": "yes"}, follow=True)
    assert "Queued 2 delivery(ies)" in messages_of(response)
    after = {d.pk: d for d in Delivery.objects.filter(endpoint=busy_day.endpoint)}
    assert all(d.status == DeliveryStatus.PENDING for d in after.values())
    replayed = [pk for pk, status in before.items() if status != DeliveryStatus.PENDING]
    assert all(after[pk].replay_count == 1 for pk in replayed)
    assert len(callbacks) == 1  # the endpoint is woken once, after commit


def test_replay_outside_the_window_touches_nothing(ops, busy_day):
    url = f"/admin/ops/endpoints/{busy_day.endpoint.pk}/replay/"
    since = (timezone.now() - timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    until = (timezone.now() - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    response = ops.post(url, {"since": since, "until": until, "confirm": "yes"}, follow=True)
    assert "Queued 0 delivery(ies)" in messages_of(response)
    assert Delivery.objects.filter(status=DeliveryStatus.DEAD).count() == 1


def test_replay_rejects_a_bad_window_and_a_disabled_endpoint(ops, busy_day):
    url = f"/admin/ops/endpoints/{busy_day.endpoint.pk}/replay/"
    page = ops.get(url, {"since": "2026-11-28 10:00", "until": "2026-11-28 09:00"}).content.decode()
    assert "must be after" in page
    assert "yesterday" not in page and ops.get(url, {"since": "yesterday"}).context["form"].errors["since"]
    WebhookEndpoint.objects.filter(pk=busy_day.endpoint.pk).update(is_active=False)
    since = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    response = ops.post(url, {"since": since, "confirm": "yes"}, follow=True)
    assert "enable it first" in messages_of(response)
    assert Delivery.objects.filter(status=DeliveryStatus.DEAD).count() == 1


# --- test event -----------------------------------------------------------------------------------


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def test_send_a_test_event_and_show_the_response(ops, acme, receiver, settings):
    import ipaddress

    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    settings.WEBHOOK_CONNECT_TIMEOUT = 2.0
    settings.WEBHOOK_TOTAL_TIMEOUT = 5.0
    endpoint, _ = endpoint_subscribe(customer=acme, url=receiver.url())
    receiver.script(Reply(202, b'{"received": true}'))
    response = ops.post(f"/admin/ops/endpoints/{endpoint.pk}/test-event/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "HTTP <strong>202</strong>" in page and "accepted" in page
    assert "{&quot;received&quot;: true}" in page
    (request,) = receiver.requests
    sent = json.loads(request.body)
    assert sent[0]["event"]["codes"]["gluey"]["sub_code"] == "gluey_test"
    assert request.headers["webhook-id"].startswith("msg_") and request.headers["webhook-signature"].startswith("v1,")


def test_a_failing_test_event_shows_the_failure(ops, acme, receiver, settings):
    import ipaddress

    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    endpoint, _ = endpoint_subscribe(customer=acme, url=receiver.url())
    receiver.script(Reply(500, b"boom"))
    page = ops.post(f"/admin/ops/endpoints/{endpoint.pk}/test-event/").content.decode()
    assert "not accepted" in page and "HTTP <strong>500</strong>" in page and "boom" in page


def test_a_successful_test_send_offers_to_release_the_queue_and_retry_now_sends_it(
    ops, acme, carrier, receiver, settings, eager_tasks, django_capture_on_commit_callbacks
):
    import ipaddress

    from tests.factories import event
    from tracking.services import events_record, shipment_register

    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    settings.WEBHOOK_CONNECT_TIMEOUT = 2.0
    settings.WEBHOOK_TOTAL_TIMEOUT = 5.0
    endpoint, _ = endpoint_subscribe(customer=acme, url=receiver.url())
    shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="JD0002234001100086")
    later = timezone.now() + timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=False):  # the endpoint is failing: nothing is sent yet
        events_record(carrier=carrier, events=[event(code="HUB"), event(code="DEP", minutes=5)], channel="webhook")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now(), consecutive_failures=3, retry_at=later, last_error="HTTP 503"
    )
    Delivery.objects.filter(endpoint=endpoint).update(next_attempt_at=later, attempt_count=1)
    receiver.script(Reply(200, b"ok"), Reply(200, b"ok"), Reply(200, b"ok"))

    page = ops.post(f"/admin/ops/endpoints/{endpoint.pk}/test-event/").content.decode()
    assert 'id="release-queue"' in page and "1 delivery(ies) are waiting" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(f"/admin/ops/endpoints/{endpoint.pk}/retry-now/", {"next": "/admin/ops/"}, follow=True)
    assert "Sending 1 waiting delivery(ies)" in messages_of(response)
    assert not Delivery.objects.filter(endpoint=endpoint, kind="events", status=DeliveryStatus.PENDING).exists()
    assert len(receiver.requests) == 2  # the test event, then the released delivery
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.retry_at is None
