"""Carrier webhooks answered in front of Django's handler: ``WebhookFastPath`` wraps the WSGI application.

Carriers push one event per webhook, and the acknowledgment is the hot path of
ingestion: measured in process, Django's handler around the view (twelve
middleware, URL resolution, the response's headers) cost as much Python as the
view itself, and under load the server acknowledged about 60 % more webhooks
a second without it. None of that middleware acts on a carrier's POST: the
session, authentication and message middleware run under /admin/ only, the
view is CSRF-exempt, and the rest only add headers.

So ``POST /carriers/{carrier_id}/webhook`` goes straight to the view
(``carriers.views.carrier_webhook``, unchanged: every answer, 202, 200,
4xx, is still its own), with what the middleware would add added as they
would (``gluey.fastpath``): the request id, gzip, the security headers.
A host Django would refuse, an HTTPS redirect due, another method or any
other path go to Django. An error in the view is answered by Django's own
error handling (``response_for_exception``: the JSON 500, logged).

tests/carriers/test_webhook_wsgi.py compares its answers with Django's, header
by header. See docs/architecture.md, "Inbound carrier webhooks".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpResponseBase

from carriers.views import carrier_webhook
from gluey import fastpath

_PREFIX, _SUFFIX = "/carriers/", "/webhook"


class WebhookFastPath:
    """WSGI middleware: ``POST /carriers/{carrier_id}/webhook`` answered by its view without Django's handler."""

    def __init__(self, application: WSGIHandler | Any) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: fastpath.StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "POST" and path.startswith(_PREFIX) and path.endswith(_SUFFIX):
            carrier_id = path[len(_PREFIX) : -len(_SUFFIX)]
            # The URL pattern's <str:carrier_id>: one non-empty segment.
            if carrier_id and "/" not in carrier_id and fastpath.should_answer(environ):
                return self._answer(environ, start_response, carrier_id)
        return self.application(environ, start_response)

    @staticmethod
    def _answer(environ: dict[str, Any], start_response: fastpath.StartResponse, carrier_id: str) -> list[bytes]:
        with fastpath.handled(environ) as request_id:
            request = WSGIRequest(environ)
            request.request_id = request_id  # type: ignore[attr-defined]  # as RequestIdMiddleware sets it
            response: HttpResponseBase
            try:
                response = carrier_webhook(request, carrier_id)
            except Exception as exc:  # noqa: BLE001 - answered and logged as Django's handler does
                response = response_for_exception(request, exc)
            body = response.content
        headers = [*response.items(), *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        return fastpath.respond(
            environ,
            start_response,
            status=f"{response.status_code} {response.reason_phrase}",
            headers=headers,
            body=body,
            route=_PREFIX,
            request_id=request_id,
        )
