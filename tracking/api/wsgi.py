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
added here the same way (``gluey.fastpath``):

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
from collections.abc import Iterable
from typing import Any

from django.core.handlers.wsgi import WSGIHandler

from gluey import fastpath
from tracking.api import hot

logger = logging.getLogger(__name__)

_STATUS = {200: "200 OK", 204: "204 No Content"}
_TRACK_PREFIX, _TRACK_SUFFIX = "/shipments/", "/track"


class TrackFastPath:
    """WSGI middleware: ``GET /shipments/{id}/track`` and ``POST /track`` answered before Django's handler."""

    def __init__(self, application: WSGIHandler) -> None:
        self.application = application
        self._allow: dict[str, str] = {}

    def __call__(self, environ: dict[str, Any], start_response: fastpath.StartResponse) -> Iterable[bytes]:
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
        self,
        environ: dict[str, Any],
        start_response: fastpath.StartResponse,
        path: str,
        *,
        shipment_id: str | None = None,
    ) -> list[bytes] | None:
        if not fastpath.should_answer(environ):
            return None
        with fastpath.handled(environ) as request_id:
            try:
                answer = self._read(environ, shipment_id)
            except Exception:
                # Django answers and logs it as it does any error (the rate count travels in environ).
                logger.warning("track fast path: handing %s to Django after an error", path, exc_info=True)
                answer = None
        if answer is None or answer.status not in _STATUS:
            return None
        headers = [(name, value) for name, value in answer.headers.items()]
        if answer.body is not None:
            headers.insert(0, ("Content-Type", "application/json"))
        headers.append(("Allow", self._allowed(shipment_id is not None)))
        return fastpath.respond(
            environ,
            start_response,
            status=_STATUS[answer.status],
            headers=headers,
            body=answer.body or b"",
            route=_TRACK_PREFIX if shipment_id is not None else _TRACK_SUFFIX,
            request_id=request_id,
        )

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
