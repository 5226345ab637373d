"""OpenAPI helpers: the ``x-version`` header and the shared error responses.

``CustomerAutoSchema`` is the schema class of ``CustomerAPIView``, so every
subclass documents the ``x-version`` header without repeating it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from tracking.api.auth import API_VERSIONS, VERSION_HEADER


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, naming the offending field where there is one.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors only: every message by dotted field path.",
    )


VERSION_PARAMETER = OpenApiParameter(
    name=VERSION_HEADER,
    location=OpenApiParameter.HEADER,
    required=True,
    enum=list(API_VERSIONS),
    description="API version; requests without it, or with an unknown one, are answered 400.",
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


class CustomerAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        return [VERSION_PARAMETER, *super().get_override_parameters()]
