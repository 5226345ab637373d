"""Request validation and the documented response shapes of the customer API.

Input serializers only validate and convert; the responses themselves are
built by ``tracking.representations`` and the ``*Doc`` serializers below
describe them for the OpenAPI schema (a contract test checks real responses
against it).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from rest_framework import serializers

from tracking.models import TrackingLevel
from tracking.taxonomy import taxonomy_rows
from tracking.types import ImageFormat, LocationType, ParcelCondition

MAX_META_ITEMS = 20
MAX_BATCH = 100
MAX_PARCELS = 100


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    default_error_messages = {"invalid": "Must be a string."}  # noqa: RUF012 - DRF merges it per class

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID given as a string (DRF would also take an integer as a 128-bit UUID)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class MetaDataItem(serializers.Serializer):
    key = StrictCharField(max_length=100)
    value = StrictCharField(max_length=500, allow_blank=True)


def meta_data_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=MetaDataItem(),
        max_length=MAX_META_ITEMS,
        required=False,
        help_text=f"Up to {MAX_META_ITEMS} key/value pairs, kept and returned as sent.",
        **kwargs,
    )


class References(serializers.Serializer):
    shipper = StrictCharField(max_length=200, required=False, allow_blank=True)
    receiver = StrictCharField(max_length=200, required=False, allow_blank=True)

    class Meta:
        ref_name = "ReferencesInput"


class ParcelCreate(serializers.Serializer):
    carrier_tracking_id = StrictCharField(max_length=64)
    uuid_ref = StrictCharField(max_length=100, required=False, allow_blank=True)
    meta_data = meta_data_field()


LABEL_CREATION_NOT_OFFERED = (
    "Label creation (Gluey's create-shipment request with `carrier` and `shipment`) is not offered here: "
    "this service tracks numbers you already have. Register one with "
    '{"carrier_id": "<carrier>", "carrier_tracking_id": "<number>"}.'
)


class ShipmentCreate(serializers.Serializer):
    carrier_id = StrictCharField(
        max_length=50,
        required=False,
        help_text="Omit to have the carrier recognised from carrier_tracking_id among the configured carriers.",
    )
    carrier_tracking_id = StrictCharField(max_length=64)
    uuid_ref = StrictCharField(max_length=100, required=False, allow_blank=True)
    tracking_level = serializers.ChoiceField(choices=TrackingLevel.choices, default=TrackingLevel.SHIPMENT)
    references = References(required=False)
    meta_data = meta_data_field()
    parcels = serializers.ListField(child=ParcelCreate(), max_length=MAX_PARCELS, required=False)

    def to_internal_value(self, data: Any) -> Any:
        # A client written for Gluey's label API posts {carrier, shipment} here: say what to send instead.
        if isinstance(data, dict) and "carrier_id" not in data and ("shipment" in data or "carrier" in data):
            raise serializers.ValidationError(
                {"non_field_errors": [serializers.ErrorDetail(LABEL_CREATION_NOT_OFFERED, code="label_creation")]}
            )
        return super().to_internal_value(data)

    def validate_parcels(self, parcels: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[str] = set()
        for parcel in parcels:
            if parcel["carrier_tracking_id"] in seen:
                raise serializers.ValidationError(
                    f"carrier_tracking_id {parcel['carrier_tracking_id']!r} appears twice."
                )
            seen.add(parcel["carrier_tracking_id"])
        return parcels


class TrackRequest(serializers.Serializer):
    ids = serializers.ListField(child=StrictUUIDField(), required=False, help_text="Shipment ids (UUIDs).")
    uuid_refs = serializers.ListField(
        child=StrictCharField(max_length=100), required=False, help_text="Extension: your own shipment references."
    )
    carrier_tracking_ids = serializers.ListField(
        child=StrictCharField(max_length=64), required=False, help_text="Extension: carrier tracking numbers."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        total = sum(len(attrs.get(k, [])) for k in ("ids", "uuid_refs", "carrier_tracking_ids"))
        if total == 0:
            raise serializers.ValidationError({"ids": "Send at least one id, uuid_ref or carrier_tracking_id."})
        return attrs


class FeedQuery(serializers.Serializer):
    after = StrictCharField(required=False, allow_blank=True, help_text="next_cursor of the previous page.")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)


# --- Documented response shapes ---------------------------------------------------
# Gluey's published models, field for field (names, requiredness, enums); the
# contract tests check these against a JSON Schema written from Gluey's docs
# and check every body the tests produce against these.

_TAXONOMY = taxonomy_rows()
MILESTONES = sorted({row["milestone"] for row in _TAXONOMY})
GLUEY_CODES = sorted({row["code"] for row in _TAXONOMY})
GLUEY_SUB_CODES = sorted({row["sub_code"] for row in _TAXONOMY})


def _choices(enum: type[StrEnum]) -> list[tuple[str, str]]:
    # (value, name) pairs, as drf-spectacular lists an Enum, so ENUM_NAME_OVERRIDES names it.
    return [(member.value, member.name) for member in enum]


class KeyValueDoc(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField()

    class Meta:
        ref_name = "MetaData"


class EventTimeDoc(serializers.Serializer):
    created_utc = serializers.DateTimeField(help_text="When Gluey recorded the event (UTC).")
    carrier_utc = serializers.DateTimeField(help_text="The carrier's event time, in the carrier's offset.")

    class Meta:
        ref_name = "TrackingEventDateTime"


class GlueyCodesDoc(serializers.Serializer):
    milestone = serializers.ChoiceField(choices=MILESTONES)
    code = serializers.ChoiceField(choices=GLUEY_CODES)
    sub_code = serializers.ChoiceField(choices=GLUEY_SUB_CODES)
    freetext_detail = serializers.CharField(help_text="The taxonomy's description of the code.")

    class Meta:
        ref_name = "GlueyEventCodeDetail"


class CarrierCodesDoc(serializers.Serializer):
    code = serializers.CharField()
    sub_code = serializers.CharField(required=False)
    freetext_detail = serializers.CharField(required=False)

    class Meta:
        ref_name = "CarrierEventCodeDetail"


class CodesDoc(serializers.Serializer):
    gluey = GlueyCodesDoc()
    carrier = CarrierCodesDoc()

    class Meta:
        ref_name = "TrackingEventCodes"


class LocationCodingDoc(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField(required=False)
    type = serializers.ChoiceField(
        choices=_choices(LocationType), required=False, help_text="The carrier's own kind is in carrier_meta_data."
    )

    class Meta:
        ref_name = "CarrierLocationCode"


class AddressDoc(serializers.Serializer):
    type = serializers.ChoiceField(choices=_choices(LocationType), required=False)
    name = serializers.CharField(allow_blank=True, help_text='"" when the carrier gave none.')
    street = serializers.CharField(required=False)
    street_2 = serializers.CharField(required=False)
    postal_code = serializers.CharField(required=False)
    suburb = serializers.CharField(required=False)
    city = serializers.CharField(allow_blank=True, help_text='"" when the carrier gave none.')
    state = serializers.CharField(required=False)
    iso_country = serializers.CharField(allow_blank=True, help_text='As the carrier gave it; "" when none.')

    class Meta:
        ref_name = "TrackingEventAddress"


class GeoDoc(serializers.Serializer):
    lat = serializers.FloatField()
    lng = serializers.FloatField()

    class Meta:
        ref_name = "GeoLocation"


class LocationDoc(serializers.Serializer):
    carrier_location_coding = LocationCodingDoc(required=False)
    address = AddressDoc(required=False)
    what3words = serializers.CharField(required=False)
    geo = GeoDoc(required=False)

    class Meta:
        ref_name = "TrackingEventLocation"


class WeightDoc(serializers.Serializer):
    value = serializers.FloatField()
    unit = serializers.ChoiceField(choices=["kg"])

    class Meta:
        ref_name = "Weight"


class DimensionsDoc(serializers.Serializer):
    length = serializers.FloatField()
    width = serializers.FloatField(required=False)
    height = serializers.FloatField(required=False)
    unit = serializers.ChoiceField(choices=["cm"])

    class Meta:
        ref_name = "Dimensions"


class PhysicalDataDoc(serializers.Serializer):
    weight = WeightDoc(required=False)
    dimensions = DimensionsDoc(required=False)

    class Meta:
        ref_name = "TrackingEventPhysicalData"


class DeliveryConfirmationDoc(serializers.Serializer):
    signed_by = serializers.CharField(required=False)
    base64_photo = serializers.CharField(required=False)
    photo_format = serializers.ChoiceField(
        choices=_choices(ImageFormat), help_text="Required by Gluey's model: jpeg when no photo is attached."
    )

    class Meta:
        ref_name = "TrackingEventDeliveryConfirmation"


class PredictionBasisDoc(serializers.Serializer):
    lane = serializers.CharField(help_text="The lane the prediction learnt from, e.g. 'ups GB-BS → GB-LS'.")
    level = serializers.CharField(
        help_text="service lane, lane, country pair, origin or carrier (coarser = less history)."
    )
    sample_size = serializers.IntegerField(help_text="Past deliveries on that lane.")

    class Meta:
        ref_name = "PredictionBasis"


class PredictedDeliveryDoc(serializers.Serializer):
    date = serializers.DateField(allow_null=True, help_text="Most likely delivery date; null when we cannot predict.")
    earliest = serializers.DateField(required=False, help_text="Start of the 80 % window.")
    latest = serializers.DateField(required=False, help_text="End of the 80 % window.")
    confidence = serializers.FloatField(
        required=False, help_text="Share of the lane's past deliveries inside the window."
    )
    basis = PredictionBasisDoc(required=False)
    reason = serializers.CharField(required=False, help_text="Why there is no prediction (too little history).")

    class Meta:
        ref_name = "PredictedDelivery"


class OtherUpdatesDoc(serializers.Serializer):
    condition = serializers.ChoiceField(choices=_choices(ParcelCondition), required=False)
    carrier_weight_dims = PhysicalDataDoc(required=False)
    eta = serializers.DateTimeField(required=False, help_text="In the offset the carrier gave.")
    shipping_cost = serializers.FloatField(required=False)
    shipping_cost_currency = serializers.CharField(required=False)
    delivery_confirmation = DeliveryConfirmationDoc(required=False)
    co2_footprint_kg = serializers.FloatField(required=False)
    predicted_delivery = PredictedDeliveryDoc(
        required=False,
        help_text="Our addition, in webhooks while the shipment is on its way: the delivery date learnt from "
        "Gluey's own history, as of this event.",
    )

    class Meta:
        ref_name = "OtherUpdates"


class TrackingEventDoc(serializers.Serializer):
    carrier_meta_data = KeyValueDoc(many=True, required=False)
    event_time = EventTimeDoc()
    eta = serializers.DateTimeField(required=False, help_text="In the offset the carrier gave.")
    codes = CodesDoc()
    location = LocationDoc()
    other = OtherUpdatesDoc(required=False, help_text="Our addition in the track API (Gluey has it in webhooks).")

    class Meta:
        ref_name = "TrackingEvent"


class WebhookTrackingEventDoc(serializers.Serializer):
    carrier_meta_data = KeyValueDoc(many=True, required=False)
    event_time = EventTimeDoc()
    codes = CodesDoc()
    location = LocationDoc()
    other = OtherUpdatesDoc(required=False)

    class Meta:
        ref_name = "WebhookTrackingEvent"


class TrackingDataDoc(serializers.Serializer):
    current_eta = serializers.DateTimeField(required=False, help_text="In the offset the carrier gave.")
    predicted_delivery = PredictedDeliveryDoc(
        required=False,
        help_text="Our addition, for shipments on their way: the delivery date learnt from Gluey's own history.",
    )
    shipping_cost = serializers.FloatField(required=False)
    shipping_cost_currency = serializers.CharField(required=False)
    delivery_confirmation = DeliveryConfirmationDoc(required=False)
    co2_footprint_kg = serializers.FloatField(required=False)
    events = TrackingEventDoc(many=True, help_text="Oldest first by carrier time.")

    class Meta:
        ref_name = "TrackingData"


class ReferencesDoc(serializers.Serializer):
    shipper = serializers.CharField(required=False)
    receiver = serializers.CharField(required=False)

    class Meta:
        ref_name = "References"


class ParcelRefDoc(serializers.Serializer):
    id = serializers.UUIDField()
    uuid_ref = serializers.CharField(required=False)
    meta_data = KeyValueDoc(many=True, required=False)
    carrier_tracking_id = serializers.CharField()

    class Meta:
        ref_name = "ParcelRef"


class TrackedParcelDoc(ParcelRefDoc):
    condition = serializers.ChoiceField(
        choices=_choices(ParcelCondition), help_text='The latest condition the carrier reported; "unknown" if none.'
    )
    carrier_weight_dims = PhysicalDataDoc(required=False)
    tracking_data = TrackingDataDoc()

    class Meta:
        ref_name = "TrackingEventParcel"


class BatchTrackShipmentDoc(serializers.Serializer):
    id = serializers.UUIDField()
    uuid_ref = serializers.CharField(required=False)
    tracking_level = serializers.ChoiceField(choices=TrackingLevel.choices)
    carrier_id = serializers.CharField(help_text="Our addition: the carrier the shipment was registered with.")
    carrier_tracking_id = serializers.CharField(help_text="Our addition: the registered tracking number.")
    references = ReferencesDoc()
    parcels = TrackedParcelDoc(many=True)
    tracking_data = TrackingDataDoc(help_text="Events of the shipment's own (master) number, at both levels.")

    class Meta:
        ref_name = "BatchTrackShipment"


class TrackSingleShipmentDoc(BatchTrackShipmentDoc):
    parcels = TrackedParcelDoc(many=True, allow_null=True, help_text='Null unless tracking_level is "parcel".')

    class Meta:
        ref_name = "TrackSingleShipment"


class ShipmentDoc(serializers.Serializer):
    id = serializers.UUIDField()
    uuid_ref = serializers.CharField(required=False)
    carrier_id = serializers.CharField()
    carrier_tracking_id = serializers.CharField()
    tracking_level = serializers.ChoiceField(choices=TrackingLevel.choices)
    references = ReferencesDoc()
    meta_data = KeyValueDoc(many=True)
    parcels = ParcelRefDoc(many=True)
    created_utc = serializers.DateTimeField()
    updated_utc = serializers.DateTimeField(help_text="Registrations are not edited: equals created_utc.")
    carrier_detected = serializers.BooleanField(
        help_text="Our addition: true when no carrier_id was given and the carrier was recognised from the number."
    )
    detected_format = serializers.CharField(
        allow_null=True, help_text="The recognised number format (see GET /carriers), null when carrier_id was given."
    )

    class Meta:
        ref_name = "Shipment"


class TrackableReferenceUpdateDoc(serializers.Serializer):
    new_carrier_tracking_id = serializers.CharField()
    new_carrier_tracking_url = serializers.CharField(required=False)

    class Meta:
        ref_name = "TrackableReferenceUpdate"


class WebhookParcelDoc(serializers.Serializer):
    parcel_id = serializers.UUIDField()
    parcel_uuid_ref = serializers.CharField(required=False)
    parcel_meta_data = KeyValueDoc(many=True, required=False)
    carrier_tracking_id = serializers.CharField()
    carrier_tracking_update = TrackableReferenceUpdateDoc(required=False)

    class Meta:
        ref_name = "WebhookTrackingEventParcel"


class TrackingWebhookEventDoc(serializers.Serializer):
    shipment_id = serializers.UUIDField()
    shipment_uuid_ref = serializers.CharField(allow_null=True)
    shipment_meta_data = KeyValueDoc(many=True)
    carrier_id = serializers.CharField()
    carrier_tracking_id = serializers.CharField()
    carrier_tracking_update = TrackableReferenceUpdateDoc(required=False)
    tracking_level = serializers.ChoiceField(choices=TrackingLevel.choices)
    parcel = WebhookParcelDoc(required=False, help_text='Only for tracking_level "parcel".')
    event = WebhookTrackingEventDoc()
    correction = serializers.BooleanField(
        required=False,
        help_text="Our addition: true when this event was delivered before and its codes were re-harmonised.",
    )

    class Meta:
        ref_name = "TrackingWebhookEvent"


class EventFeedDoc(serializers.Serializer):
    events = TrackingWebhookEventDoc(many=True, help_text="In recording order.")
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as ?after= on the next call.")
    has_more = serializers.BooleanField(help_text="True when another page is ready now.")

    class Meta:
        ref_name = "EventFeed"
