"""Request size limits.

The inbound webhook refuses bodies over 5 MB (tests/carriers/test_webhook.py
covers the body itself); here the same through a real HTTP server, where a
client can lie: a Content-Length announcing 100 MB is refused before the body
is read, and a chunked body (no Content-Length) cannot slip past the limit —
nothing is stored. The customer API refuses bodies over Django's
DATA_UPLOAD_MAX_MEMORY_SIZE with 413 and the usual JSON error, on every
endpoint that takes a body.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings

from carriers.models import InboundMessage
from tests.factories import make_carrier, make_customer


def raw_request(live_server_url: str, head: bytes, body_chunks: list[bytes], timeout: float = 10.0) -> bytes:
    url = urlparse(live_server_url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking it all: that is the point
        answer = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
            if b"\r\n\r\n" in answer and b'"detail"' in answer:
                break
    return answer


@pytest.mark.django_db(transaction=True)
def test_a_webhook_announcing_100_mb_is_refused_before_its_body_is_read(live_server):
    carrier = make_carrier()
    head = (
        f"POST /carriers/{carrier.pk}/webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\nConnection: close\r\n\r\n"
    ).encode()
    answer = raw_request(live_server.url, head, [b'{"events": ['])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"larger than 5 MB" in answer
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_chunked_webhook_body_cannot_slip_past_the_limit(live_server):
    carrier = make_carrier()
    head = (
        f"POST /carriers/{carrier.pk}/webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    piece = b"x" * 65536
    chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n"] * 100 + [b"0\r\n\r\n"]  # 6.25 MB
    answer = raw_request(live_server.url, head, chunks)
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:200]
    assert not InboundMessage.objects.exists()


@pytest.fixture
def acme_api(db, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "limits"}}
    from django.test import Client

    make_carrier()
    acme, key = make_customer("acme")
    return acme, Client(headers={"x-key": key, "x-version": "v1"})


@pytest.mark.parametrize("path", ["/shipments", "/track", "subscriptions", "replay"])
def test_api_bodies_over_the_upload_limit_are_413_with_a_json_detail(acme_api, path):
    acme, client = acme_api
    if path in ("subscriptions", "replay"):
        path = f"/accounts/{acme.account_number}/webhooks/tracking/{path}"
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    body = json.dumps(
        {
            "carrier_id": "acme-post",
            "carrier_tracking_id": "T1",
            "ids": [],
            "endpoint": "https://x",
            "since": "2026-01-01T00:00:00Z",
            "padding": padding,
        }
    )
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 413, response.content[:200]
    assert response.json()["detail"]


def test_an_api_body_just_under_the_limit_is_read(acme_api):
    _, client = acme_api
    padding = " " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - 200)
    body = json.dumps({"carrier_id": "acme-post", "carrier_tracking_id": "T1"})[:-1] + padding + "}"
    response = client.post("/shipments", data=body, content_type="application/json")
    assert response.status_code == 201, response.content[:200]
