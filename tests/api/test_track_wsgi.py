"""The track reads answered in front of Django (tracking/api/wsgi.py) answer exactly as Django does.

Each request goes to the WSGI application twice: once to ``TrackFastPath`` in
front of an application that fails the test if it is reached, once to Django's
own handler. Status, headers (but the request id, and the length of a gzip
body, which carries random bytes) and the body (decompressed) must be the same.
Requests it must leave to Django are checked to reach Django with their body.
"""

from __future__ import annotations

import gzip
import io
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from gluey.logging import current_ids
from gluey.wsgi import django_application
from tracking import selectors
from tracking.api import hot
from tracking.api.throttle import APIKeyRateThrottle
from tracking.api.wsgi import TrackFastPath

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _served_over_http(settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 3600  # as in production: HSTS on answers over HTTPS


@contextmanager
def _in_test_transaction() -> Iterator[None]:
    """As Django's test client does: a request must not close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def wsgi(
    app: Callable[..., Any],
    method: str,
    path: str,
    key: str,
    *,
    body: bytes = b"",
    query: str = "",
    **headers: str,
) -> tuple[int, dict[str, str], bytes]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_X_KEY": key,
        "HTTP_X_VERSION": "v1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **({"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body))} if body else {}),
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started["status"], started["headers"] = status, response_headers

    with _in_test_transaction():
        chunks = app(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
    names = [name.lower() for name, _ in started["headers"]]
    assert len(names) == len(set(names)), f"a header sent twice: {names}"
    return int(started["status"].split()[0]), {k.lower(): v for k, v in started["headers"]}, content


def _not_django(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    pytest.fail(f"went to Django: {environ['REQUEST_METHOD']} {environ['PATH_INFO']}")


def _comparable(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, dict[str, str], bytes]:
    status, headers, content = answer
    headers = {k: v for k, v in headers.items() if k != "x-request-id"}
    if headers.get("content-encoding") == "gzip":
        content = gzip.decompress(content)
        del headers["content-length"]
    if "content-security-policy" in headers:  # the same directives, in the order a set gave them
        headers["content-security-policy"] = "; ".join(sorted(headers["content-security-policy"].split("; ")))
    return status, headers, content


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
    fast = wsgi(TrackFastPath(_not_django), *request, acme.api_key, body=payload, **headers)
    # A handler of its own: Django's middleware read their settings when it was built.
    django = wsgi(WSGIHandler(), *request, acme.api_key, body=payload, **headers)
    assert _comparable(fast) == _comparable(django)
    assert fast[0] in (200, 204)
    if "gzip" in case:
        assert fast[1]["content-encoding"] == "gzip" and fast[1]["vary"] == "Accept-Encoding"
    if "https" in case:
        assert "max-age" in fast[1]["strict-transport-security"]


def test_request_id_is_echoed_and_in_the_log_context(acme, shipments, monkeypatch):
    seen: list[dict[str, Any]] = []
    read = selectors.shipment_for_customer
    monkeypatch.setattr(selectors, "shipment_for_customer", lambda **kw: seen.append(current_ids()) or read(**kw))
    app = TrackFastPath(_not_django)
    status, headers, _ = wsgi(app, "GET", f"/shipments/{shipments['rich']}/track", acme.api_key, x_request_id="abc-1")
    assert (status, headers["x-request-id"]) == (200, "abc-1")
    assert seen == [{"request_id": "abc-1"}]
    _, headers, _ = wsgi(app, "GET", f"/shipments/{shipments['rich']}/track", acme.api_key, x_request_id="no spaces")
    assert headers["x-request-id"] != "no spaces" and len(headers["x-request-id"]) == 32


class _Django:
    """Stands in for Django: records what reached it, body included."""

    def __init__(self) -> None:
        self.reached: list[tuple[str, bytes]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.reached.append((environ["PATH_INFO"], environ["wsgi.input"].read(length)))
        start_response("418 I'm a teapot", [])
        return [b""]


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
    django = _Django()
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
