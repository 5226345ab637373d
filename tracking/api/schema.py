"""OpenAPI helpers: the shared error responses and the outbound webhook.

(The ``x-key`` scheme and the ``x-version`` header are documented by
``tracking.api.auth``, on every ``CustomerAPIView``.) ``TRACKING_WEBHOOK`` is
listed in SPECTACULAR_SETTINGS["WEBHOOKS"], so the schema's ``webhooks``
section describes what we POST to a subscribed endpoint and a customer can
generate a receiver from it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, OpenApiWebhook, extend_schema, extend_schema_field
from rest_framework import serializers

from tracking.api.serializers import TrackingWebhookEventDoc


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in one sentence.")

    class Meta:
        ref_name = "Error"


@extend_schema_field({"anyOf": [{"type": "string"}, {"type": "integer"}]})
class LocationPartField(serializers.Field):
    def to_representation(self, value: Any) -> Any:
        return value


class ValidationProblemSerializer(serializers.Serializer):
    loc = serializers.ListField(
        child=LocationPartField(), help_text='Where: "body" or "query", then the field path (list indexes as integers).'
    )
    msg = serializers.CharField(help_text="What is wrong with it.")
    type = serializers.CharField(help_text='A machine-readable kind, e.g. "missing", "too_long", "enum".')

    class Meta:
        ref_name = "ValidationError"


class ValidationErrorBody(serializers.Serializer):
    detail = ValidationProblemSerializer(many=True, help_text="Every problem found, one entry each.")

    class Meta:
        ref_name = "HTTPValidationError"


_ERROR_TEXT = {
    400: "Malformed JSON, or missing/unknown x-version header.",
    401: "Missing, unknown, revoked or expired x-key.",
    404: "Not found (another customer's shipment is reported the same way).",
    409: "The number is already registered with another uuid_ref; nothing was changed.",
    422: "Validation failed: every problem, FastAPI's shape.",
    429: "Rate limit for this API key exceeded; see Retry-After.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Error responses for ``extend_schema(responses=...)``; 400, 401 and 429 are always included."""
    wanted = sorted({400, 401, 429, *codes})
    return {
        code: OpenApiResponse(
            ValidationErrorBody if code == 422 else ErrorSerializer, description=_ERROR_TEXT.get(code, "")
        )
        for code in wanted
    }


TRACKING_WEBHOOK = OpenApiWebhook(
    name="tracking",
    decorator=extend_schema(
        summary="Tracking events, POSTed to your subscribed endpoint",
        description=(
            "A JSON array of up to 100 TrackingWebhookEvent, signed per Standard Webhooks (`webhook-id`, "
            "`webhook-timestamp`, `webhook-signature`: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` with your "
            "`whsec_` secret). One shipment's events arrive in the order they happened. An event whose codes "
            "were re-harmonised is sent again with the same identity and `correction: true`. Answer any 2xx "
            "within 30 s; 410 disables the endpoint; anything else is retried for 24 hours."
        ),
        request=TrackingWebhookEventDoc(many=True),
        responses={200: OpenApiResponse(description="Received (any 2xx).")},
    ),
)
