"""Every API error as JSON ``{"detail": "<one readable sentence>"}``.

``exception_handler`` is DRF's EXCEPTION_HANDLER (and ``CustomerAPIView``'s).
Validation errors answer 422 and name the offending field in ``detail``
("carrier_tracking_id: This field is required."); the full list is also in
``errors`` as ``{"<dotted.field.path>": ["message", ...]}``. Malformed JSON is
400 with the parser's reason; authentication failures are always
401 "Not authenticated."; throttled requests 429 with ``Retry-After``.
Unexpected exceptions are logged and answered 500 in the same JSON shape.

``page_not_found`` / ``server_error`` are Django's handler404 / handler500:
JSON for API paths, Django's own pages under ``/admin/``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

NOT_FOUND = "Not found."
SERVER_ERROR = "Internal server error."
NOT_AUTHENTICATED = "Not authenticated."


class UnprocessableEntity(exceptions.APIException):
    """A well-formed request the server cannot act on (unknown carrier, too many ids)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "Unprocessable request."
    default_code = "unprocessable"


def flatten_errors(detail: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield (dotted field path, message) from DRF's nested error structure."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            yield from flatten_errors(value, f"{prefix}.{name}" if prefix and name else (name or prefix))
    elif isinstance(detail, list):
        nested = any(isinstance(item, (dict, list)) for item in detail)
        for index, item in enumerate(detail):
            if nested:
                if item:  # ListSerializer puts {} for valid items
                    yield from flatten_errors(item, f"{prefix}.{index}" if prefix else str(index))
            else:
                yield prefix, str(item)
    else:
        yield prefix, str(detail)


def validation_body(detail: Any) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    for field, message in flatten_errors(detail):
        errors.setdefault(field, []).append(message)
    sentences = [f"{field}: {messages[0]}" if field else messages[0] for field, messages in errors.items()]
    body: dict[str, Any] = {"detail": " ".join(sentences) if sentences else "Invalid request."}
    body["errors"] = errors
    return body


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else NOT_FOUND)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE; that is the client's error.
        exc = RequestTooLarge(
            f"Request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)} MB."
        )

    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.exception("unhandled error in %s", type(view).__name__ if view else "API view", exc_info=exc)
        set_rollback()
        return Response({"detail": SERVER_ERROR}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = f"{int(exc.wait)}"  # type: ignore[attr-defined]

    status_code = exc.status_code
    if isinstance(exc, exceptions.ValidationError):
        status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
        data = validation_body(exc.detail)
    elif isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        data = {"detail": NOT_AUTHENTICATED}
    elif isinstance(exc.detail, (list, dict)):
        data = validation_body(exc.detail)
    else:
        data = {"detail": str(exc.detail)}
    set_rollback()
    return Response(data, status=status_code, headers=headers)


def _is_api_path(request: HttpRequest) -> bool:
    return not request.path.startswith("/admin/")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api_path(request):
        return JsonResponse({"detail": NOT_FOUND}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api_path(request):
        return JsonResponse({"detail": SERVER_ERROR}, status=500)
    return defaults.server_error(request)


def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Catch-all under the API prefixes, so unknown API paths are JSON even with DEBUG on."""
    return JsonResponse({"detail": NOT_FOUND}, status=404)
