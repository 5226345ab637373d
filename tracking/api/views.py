"""Customer endpoints: register, track one, track a batch, the event feed.

Thin: validate with a serializer, call one service or selector, shape the
answer with ``tracking.representations``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from tracking import representations, selectors
from tracking.api import hot
from tracking.api import serializers as s
from tracking.api.auth import CustomerAPIView
from tracking.api.exceptions import UnprocessableEntity, validation_body
from tracking.api.schema import error_responses
from tracking.detection import DetectionUnavailable
from tracking.services import (
    CarrierNotDetected,
    ParcelInput,
    RegistrationConflict,
    UnknownCarrier,
    shipment_register,
    shipment_register_detected,
)

SHIPMENT_NOT_FOUND = hot.SHIPMENT_NOT_FOUND


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


LAST_UPDATED_HEADER = OpenApiParameter(
    "x-last-updated",
    OpenApiTypes.DATETIME,
    OpenApiParameter.HEADER,
    description="Latest time Gluey recorded one of the returned events; absent when there are none.",
    response=[200],
)
NOT_FOUND_HEADER = OpenApiParameter(
    "x-not-found",
    str,
    OpenApiParameter.HEADER,
    description="Requested values that matched nothing for your account, comma-separated and percent-encoded.",
    response=[200],
)


class ShipmentCreateView(CustomerAPIView):
    """Register a tracking number; registering the same carrier and number again returns it with 200."""

    @extend_schema(
        operation_id="register_shipment",
        summary="Register a shipment for tracking",
        request=s.ShipmentCreate,
        responses={
            201: OpenApiResponse(s.ShipmentDoc, description="Registered."),
            200: OpenApiResponse(s.ShipmentDoc, description="Already registered: the existing shipment, unchanged."),
            **error_responses(409, 422),
        },
    )
    def post(self, request: Request) -> Response:
        data = s.ShipmentCreate(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        references = v.get("references", {})
        fields: dict[str, Any] = {
            "uuid_ref": v.get("uuid_ref", ""),
            "tracking_level": v["tracking_level"],
            "reference_shipper": references.get("shipper", ""),
            "reference_receiver": references.get("receiver", ""),
            "meta_data": [dict(item) for item in v.get("meta_data", [])],
            "parcels": [
                ParcelInput(
                    carrier_tracking_id=p["carrier_tracking_id"],
                    uuid_ref=p.get("uuid_ref", ""),
                    meta_data=[dict(item) for item in p.get("meta_data", [])],
                )
                for p in v.get("parcels", [])
            ],
        }
        tracking_id = v["carrier_tracking_id"]
        if "carrier_id" not in v:
            try:
                shipment, created, _ = shipment_register_detected(
                    customer=self.customer, carrier_tracking_id=tracking_id, **fields
                )
            except RegistrationConflict as exc:
                raise Conflict(str(exc)) from None
            except DetectionUnavailable:
                raise UnprocessableEntity({"carrier_id": ["This field is required."]}) from None
            except CarrierNotDetected as exc:
                body = validation_body({"carrier_id": [str(exc)]})
                body["candidates"] = [c.as_dict() for c in exc.detection.candidates]
                body["configured_carriers"] = [
                    {"carrier_id": carrier_id, "name": name} for carrier_id, name in exc.detection.configured
                ]
                return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        else:
            try:
                shipment, created = shipment_register(
                    customer=self.customer, carrier_id=v["carrier_id"], carrier_tracking_id=tracking_id, **fields
                )
            except UnknownCarrier as exc:
                raise UnprocessableEntity({"carrier_id": [str(exc)]}) from None
            except RegistrationConflict as exc:
                raise Conflict(str(exc)) from None
        parcels = list(shipment.parcels.order_by("carrier_tracking_id"))
        return Response(
            representations.shipment_dict(shipment, parcels),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ShipmentTrackView(CustomerAPIView):
    """One shipment with its parcels and events; another account's shipment is reported as not found."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Ordinary requests take the lean path; DRF answers the rest (tracking/api/hot.py).
        fast = hot.track_one(request, kwargs["id"], allow=", ".join(self.allowed_methods))
        return fast if fast is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="track_shipment",
        summary="Track one shipment",
        parameters=[
            OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The shipment's id."),
            LAST_UPDATED_HEADER,
        ],
        responses={
            200: s.TrackSingleShipmentDoc,
            204: OpenApiResponse(description="No tracking events yet for this shipment (no body)."),
            **error_responses(404),
        },
    )
    def get(self, request: Request, id: str) -> Response:
        result = selectors.shipment_for_customer(customer=self.customer, shipment_id=id)
        if result is None:
            raise NotFound(SHIPMENT_NOT_FOUND)
        if result.last_updated is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(hot.track_bodies(result, single=True)[0], headers=hot.last_updated_headers(result))


class BatchTrackView(CustomerAPIView):
    """Up to 100 shipments by id, uuid_ref or carrier tracking id, in one call."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Ordinary requests take the lean path; DRF answers the rest (tracking/api/hot.py).
        fast = hot.track_batch(request, allow=", ".join(self.allowed_methods))
        return fast if fast is not None else super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="track_shipments",
        summary="Track up to 100 shipments at once",
        description=(
            "Shipments in request order (ids, then uuid_refs, then carrier_tracking_ids; each shipment once). "
            "Values that matched nothing for your account are named in `x-not-found`, comma-separated and "
            "percent-encoded; `x-last-updated` is the latest time Gluey recorded one of the returned events. "
            "A malformed id is a validation error (422), not a miss."
        ),
        request=s.TrackRequest,
        parameters=[LAST_UPDATED_HEADER, NOT_FOUND_HEADER],
        responses={
            200: OpenApiResponse(
                s.BatchTrackShipmentDoc(many=True),
                description="Found shipments.",
            ),
            **error_responses(404, 422),
        },
        examples=[OpenApiExample("by id", value={"ids": ["6f1c1b6e-3b7a-4a53-9d2e-5b8b3f1f2a10"]}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        data = s.TrackRequest(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        total = sum(len(v.get(k, [])) for k in ("ids", "uuid_refs", "carrier_tracking_ids"))
        if total > s.MAX_BATCH:
            message = f"At most {s.MAX_BATCH} ids, uuid_refs and carrier_tracking_ids in total, got {total}."
            raise UnprocessableEntity({"ids": [message]})
        result = selectors.shipments_track(
            customer=self.customer,
            ids=v.get("ids", []),
            uuid_refs=v.get("uuid_refs", []),
            carrier_tracking_ids=v.get("carrier_tracking_ids", []),
        )
        if not result.shipments:
            raise NotFound(SHIPMENT_NOT_FOUND)
        headers = {**hot.last_updated_headers(result), **hot.not_found_header(result)}
        return Response(hot.track_bodies(result), headers=headers)


class EventFeedView(CustomerAPIView):
    """The account's events in recording order, page by page."""

    @extend_schema(
        operation_id="event_feed",
        summary="Every event recorded for your shipments after a cursor",
        description=(
            "Events in recording order; start without `after`, then pass `next_cursor`. An event recorded "
            "while an older write is still in progress appears on a later call, never skipped. Events that "
            "were recorded before you registered the number are not replayed here (see track endpoints)."
        ),
        parameters=[
            OpenApiParameter("after", str, description="next_cursor from the previous page; omit to start."),
            OpenApiParameter("limit", int, description="Events per page, 1–1000 (default 100)."),
        ],
        responses={200: s.EventFeedDoc, **error_responses(422)},
    )
    def get(self, request: Request) -> Response:
        query = s.FeedQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            page = selectors.events_feed(
                customer=self.customer,
                after=query.validated_data.get("after") or None,
                limit=query.validated_data["limit"],
            )
        except selectors.InvalidCursor as exc:
            raise ValidationError({"after": [str(exc)]}) from None
        relabels = selectors.tracking_updates(item_ids={e.event.tracked_item_id for e in page.entries})
        events = [
            representations.webhook_event_dict(shipment=e.shipment, parcel=e.parcel, event=e.event, relabels=relabels)
            for e in page.entries
        ]
        return Response({"events": events, "next_cursor": page.next_cursor, "has_more": page.has_more})
