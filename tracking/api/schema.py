"""OpenAPI helpers: the shared error responses.

(The ``x-key`` scheme and the ``x-version`` header are documented by
``tracking.api.auth``, on every ``CustomerAPIView``.)
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, naming the offending field where there is one.")
    # Named like the error body's member; this serializer only documents it, so
    # Serializer.errors (the validation result) is never read on it.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors only: every message by dotted field path.",
    )


_ERROR_TEXT = {
    400: "Malformed JSON, or missing/unknown x-version header.",
    401: "Missing, unknown, revoked or expired x-key.",
    404: "Not found (another customer's shipment is reported the same way).",
    422: "Validation failed; `detail` names the field.",
    429: "Rate limit for this API key exceeded; see Retry-After.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Error responses for ``extend_schema(responses=...)``; 400, 401 and 429 are always included."""
    wanted = sorted({400, 401, 429, *codes})
    return {code: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT.get(code, "")) for code in wanted}
