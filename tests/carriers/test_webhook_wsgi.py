"""Carrier webhooks answered in front of Django (carriers/wsgi.py) answer exactly as Django does.

Each request goes once to ``WebhookFastPath`` in front of an application that
fails the test if it is reached, and once (with a body of its own, since the
same body again is a duplicate) to Django's own handler. Status, headers (but
the request id) and the body (but the stored message's id) must be the same.
Requests it must leave to Django are checked to reach Django with their body.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler

import carriers.views
from carriers.models import InboundMessage
from carriers.wsgi import WebhookFastPath
from gluey.logging import current_ids
from gluey.wsgi import application
from tests.carriers.conftest import generic_body, signed_headers
from tests.factories import make_carrier
from tests.wsgi_support import DjangoStandIn, call, comparable, not_django

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("served_over_http")]


def _headers(secret: str, body: bytes) -> dict[str, str]:
    return {name.replace("-", "_"): value for name, value in signed_headers(secret, body).items()}


def _post(app: Any, carrier_id: str, body: bytes, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return call(app, "POST", f"/carriers/{carrier_id}/webhook", body=body, **headers)


def _same(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, dict[str, str], Any]:
    """The answer, its message ids left out (each request stores a message of its own), and so
    its length (checked against the body instead)."""
    status, headers, content = comparable(answer)
    assert int(headers.pop("content-length")) == len(content)
    detail = json.loads(content)
    for name in ("id", "duplicate_of"):
        if isinstance(detail.get(name), int):
            detail[name] = "<id>"
    return status, headers, detail


def _answers(carrier: Any, case: str) -> tuple[tuple[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]:
    """The fast path's answer and Django's to the same kind of request."""
    answers = []
    for n, app in enumerate((WebhookFastPath(not_django), WSGIHandler())):
        body = generic_body(tracking_id=f"JD000223400110008{n}")
        headers = _headers(carrier.webhook_secret, body)
        carrier_id = carrier.pk
        if case == "bad signature":
            headers["webhook_signature"] = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        elif case == "unknown carrier":
            carrier_id = "no-such-carrier"
        elif case == "not json":
            body = b"<events/>"
            headers = _headers(carrier.webhook_secret, body)
        elif case == "duplicate":
            _post(app, carrier_id, body, **headers)
        elif case == "gzip asked":
            headers["accept_encoding"] = "gzip"
        elif case == "https behind the proxy":
            headers["x_forwarded_proto"] = "https"
        answers.append(_post(app, carrier_id, body, **headers))
    return answers[0], answers[1]


@pytest.mark.parametrize(
    "case",
    ["accepted", "duplicate", "bad signature", "unknown carrier", "not json", "gzip asked", "https behind the proxy"],
)
def test_answers_as_django_does(case):
    carrier = make_carrier()
    fast, django = _answers(carrier, case)
    assert _same(fast) == _same(django)
    expected = {"accepted": 202, "duplicate": 200, "bad signature": 401, "unknown carrier": 404, "not json": 400}
    assert fast[0] == expected.get(case, 202)
    assert "x-frame-options" in fast[1] and "content-security-policy" in fast[1]
    if case == "https behind the proxy":
        assert "max-age" in fast[1]["strict-transport-security"]
    accepted = InboundMessage.objects.filter(status="pending").count()
    assert accepted == (0 if case in ("bad signature", "unknown carrier", "not json") else 2)


def test_a_long_answer_is_compressed_as_django_compresses_it():
    long_id = "x" * 300  # no carrier has it: a 404 whose detail names it, over GZipMiddleware's 200 bytes
    fast, django = (
        _post(app, long_id, b'{"events": []}', accept_encoding="gzip")
        for app in (WebhookFastPath(not_django), WSGIHandler())
    )
    assert comparable(fast) == comparable(django)
    assert fast[0] == 404 and fast[1]["content-encoding"] == "gzip" and fast[1]["vary"] == "Accept-Encoding"


def test_request_id_is_echoed_and_in_the_log_context(monkeypatch):
    carrier = make_carrier()
    seen: list[dict[str, Any]] = []
    store = carriers.views.inbound_message_store
    monkeypatch.setattr(carriers.views, "inbound_message_store", lambda **kw: seen.append(current_ids()) or store(**kw))
    body = generic_body()
    status, headers, _ = _post(
        WebhookFastPath(not_django), carrier.pk, body, x_request_id="abc-1", **_headers(carrier.webhook_secret, body)
    )
    assert (status, headers["x-request-id"]) == (202, "abc-1")
    assert seen == [{"request_id": "abc-1"}]


@pytest.mark.parametrize(
    "change", ["GET", "host not allowed", "https redirect due", "deeper path", "no carrier id", "another route"]
)
def test_other_requests_are_left_to_django(settings, change):
    carrier = make_carrier()
    body = generic_body()
    method, path, headers = "POST", f"/carriers/{carrier.pk}/webhook", _headers(carrier.webhook_secret, body)
    if change == "GET":
        method, body = "GET", b""
    elif change == "host not allowed":
        headers["host"] = "evil.example"
    elif change == "https redirect due":
        settings.SECURE_SSL_REDIRECT = True
    elif change == "deeper path":
        path = f"/carriers/{carrier.pk}/x/webhook"
    elif change == "no carrier id":
        path = "/carriers//webhook"
    elif change == "another route":
        path = f"/carriers/{carrier.pk}/oauth/token"
    django = DjangoStandIn()
    status, _, _ = call(WebhookFastPath(django), method, path, body=body, **headers)
    assert status == 418
    assert django.reached == [(path, body)]
    assert InboundMessage.objects.count() == 0


def test_an_error_in_the_view_is_answered_and_logged_as_django_does(monkeypatch, caplog):
    carrier = make_carrier()

    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(carriers.views, "inbound_message_store", broken)
    answers = []
    for app in (WebhookFastPath(not_django), WSGIHandler()):
        body = generic_body()
        with caplog.at_level(logging.ERROR, logger="django.request"):
            answers.append(_post(app, carrier.pk, body, **_headers(carrier.webhook_secret, body)))
    fast, django = answers
    assert comparable(fast) == comparable(django)
    assert fast[0] == 500 and "detail" in json.loads(fast[2])
    assert caplog.text.count("database went away") >= 2  # logged with its traceback both times


def test_the_served_application_answers_webhooks_in_front_of_django():
    carrier = make_carrier()
    body = generic_body()
    status, _, content = _post(application, carrier.pk, body, **_headers(carrier.webhook_secret, body))
    assert status == 202 and json.loads(content)["status"] == "accepted"
    assert isinstance(application, WebhookFastPath)
