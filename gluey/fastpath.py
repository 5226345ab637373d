"""What a route answered in front of Django's handler needs to answer as Django would.

Some routes are hot and their answers ordinary: the track reads
(``tracking.api.wsgi``) and the carrier webhooks (``carriers.wsgi``). Their
WSGI layers skip Django's handler — the request object, the middleware, URL
resolution — for requests no middleware would act on, and add what the
middleware would add, from here:

- ``should_answer``: the host is one Django allows and no HTTPS redirect is due
  (otherwise Django answers: 400 or the redirect);
- ``handled``: the request id in the log context, ``request_started`` and
  ``request_finished`` (database connections are looked after as for any request);
- ``respond``: gzip with ``Vary`` as GZipMiddleware does it, ``Content-Length``,
  the security headers, X-Frame-Options and the Content-Security-Policy (asked
  once per process of Django's own middleware over an empty response), and
  ``X-Request-ID``.

See docs/architecture.md, "Reads" and "Inbound carrier webhooks".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler, get_script_name
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.gzip import GZipMiddleware, re_accepts_gzip
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.text import compress_string

from gluey.logging import REQUEST_ID_HEADER, log_context, request_id_for
from gluey.middleware import CachedCSPMiddleware

StartResponse = Callable[..., Any]
# GZipMiddleware's threshold: shorter answers are sent as they are, without Vary.
GZIP_MIN = 200
# (path, secure) → the headers Django's middleware puts on every answer of that route.
_constant: dict[tuple[str, bool], list[tuple[str, str]]] = {}
_hosts: dict[str, bool] = {}


def _forget(**kwargs: object) -> None:
    _constant.clear()
    _hosts.clear()


setting_changed.connect(_forget)


def _unused(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only the middleware's process_response is called")


class _Probe(HttpRequest):
    def __init__(self, path: str, secure: bool) -> None:
        super().__init__()
        self.path = self.path_info = path
        self._secure = secure

    def is_secure(self) -> bool:
        return self._secure


def constant_headers(path: str, secure: bool) -> list[tuple[str, str]]:
    """What SecurityMiddleware, XFrameOptionsMiddleware and the CSP middleware add to an answer
    on ``path``: asked of the middleware themselves, once."""
    key = (path, secure)
    found = _constant.get(key)
    if found is None:
        probe, response = _Probe(path, secure), HttpResponse()
        del response["Content-Type"]
        for middleware in (CachedCSPMiddleware, XFrameOptionsMiddleware, SecurityMiddleware):
            middleware(_unused).process_response(probe, response)  # each sets headers on the response it is given
        found = _constant[key] = list(response.items())
    return found


def is_secure(environ: dict[str, Any]) -> bool:
    """``HttpRequest.is_secure`` without the request (SECURE_PROXY_SSL_HEADER honoured)."""
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        header, value = proxy
        sent = environ.get(header)
        if sent is not None:
            return sent.split(",", 1)[0].strip() == value
    return environ.get("wsgi.url_scheme") == "https"


def _host_allowed(environ: dict[str, Any]) -> bool:
    """Whether ``HttpRequest.get_host`` would accept the request's host (else Django answers 400)."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
        return False  # rare: left to Django
    host = environ.get("HTTP_HOST")
    if host is None:
        return False
    allowed = _hosts.get(host)
    if allowed is None:
        hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not hosts:
            hosts = [".localhost", "127.0.0.1", "[::1]"]
        domain, _ = split_domain_port(host)
        allowed = bool(domain and validate_host(domain, hosts))
        if len(_hosts) < 1000:  # hosts a client sends are not ours to keep without bound
            _hosts[host] = allowed
    return allowed


def should_answer(environ: dict[str, Any]) -> bool:
    """Whether no middleware would answer instead of the view: an allowed host, no HTTPS redirect due."""
    return not (settings.SECURE_SSL_REDIRECT and not is_secure(environ)) and _host_allowed(environ)


@contextmanager
def handled(environ: dict[str, Any]) -> Iterator[str]:
    """Around answering a request: its id (yielded) in the log context, and Django's request signals."""
    request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
    set_script_prefix(get_script_name(environ))
    signals.request_started.send(sender=WSGIHandler, environ=environ)
    try:
        with log_context(request_id=request_id):
            yield request_id
    finally:
        signals.request_finished.send(sender=WSGIHandler)


def respond(
    environ: dict[str, Any],
    start_response: StartResponse,
    *,
    status: str,
    headers: list[tuple[str, str]],
    body: bytes,
    route: str,
    request_id: str,
) -> list[bytes]:
    """Start the answer with ``headers`` and what the middleware would add to them (see above);
    ``route`` is a path of the route, for the route's constant headers."""
    headers = list(headers)
    if len(body) >= GZIP_MIN:
        headers.append(("Vary", "Accept-Encoding"))
        if re_accepts_gzip.search(environ.get("HTTP_ACCEPT_ENCODING", "")):
            compressed = compress_string(body, max_random_bytes=GZipMiddleware.max_random_bytes)
            if len(compressed) < len(body):
                body = compressed
                headers.append(("Content-Encoding", "gzip"))
    headers += [
        ("Content-Length", str(len(body))),
        *constant_headers(route, is_secure(environ)),
        (REQUEST_ID_HEADER, request_id),
    ]
    start_response(status, headers)
    return [body]
