"""POST /carriers/{carrier_id}/webhook, exactly as docs/architecture.md ("Inbound carrier webhooks") describes it."""

from __future__ import annotations

import json

import pytest

from carriers.models import InboundMessage
from carriers.services.inbound import inbound_message_process, inbound_messages_reprocess
from tests.carriers.conftest import generic_body, minutes_ago, signed_headers, wait_until
from tests.factories import make_carrier
from tracking.models import TrackedItem, TrackingEvent
from tracking.services import shipment_register

pytestmark = pytest.mark.django_db


def test_good_signature_is_stored_raw_and_acknowledged_with_202(
    carrier, post_webhook, django_capture_on_commit_callbacks
):
    body = generic_body()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_webhook(carrier, body)
    assert response.status_code == 202
    message = InboundMessage.objects.get()
    assert response.json() == {"id": message.pk, "status": "accepted", "events": 1}
    assert bytes(message.body) == body and message.channel == "webhook" and message.status == "pending"
    # Processing is queued for after the commit, not done in the request.
    assert len(callbacks) == 1
    assert TrackingEvent.objects.count() == 0


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({"webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "signature does not match"),
        ({"webhook-signature": "garbage"}, "signature check failed"),
        ({"webhook-timestamp": "not-a-number"}, "webhook-timestamp is not a Unix time in seconds"),
    ],
)
def test_bad_signature_is_401_and_nothing_is_stored(carrier, post_webhook, headers, reason):
    response = post_webhook(carrier, generic_body(), headers=headers)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert InboundMessage.objects.count() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-signature": "v1,AAAA"},
        {"webhook-signature": "garbage"},
        {"webhook-timestamp": "not-a-number"},
        {"webhook-timestamp": "99999999999"},
        {"webhook-timestamp": "1"},
    ],
)
def test_a_401_never_echoes_the_signature_librarys_own_text(carrier, post_webhook, headers):
    detail = post_webhook(carrier, generic_body(), headers=headers).json()["detail"]
    for library_text in (
        "No matching signature found",
        "Invalid Signature Headers",
        "Message timestamp",
        "Missing required headers",
        "Invalid webhook secret",
    ):
        assert library_text.lower() not in detail.lower(), detail
    assert detail.startswith("Authentication failed: signature check failed: ")


def test_signature_with_another_carriers_secret_is_refused(carrier, post_webhook):
    other = make_carrier("parcelco")
    body = generic_body()
    response = post_webhook(carrier, body, headers=signed_headers(other.webhook_secret, body))
    assert response.status_code == 401
    assert InboundMessage.objects.count() == 0


def test_missing_signature_headers_are_named(carrier, post_webhook):
    response = post_webhook(carrier, generic_body(), sign=False)
    assert response.status_code == 401
    assert response.json()["detail"] == (
        "Authentication failed: missing signature header(s): webhook-id, webhook-timestamp, webhook-signature."
    )
    assert InboundMessage.objects.count() == 0


def test_replay_of_an_old_signed_request_is_refused(carrier, post_webhook):
    body = generic_body()
    stale = signed_headers(carrier.webhook_secret, body, at=minutes_ago(10))
    response = post_webhook(carrier, body, headers=stale)
    assert response.status_code == 401
    assert "webhook-timestamp is more than 5 minutes old" in response.json()["detail"]
    assert InboundMessage.objects.count() == 0


def test_replay_within_the_tolerance_is_a_duplicate_and_records_nothing_twice(carrier, post_webhook):
    body = generic_body()
    headers = signed_headers(carrier.webhook_secret, body)
    first = post_webhook(carrier, body, headers=headers)
    again = post_webhook(carrier, body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["status"] == "duplicate" and again.json()["duplicate_of"] == first.json()["id"]
    original, duplicate = InboundMessage.objects.order_by("pk")
    assert duplicate.status == "duplicate" and duplicate.duplicate_of_id == original.pk
    assert bytes(duplicate.body) == b""  # the bytes are kept once, on the original
    inbound_message_process(message_id=original.pk)
    inbound_message_process(message_id=duplicate.pk)
    assert TrackingEvent.objects.count() == 1


def test_oversize_body_is_413_before_anything_else(carrier, post_webhook):
    body = b'{"events": []' + b" " * (5 * 1024 * 1024) + b"}"
    response = post_webhook(carrier, body, sign=False)
    assert response.status_code == 413
    assert response.json() == {"detail": "Body is larger than 5 MB."}
    assert InboundMessage.objects.count() == 0


def test_body_of_exactly_5_mb_is_accepted(carrier, post_webhook):
    prefix = generic_body()[:-1]  # drop the closing brace, pad with spaces inside the object
    body = prefix + b" " * (5 * 1024 * 1024 - len(prefix) - 1) + b"}"
    assert len(body) == 5 * 1024 * 1024
    assert post_webhook(carrier, body).status_code == 202


@pytest.mark.parametrize(
    "body, detail",
    [
        (
            b"{not json",
            (
                "Body rejected: body is not valid JSON: Expecting property name enclosed in double quotes: "
                "line 1 column 2 (char 1)."
            ),
        ),
        (b'{"shipments": []}', "Body rejected: body must be an object with an 'events' list."),
        (
            json.dumps(
                {"events": [{"tracking_id": "X1", "code": "DLV", "occurred_at": "2026-11-28T14:03:00"}]}
            ).encode(),
            "Body rejected: events[0].occurred_at must include a UTC offset.",
        ),
        (json.dumps({"events": [{"code": "DLV"}]}).encode(), "Body rejected: events[0].tracking_id is required."),
        (b'{"events": []}', "Body rejected: it holds no events."),
    ],
)
def test_malformed_body_is_400_naming_the_problem(carrier, post_webhook, body, detail):
    response = post_webhook(carrier, body)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert InboundMessage.objects.count() == 0


@pytest.mark.parametrize("carrier_id", ["%00", "acme%00post", "a", "UPPER", "x" * 60])
def test_a_carrier_id_that_cannot_exist_is_404(client, carrier_id):
    response = client.post(f"/carriers/{carrier_id}/webhook", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("Unknown carrier")


def test_deeply_nested_body_is_400_and_nothing_is_stored(carrier, post_webhook):
    body = b'{"events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    response = post_webhook(carrier, body)
    assert response.status_code == 400
    assert response.json() == {"detail": "Body rejected: body is nested too deeply to be a carrier's payload."}
    assert InboundMessage.objects.count() == 0


def test_body_that_is_not_utf8_is_400_naming_the_byte(carrier, post_webhook):
    body = generic_body().replace(b"Leeds", b"L\xe9eds")
    response = post_webhook(carrier, body, sign=False)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Body rejected: it is not UTF-8: byte 0xe9 at position "
        f"{body.index(bytes([0xE9]))} cannot start or continue a character."
    }
    assert InboundMessage.objects.count() == 0


@pytest.mark.parametrize(
    "event, reason",
    [
        ({"description": "bad \ud800 half"}, "lone surrogate (U+D800)"),
        ({"description": "nul \u0000 here"}, "NUL character"),
        ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at 0001-01-01T00:00:00+14:00 is out of range in UTC"),
        ({"occurred_at": "9999-12-31T23:59:00-14:00"}, "out of range in UTC"),
    ],
)
def test_events_recording_would_refuse_are_refused_at_the_door(carrier, post_webhook, event, reason):
    base = {"tracking_id": "T1", "code": "DLV", "occurred_at": "2026-11-28T14:03:00+01:00"}
    body = generic_body({**base, **event})  # json.dumps writes the surrogate and NUL as \\u escapes
    response = post_webhook(carrier, body)
    assert response.status_code == 400, response.content
    assert reason in response.json()["detail"]
    assert InboundMessage.objects.count() == 0


def test_a_stored_message_recording_refuses_fails_at_once_with_the_reason(carrier):
    from carriers.services.inbound import inbound_message_store

    body = generic_body(
        {"tracking_id": "T1", "code": "DLV", "description": "bad \ud800 half", "occurred_at": "2026-11-28T14:03:00Z"}
    )
    stored = inbound_message_store(carrier=carrier, channel="sftp", body=body, process=False)
    outcome = inbound_message_process(message_id=stored.message.pk)
    stored.message.refresh_from_db()
    # Permanent: failed on the first attempt with the reason, not retried as if the database had hiccupped.
    assert outcome.status == "failed" and stored.message.status == "failed" and stored.message.attempts == 1
    assert "lone surrogate" in stored.message.error


def test_unknown_carrier_is_404(client):
    response = client.post("/carriers/nobody/webhook", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Unknown carrier 'nobody'."}


def test_disabled_carrier_is_404(carrier, post_webhook):
    carrier.enabled = False
    carrier.save()
    assert post_webhook(carrier, generic_body()).status_code == 404


def test_get_is_405_with_json(client, carrier):
    response = client.get(f"/carriers/{carrier.pk}/webhook")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "not allowed" in response.json()["detail"]


def test_processing_failure_is_recorded_and_reprocess_recovers(
    carrier, post_webhook, django_capture_on_commit_callbacks
):
    # An event the recorder refuses (a 70-character sub-code) gets past the adapter but fails processing.
    body = generic_body(
        {"tracking_id": "T1", "code": "DLV", "sub_code": "S" * 70, "occurred_at": "2026-11-28T14:03:00+01:00"}
    )
    response = post_webhook(carrier, body)
    assert response.status_code == 400  # the adapter already refuses it: sub_code is longer than 64
    assert "sub_code is longer than 64" in response.json()["detail"]

    # A stored message whose parser is gone (ops changed the carrier's adapter) fails and can be reprocessed.
    good = generic_body(tracking_id="T2")
    post_webhook(carrier, good)
    message = InboundMessage.objects.get()
    InboundMessage.objects.filter(pk=message.pk).update(parser="no_such_adapter")
    outcome = inbound_message_process(message_id=message.pk)
    message.refresh_from_db()
    assert outcome.status == "failed" and message.status == "failed"
    assert "unknown adapter 'no_such_adapter'" in message.error
    InboundMessage.objects.filter(pk=message.pk).update(parser="generic_json")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert inbound_messages_reprocess(message_ids=[message.pk]) == 1
    assert len(callbacks) == 1  # queued for the worker once the reset commits
    message.refresh_from_db()
    assert message.status == "pending"
    inbound_message_process(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == "processed" and message.error == "" and message.event_count == 1


def test_events_for_unregistered_numbers_are_kept_and_appear_on_registration(carrier, acme, post_webhook):
    post_webhook(carrier, generic_body(tracking_id="NOBODY-YET"))
    inbound_message_process(message_id=InboundMessage.objects.get().pk)
    item = TrackedItem.objects.get(tracking_id="NOBODY-YET")
    assert item.expires_at is not None and item.events.count() == 1
    shipment, created = shipment_register(customer=acme, carrier_id=carrier.pk, carrier_tracking_id="NOBODY-YET")
    assert created and shipment.tracked_item.events.get().channel == "webhook"


@pytest.mark.slow  # a real worker and broker
@pytest.mark.django_db(transaction=True)
def test_accepted_webhook_is_processed_by_a_real_worker(taxonomy, post_webhook, celery_worker):
    carrier = make_carrier()
    response = post_webhook(carrier, generic_body(tracking_id="E2E1"))
    assert response.status_code == 202
    assert wait_until(lambda: TrackingEvent.objects.filter(tracked_item__tracking_id="E2E1").exists())
    event = TrackingEvent.objects.get()
    message = InboundMessage.objects.get()
    assert event.inbound_message_id == message.pk and event.channel == "webhook"
    assert (event.milestone, event.code, event.sub_code) == ("delivery", "delivered", "left_with_neighbor")
    assert wait_until(lambda: InboundMessage.objects.get().status == "processed")


def test_a_broker_outage_still_acknowledges_and_the_sweeper_requeues(
    carrier, post_webhook, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from carriers import tasks
    from carriers.services.inbound import inbound_messages_sweep

    def broker_down(*args, **kwargs):
        raise OperationalError("[Errno 111] Connection refused")

    # Fault injection at the broker seam: the body is durable before we try to queue it.
    monkeypatch.setattr(tasks.inbound_drain, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(carrier, generic_body())
    assert response.status_code == 202
    message = InboundMessage.objects.get()
    assert message.status == "pending"
    queued = []
    monkeypatch.setattr(tasks.inbound_drain, "delay", lambda carrier_id: queued.append(carrier_id))
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound_messages_sweep() == 0  # too fresh to be stranded
    InboundMessage.objects.filter(pk=message.pk).update(received_at=timezone.now() - timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound_messages_sweep() == 1
    assert queued == [carrier.pk]  # the carrier's drain is woken; it takes the message
