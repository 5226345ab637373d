"""The two hot reads answered in front of Django's handler: ``TrackFastPath`` wraps the WSGI application.

A single ``GET /shipments/{id}/track`` costs ~1.1 ms of Python, and over
half of it is Django's handler around the read: the request object, twelve
middleware, URL resolution, the response object and its headers. For an
ordinary request on these two routes that work is always the same, so this
WSGI layer answers them itself, the way WhiteNoise answers static files,
with the lean path the views already use (``tracking.api.hot``).

It answers only what the lean path answers with 200 or 204, and only when
no middleware would act on the request: not HEAD, a host Django allows, no
HTTPS redirect due. Everything else — a 404, any error, any unusual request
— goes to Django unchanged (a POST body already read is handed on), so every
other answer still comes from one place. What Django's middleware adds is
added here the same way:

- the request id (``gluey.logging``: echoed or new, in the log context while the read runs);
- the security headers, X-Frame-Options and the Content-Security-Policy,
  taken once per process from Django's own middleware run over an empty response;
- ``Content-Length``, and gzip (with ``Vary``) as GZipMiddleware does it;
- ``request_started`` and ``request_finished``, so database connections
  are looked after as for any request.

tests/api/test_track_wsgi.py compares its answers with Django's, header by
header. See docs/architecture.md, "Reads".
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
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
from tracking.api import hot

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
_STATUS = {200: "200 OK", 204: "204 No Content"}
_TRACK_PREFIX, _TRACK_SUFFIX = "/shipments/", "/track"
# GZipMiddleware's threshold: shorter answers are sent as they are, without Vary.
_GZIP_MIN = 200
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


def _constant_headers(path: str, secure: bool) -> list[tuple[str, str]]:
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


def _secure(environ: dict[str, Any]) -> bool:
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


class TrackFastPath:
    """WSGI middleware: ``GET /shipments/{id}/track`` and ``POST /track`` answered before Django's handler."""

    def __init__(self, application: WSGIHandler) -> None:
        self.application = application
        self._allow: dict[str, str] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
        if method == "GET" and path.startswith(_TRACK_PREFIX) and path.endswith(_TRACK_SUFFIX):
            shipment_id = path[len(_TRACK_PREFIX) : -len(_TRACK_SUFFIX)]
            if shipment_id and "/" not in shipment_id:
                answered = self._answer(environ, start_response, path, shipment_id=shipment_id)
                if answered is not None:
                    return answered
        elif method == "POST" and path == _TRACK_SUFFIX and hot.batch_body_length(environ) is not None:
            answered = self._answer(environ, start_response, path)
            if answered is not None:
                return answered
        return self.application(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], start_response: StartResponse, path: str, *, shipment_id: str | None = None
    ) -> list[bytes] | None:
        secure = _secure(environ)
        if (settings.SECURE_SSL_REDIRECT and not secure) or not _host_allowed(environ):
            return None
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=WSGIHandler, environ=environ)
        try:
            with log_context(request_id=request_id):
                answer = self._read(environ, shipment_id)
        except Exception:
            # Django answers and logs it as it does any error (the rate count travels in environ).
            logger.warning("track fast path: handing %s to Django after an error", path, exc_info=True)
            answer = None
        finally:
            signals.request_finished.send(sender=WSGIHandler)
        if answer is None or answer.status not in _STATUS:
            return None
        headers = [(name, value) for name, value in answer.headers.items()]
        body = answer.body or b""
        if answer.body is not None:
            headers.insert(0, ("Content-Type", "application/json"))
            if len(body) >= _GZIP_MIN:
                headers.append(("Vary", "Accept-Encoding"))
                if re_accepts_gzip.search(environ.get("HTTP_ACCEPT_ENCODING", "")):
                    compressed = compress_string(body, max_random_bytes=GZipMiddleware.max_random_bytes)
                    if len(compressed) < len(body):
                        body = compressed
                        headers.append(("Content-Encoding", "gzip"))
        headers += [
            ("Allow", self._allowed(shipment_id is not None)),
            ("Content-Length", str(len(body))),
            *_constant_headers(_TRACK_PREFIX if shipment_id is not None else _TRACK_SUFFIX, secure),
            (REQUEST_ID_HEADER, request_id),
        ]
        start_response(_STATUS[answer.status], headers)
        return [body]

    @staticmethod
    def _read(environ: dict[str, Any], shipment_id: str | None) -> hot.Answer | None:
        if shipment_id is not None:
            return hot.answer_one(environ, shipment_id)
        length = int(environ["CONTENT_LENGTH"])
        body = environ["wsgi.input"].read(length)
        # Whoever answers next reads the same body.
        environ["wsgi.input"] = io.BytesIO(body)
        return hot.answer_batch(environ, body) if len(body) == length else None

    def _allowed(self, single: bool) -> str:
        """The ``Allow`` header DRF sets on the view's answers."""
        key = "one" if single else "batch"
        allow = self._allow.get(key)
        if allow is None:
            from tracking.api.views import BatchTrackView, ShipmentTrackView

            view: Any = ShipmentTrackView() if single else BatchTrackView()
            if hasattr(view, "get") and not hasattr(view, "head"):
                view.head = view.get  # as View.setup does for every request
            allow = self._allow[key] = ", ".join(view.allowed_methods)
        return allow
