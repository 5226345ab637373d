"""Calling a WSGI application in a test, and comparing answered-in-front routes with Django's own.

Used by the tests of the layers that answer hot routes before Django's handler
(tests/api/test_track_wsgi.py, tests/carriers/test_webhook_wsgi.py).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections


@contextmanager
def in_test_transaction() -> Iterator[None]:
    """As Django's test client does: a request must not close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call(
    app: Callable[..., Any],
    method: str,
    path: str,
    *,
    body: bytes = b"",
    query: str = "",
    content_type: str = "application/json",
    **headers: str,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers by lower-case name, body) of ``app``'s answer; a header sent twice fails the test."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **({"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))} if body else {}),
        **{f"HTTP_{name.upper()}": value for name, value in headers.items()},
    }
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started["status"], started["headers"] = status, response_headers

    with in_test_transaction():
        chunks = app(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
    names = [name.lower() for name, _ in started["headers"]]
    assert len(names) == len(set(names)), f"a header sent twice: {names}"
    return int(started["status"].split()[0]), {k.lower(): v for k, v in started["headers"]}, content


def not_django(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    pytest.fail(f"went to Django: {environ['REQUEST_METHOD']} {environ['PATH_INFO']}")


def comparable(answer: tuple[int, dict[str, str], bytes]) -> tuple[int, dict[str, str], bytes]:
    """An answer without what differs between two answers of the same request (the request id,
    the length of a gzip body, which carries random bytes; the order of the CSP's directives)."""
    status, headers, content = answer
    headers = {k: v for k, v in headers.items() if k != "x-request-id"}
    if headers.get("content-encoding") == "gzip":
        content = gzip.decompress(content)
        del headers["content-length"]
    if "content-security-policy" in headers:  # the same directives, in the order a set gave them
        headers["content-security-policy"] = "; ".join(sorted(headers["content-security-policy"].split("; ")))
    return status, headers, content


class DjangoStandIn:
    """Stands in for Django: records what reached it, body included, and answers 418."""

    def __init__(self) -> None:
        self.reached: list[tuple[str, bytes]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.reached.append((environ["PATH_INFO"], environ["wsgi.input"].read(length)))
        start_response("418 I'm a teapot", [])
        return [b""]
