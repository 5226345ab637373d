"""Every API error as JSON: ``{"detail": "<one readable sentence>"}``, and 422 as FastAPI does.

``exception_handler`` is DRF's EXCEPTION_HANDLER (and ``CustomerAPIView``'s).
Validation errors answer 422 in Gluey's (FastAPI's) shape, one entry per
problem and every problem listed::

    {"detail": [{"loc": ["body", "parcels", 1, "carrier_tracking_id"],
                 "msg": "This field is required.", "type": "missing"}]}

``loc`` starts with where the value came from (``body``, or ``query`` for a
GET). Malformed JSON is 400 with the parser's reason; authentication failures
are always 401 "Not authenticated."; throttled requests 429 with
``Retry-After``. Unexpected exceptions are logged and answered 500 in the same
JSON shape.

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
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
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


# DRF's error codes → the pydantic error types a FastAPI client knows.
_ERROR_TYPES = {
    "required": "missing",
    "null": "missing",
    "blank": "string_too_short",
    "max_length": "too_long",
    "min_length": "too_short",
    "max_string_length": "string_too_long",
    "invalid_choice": "enum",
    "max_value": "less_than_equal",
    "min_value": "greater_than_equal",
    "not_a_list": "list_type",
    "not_a_dict": "dict_type",
    "empty": "too_short",
    "parse_error": "json_invalid",
    "label_creation": "label_creation_not_offered",
}


def flatten_errors(detail: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """Yield (location path, message, code) from DRF's nested full-details structure."""
    if isinstance(detail, dict) and set(detail) == {"message", "code"}:
        yield prefix, str(detail["message"]), str(detail["code"])
    elif isinstance(detail, dict):
        for key, value in detail.items():
            name: tuple[str | int, ...] = () if key in ("non_field_errors", "__all__") else (key,)
            yield from flatten_errors(value, prefix + name)
    elif isinstance(detail, list):
        nested = any(isinstance(item, list) or (isinstance(item, dict) and "code" not in item) for item in detail)
        for index, item in enumerate(detail):
            if nested:
                if item:  # ListSerializer puts {} for valid items
                    yield from flatten_errors(item, (*prefix, index))
            else:
                yield from flatten_errors(item, prefix)
    else:
        yield prefix, str(detail), "value_error"


def validation_body(detail: Any, *, source: str = "body") -> dict[str, Any]:
    """FastAPI's 422 body from DRF's ``get_full_details()``."""
    problems = [
        {"loc": [source, *path], "msg": message, "type": _ERROR_TYPES.get(code, "value_error")}
        for path, message, code in flatten_errors(detail)
    ]
    return {"detail": problems or [{"loc": [source], "msg": "Invalid request.", "type": "value_error"}]}


def _source(context: dict[str, Any]) -> str:
    request = context.get("request")
    return "query" if request is not None and request.method in ("GET", "HEAD", "DELETE") else "body"


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
        data = validation_body(exc.get_full_details(), source=_source(context))
    elif isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        data = {"detail": NOT_AUTHENTICATED}
    elif isinstance(exc.detail, (list, dict)):
        data = validation_body(exc.get_full_details(), source=_source(context))
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


@csrf_exempt
def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Catch-all for every path nothing else answers, so it is JSON (never a CSRF or debug page)."""
    return JsonResponse(
        {"detail": f"Not found: {request.method} {request.path} is not an endpoint of this API (see /api/docs)."},
        status=404,
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF_FAILURE_VIEW: JSON outside the admin (the API authenticates by key, not cookie)."""
    if _is_api_path(request):
        return JsonResponse({"detail": f"Forbidden: {reason}"}, status=403)
    return csrf.csrf_failure(request, reason)
