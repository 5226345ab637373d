"""Customer endpoints about carriers: which are configured, and which issued a number.

- ``GET /carriers`` lists the enabled carriers with their ids (the values
  ``carrier_id`` takes in ``POST /shipments``) and the number formats each one
  is recognised by.
- ``POST /carriers/detect`` ``{"tracking_id": …}`` (or ``GET
  /carriers/detect?tracking_id=…``) answers the configured carriers whose number
  format and check digit the number satisfies, most confident first.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from carriers.numbers import formats
from carriers.services.detection import carriers_configured, carriers_detect
from tracking.api.auth import CustomerAPIView
from tracking.api.schema import error_responses


class DetectRequest(serializers.Serializer):
    tracking_id = serializers.CharField(max_length=64, trim_whitespace=True)

    def to_internal_value(self, data: object) -> dict[str, str]:
        if isinstance(data, dict) and "tracking_id" in data and not isinstance(data["tracking_id"], str):
            raise serializers.ValidationError({"tracking_id": ["Must be a string."]})
        return super().to_internal_value(data)


class NumberFormatDoc(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()


class CarrierDoc(serializers.Serializer):
    carrier_id = serializers.CharField()
    name = serializers.CharField()
    number_formats = NumberFormatDoc(many=True)


class CarrierListDoc(serializers.Serializer):
    carriers = CarrierDoc(many=True)


class CandidateDoc(serializers.Serializer):
    carrier_id = serializers.CharField()
    name = serializers.CharField()
    format = serializers.CharField(help_text="Format id, or 'pattern' for a carrier's own configured pattern.")
    format_name = serializers.CharField()
    confidence = serializers.FloatField(help_text="0–1: high for a check digit over a long prefixed number.")


class DetectionDoc(serializers.Serializer):
    tracking_id = serializers.CharField()
    candidates = CandidateDoc(many=True)


class CarrierListView(CustomerAPIView):
    @extend_schema(
        operation_id="list_carriers",
        summary="The carriers configured here (extension)",
        responses={200: CarrierListDoc, **error_responses()},
    )
    def get(self, request: Request) -> Response:
        known = formats()
        return Response(
            {
                "carriers": [
                    {
                        "carrier_id": c.carrier_id,
                        "name": c.name,
                        "number_formats": [{"id": i, "name": known[i].name} for i in c.number_formats if i in known],
                    }
                    for c in carriers_configured()
                ]
            }
        )


class CarrierDetectView(CustomerAPIView):
    def _answer(self, data: object) -> Response:
        query = DetectRequest(data=data)
        query.is_valid(raise_exception=True)
        tracking_id = query.validated_data["tracking_id"]
        detection = carriers_detect(tracking_id)
        return Response({"tracking_id": tracking_id, "candidates": [c.as_dict() for c in detection.candidates]})

    @extend_schema(
        operation_id="detect_carrier",
        summary="Which configured carriers issue numbers like this one (extension)",
        request=DetectRequest,
        responses={200: OpenApiResponse(DetectionDoc), **error_responses(422)},
    )
    def post(self, request: Request) -> Response:
        return self._answer(request.data)

    @extend_schema(
        operation_id="detect_carrier_get",
        summary="Which configured carriers issue numbers like this one (extension)",
        parameters=[OpenApiParameter("tracking_id", str, required=True)],
        responses={200: OpenApiResponse(DetectionDoc), **error_responses(422)},
    )
    def get(self, request: Request) -> Response:
        return self._answer(request.query_params)
