"""Request validation and the documented response shapes of the customer API.

Input serializers only validate and convert; the responses themselves are
built by ``tracking.representations`` and the ``*Doc`` serializers below
describe them for the OpenAPI schema (a contract test checks real responses
against it).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tracking.models import TrackingLevel

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


class KeyValueDoc(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField()

    class Meta:
        ref_name = "KeyValue"


class EventTimeDoc(serializers.Serializer):
    created_utc = serializers.DateTimeField(help_text="When Gluey recorded the event (UTC).")
    carrier_utc = serializers.DateTimeField(help_text="The carrier's event time, in the carrier's offset.")

    class Meta:
        ref_name = "EventTime"


class GlueyCodesDoc(serializers.Serializer):
    milestone = serializers.CharField()
    code = serializers.CharField()
    sub_code = serializers.CharField()
    freetext_detail = serializers.CharField()

    class Meta:
        ref_name = "GlueyCodes"


class CarrierCodesDoc(serializers.Serializer):
    code = serializers.CharField()
    sub_code = serializers.CharField(required=False)
    freetext_detail = serializers.CharField(required=False)

    class Meta:
        ref_name = "CarrierCodes"


class CodesDoc(serializers.Serializer):
    gluey = GlueyCodesDoc()
    carrier = CarrierCodesDoc()

    class Meta:
        ref_name = "Codes"


class LocationCodingDoc(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField(required=False)
    type = serializers.CharField(required=False)

    class Meta:
        ref_name = "LocationCoding"


class AddressDoc(serializers.Serializer):
    name = serializers.CharField(required=False)
    street = serializers.CharField(required=False)
    postal_code = serializers.CharField(required=False)
    city = serializers.CharField(allow_null=True)
    state = serializers.CharField(required=False)
    iso_country = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "Address"


class GeoDoc(serializers.Serializer):
    lat = serializers.FloatField()
    lng = serializers.FloatField()

    class Meta:
        ref_name = "Geo"


class LocationDoc(serializers.Serializer):
    carrier_location_coding = LocationCodingDoc(required=False)
    address = AddressDoc(required=False)
    geo = GeoDoc(required=False)

    class Meta:
        ref_name = "Location"


class TrackingEventDoc(serializers.Serializer):
    event_time = EventTimeDoc()
    codes = CodesDoc()
    location = LocationDoc()
    carrier_meta_data = KeyValueDoc(many=True, required=False)
    eta = serializers.DateTimeField(required=False)

    class Meta:
        ref_name = "TrackingEvent"


class DeliveryConfirmationDoc(serializers.Serializer):
    signed_by = serializers.CharField(required=False)
    photo_format = serializers.CharField(allow_null=True, help_text="Null: no photo is stored.")
    base64_photo = serializers.CharField(required=False)

    class Meta:
        ref_name = "DeliveryConfirmation"


class TrackingDataDoc(serializers.Serializer):
    current_eta = serializers.DateTimeField(required=False)
    delivery_confirmation = DeliveryConfirmationDoc(required=False)
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
    condition = serializers.CharField(help_text='Milestone of the current state; "unknown" before any event.')
    tracking_data = TrackingDataDoc()

    class Meta:
        ref_name = "TrackedParcel"


class BatchTrackShipmentDoc(serializers.Serializer):
    id = serializers.UUIDField()
    uuid_ref = serializers.CharField(required=False)
    tracking_level = serializers.ChoiceField(choices=TrackingLevel.choices)
    references = ReferencesDoc()
    parcels = TrackedParcelDoc(many=True)
    tracking_data = TrackingDataDoc(required=False, help_text='Present when tracking_level is "shipment".')

    class Meta:
        ref_name = "BatchTrackShipment"


class TrackSingleShipmentDoc(BatchTrackShipmentDoc):
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
    created_at = serializers.DateTimeField()
    carrier_detected = serializers.BooleanField(
        help_text="Our addition: true when no carrier_id was given and the carrier was recognised from the number."
    )
    detected_format = serializers.CharField(
        allow_null=True, help_text="The recognised number format (see GET /carriers), null when carrier_id was given."
    )

    class Meta:
        ref_name = "Shipment"


class TrackingWebhookEventDoc(serializers.Serializer):
    shipment_id = serializers.UUIDField()
    shipment_uuid_ref = serializers.CharField(allow_null=True)
    shipment_meta_data = KeyValueDoc(many=True)
    carrier_id = serializers.CharField()
    carrier_tracking_id = serializers.CharField()
    tracking_level = serializers.ChoiceField(choices=TrackingLevel.choices)
    parcel = ParcelRefDoc(required=False)
    event = TrackingEventDoc()

    class Meta:
        ref_name = "TrackingWebhookEvent"


class EventFeedDoc(serializers.Serializer):
    events = TrackingWebhookEventDoc(many=True, help_text="In recording order.")
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as ?after= on the next call.")
    has_more = serializers.BooleanField(help_text="True when another page is ready now.")

    class Meta:
        ref_name = "EventFeed"
