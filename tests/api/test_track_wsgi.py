"""The track reads answered in front of Django (tracking/api/wsgi.py) answer exactly as Django does.

Each request goes to the WSGI application twice: once to ``TrackFastPath`` in
front of an application that fails the test if it is reached, once to Django's
own handler. Status, headers (but the request id, and the length of a gzip
body, which carries random bytes) and the body (decompressed) must be the same.
Requests it must leave to Django are checked to reach Django with their body.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler

from gluey.logging import current_ids
from gluey.wsgi import django_application
from tests.wsgi_support import DjangoStandIn, call, comparable, not_django
from tracking import selectors
from tracking.api import hot
from tracking.api.throttle import APIKeyRateThrottle
from tracking.api.wsgi import TrackFastPath

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("served_over_http")]


def wsgi(app: Callable[..., Any], method: str, path: str, key: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    """A track request with the customer's key, as the API's clients send it."""
    return call(app, method, path, **{"x_key": key, "x_version": "v1", **kwargs})


CASES = {
    "one": ("GET", "/shipments/{rich}/track", None, {}),
    "one, parcels": ("GET", "/shipments/{master}/track", None, {}),
    "one, no events": ("GET", "/shipments/{empty}/track", None, {}),
    "one, gzip": ("GET", "/shipments/{rich}/track", None, {"accept_encoding": "gzip, deflate"}),
    "one, https behind the proxy": ("GET", "/shipments/{rich}/track", None, {"x_forwarded_proto": "https"}),
    "one, accept json": ("GET", "/shipments/{master}/track", None, {"accept": "application/json"}),
    "batch": ("POST", "/track", '{{"ids": ["{rich}", "{master}", "{missing}"]}}', {}),
    "batch by reference, gzip": ("POST", "/track", '{{"uuid_refs": ["order-1"]}}', {"accept_encoding": "gzip"}),
}


@pytest.mark.parametrize("case", CASES)
def test_answers_as_django_does(acme, shipments, case):
    method, path, body, headers = CASES[case]
    values = {**shipments, "missing": str(uuid.uuid4())}
    request = (method, path.format(**values))
    payload = body.format(**values).encode() if body else b""
    fast = wsgi(TrackFastPath(not_django), *request, acme.api_key, body=payload, **headers)
    # A handler of its own: Django's middleware read their settings when it was built.
    django = wsgi(WSGIHandler(), *request, acme.api_key, body=payload, **headers)
    assert comparable(fast) == comparable(django)
    assert fast[0] in (200, 204)
    if "gzip" in case:
        assert fast[1]["content-encoding"] == "gzip" and fast[1]["vary"] == "Accept-Encoding"
    if "https" in case:
        assert "max-age" in fast[1]["strict-transport-security"]


def test_request_id_is_echoed_and_in_the_log_context(acme, shipments, monkeypatch):
    seen: list[dict[str, Any]] = []
    read = selectors.shipment_for_customer
    monkeypatch.setattr(selectors, "shipment_for_customer", lambda **kw: seen.append(current_ids()) or read(**kw))
    app = TrackFastPath(not_django)
    status, headers, _ = wsgi(app, "GET", f"/shipments/{shipments['rich']}/track", acme.api_key, x_request_id="abc-1")
    assert (status, headers["x-request-id"]) == (200, "abc-1")
    assert seen == [{"request_id": "abc-1"}]
    _, headers, _ = wsgi(app, "GET", f"/shipments/{shipments['rich']}/track", acme.api_key, x_request_id="no spaces")
    assert headers["x-request-id"] != "no spaces" and len(headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    "change",
    [
        "missing shipment",
        "not a uuid",
        "HEAD",
        "query string",
        "wrong version",
        "unknown key",
        "host not allowed",
        "https redirect due",
        "batch matching nothing",
        "batch malformed",
        "batch too long",
        "accept xml",
        "deeper path",
    ],
)
def test_unusual_requests_are_left_to_django(acme, shipments, settings, change):
    django = DjangoStandIn()
    app = TrackFastPath(django)
    one = f"/shipments/{shipments['rich']}/track"
    key, method, path, body, query, headers = acme.api_key, "GET", one, b"", "", {}
    if change == "missing shipment":
        path = f"/shipments/{uuid.uuid4()}/track"
    elif change == "not a uuid":
        path = "/shipments/not-a-uuid/track"
    elif change == "HEAD":
        method = "HEAD"
    elif change == "query string":
        query = "x=1"
    elif change == "wrong version":
        headers["x_version"] = "v0"
    elif change == "unknown key":
        key = "nope.nope"
    elif change == "host not allowed":
        headers["host"] = "evil.example"
    elif change == "https redirect due":
        settings.SECURE_SSL_REDIRECT = True
    elif change == "batch matching nothing":
        method, path, body = "POST", "/track", f'{{"ids": ["{uuid.uuid4()}"]}}'.encode()
    elif change == "batch malformed":
        method, path, body = "POST", "/track", b'{"ids": ["x"'
    elif change == "batch too long":
        method, path, body = "POST", "/track", b'{"carrier_tracking_ids": ["' + b"x" * 70_000 + b'"]}'
    elif change == "accept xml":
        headers["accept"] = "application/xml"
    elif change == "deeper path":
        path = f"/shipments/{shipments['rich']}/x/track"
    status, _, _ = wsgi(app, method, path, key, body=body, query=query, **headers)
    assert status == 418
    assert django.reached == [(path, body)]


def test_a_request_handed_over_is_counted_once(acme, shipments, monkeypatch):
    """A 404 is counted by the fast path, then answered by Django, which must not count it again."""
    monkeypatch.setattr(APIKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    path = f"/shipments/{uuid.uuid4()}/track"
    answers = [wsgi(TrackFastPath(django_application), "GET", path, acme.api_key)[0] for _ in range(3)]
    assert answers == [404, 404, 429]


def test_an_error_is_handed_to_django(acme, shipments, monkeypatch, caplog):
    """The fast path fails (here: once); Django answers the same request as it answers any."""
    calls: list[str] = []
    read = hot.answer_one

    def failing_once(meta: dict[str, Any], shipment_id: str) -> Any:
        calls.append(shipment_id)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return read(meta, shipment_id)

    monkeypatch.setattr(hot, "answer_one", failing_once)
    with caplog.at_level(logging.WARNING, logger="tracking.api.wsgi"):
        status, _, content = wsgi(
            TrackFastPath(django_application), "GET", f"/shipments/{shipments['rich']}/track", acme.api_key
        )
    assert status == 200 and b'"tracking_data"' in content
    assert len(calls) == 2  # the fast path's try, then Django's view
    assert "handing /shipments/" in caplog.text and "database went away" in caplog.text
