"""Registration: customers, their API keys and the shipments they follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tracking.detection import CarrierDetection, carrier_detect
from tracking.models import Customer, CustomerAPIKey, Parcel, Shipment, TrackedItem, TrackingEvent
from tracking.services.recording import item_histories_write
from tracking.signals import shipment_registered


def tracked_item_get_or_create(*, carrier_id: str, tracking_id: str) -> TrackedItem:
    item, _ = TrackedItem.objects.get_or_create(carrier_id=carrier_id, tracking_id=tracking_id)
    if item.expires_at is not None:
        # Someone follows it now: keep its history for good.
        TrackedItem.objects.filter(pk=item.pk).update(expires_at=None)
        item.expires_at = None
    return item


def tracked_items_purge_expired(*, now: datetime | None = None) -> int:
    """Drop events of numbers nobody registered within the retention window."""
    now = now or timezone.now()
    expired = TrackedItem.objects.filter(expires_at__lt=now, shipments__isnull=True, parcels__isnull=True)
    count = 0
    for item in expired.iterator():
        with transaction.atomic():
            TrackedItem.objects.filter(pk=item.pk).update(current_event=None)
            TrackingEvent.objects.filter(tracked_item=item).delete()
            item.delete()
            count += 1
    return count


class UnknownCarrier(LookupError):
    """``known``: the carrier ids that exist (at most 50), so the caller can say which to use."""

    def __init__(self, carrier_id: str, known: Sequence[str]) -> None:
        self.carrier_id = carrier_id
        self.known = list(known)
        names = ", ".join(self.known) if self.known else "none configured yet"
        super().__init__(f"Unknown carrier {carrier_id!r}. Known carriers: {names}.")


class RegistrationConflict(ValueError):
    """The number is already registered with another ``uuid_ref``; nothing was changed."""

    def __init__(self, shipment: Shipment, uuid_ref: str) -> None:
        self.shipment = shipment
        super().__init__(
            f"{shipment.carrier_id} {shipment.carrier_tracking_id} is already registered as shipment "
            f"{shipment.pk} with uuid_ref {shipment.uuid_ref!r}, not {uuid_ref!r}; nothing was changed."
        )


def customer_create(*, name: str) -> tuple[Customer, str]:
    """Create a customer and its first API key; the clear key is returned once."""
    name = name.strip()
    if not name:
        raise ValueError("customer name must not be empty")
    with transaction.atomic():
        customer = Customer.objects.create(name=name)
        _, key = CustomerAPIKey.objects.create_key(name=f"{name} (default)", customer=customer)
    return customer, key


@dataclass
class ParcelInput:
    carrier_tracking_id: str
    uuid_ref: str = ""
    meta_data: list[dict[str, str]] = field(default_factory=list)


def shipment_register(
    *,
    customer: Customer,
    carrier_id: str,
    carrier_tracking_id: str,
    uuid_ref: str = "",
    tracking_level: str = "shipment",
    reference_shipper: str = "",
    reference_receiver: str = "",
    meta_data: list[dict[str, str]] | None = None,
    parcels: Sequence[ParcelInput] = (),
    detected_format: str = "",
) -> tuple[Shipment, bool]:
    """Register a tracking number for a customer; returns (shipment, created).

    Registering the same (carrier, tracking id) again returns the existing
    shipment unchanged, unless it names a different ``uuid_ref``: that raises
    RegistrationConflict rather than silently keeping the old one. Events already recorded for the number (it may have
    arrived before anyone registered it) become visible at once.
    """
    carrier_model = Shipment._meta.get_field("carrier").related_model
    if not carrier_model._default_manager.filter(pk=carrier_id).exists():
        known = list(carrier_model._default_manager.order_by("pk").values_list("pk", flat=True)[:50])
        raise UnknownCarrier(carrier_id, known)
    existing = Shipment.objects.filter(
        customer=customer, carrier_id=carrier_id, carrier_tracking_id=carrier_tracking_id
    ).first()
    if existing is not None:
        return _repeat(existing, uuid_ref), False
    try:
        with transaction.atomic():
            item = tracked_item_get_or_create(carrier_id=carrier_id, tracking_id=carrier_tracking_id)
            shipment = Shipment.objects.create(
                customer=customer,
                tracked_item=item,
                carrier_id=carrier_id,
                carrier_tracking_id=carrier_tracking_id,
                uuid_ref=uuid_ref,
                tracking_level=tracking_level,
                reference_shipper=reference_shipper,
                reference_receiver=reference_receiver,
                meta_data=meta_data or [],
                detected_format=detected_format,
            )
            items = [item]
            for parcel in parcels:
                parcel_item = tracked_item_get_or_create(carrier_id=carrier_id, tracking_id=parcel.carrier_tracking_id)
                items.append(parcel_item)
                Parcel.objects.create(
                    shipment=shipment,
                    tracked_item=parcel_item,
                    carrier_tracking_id=parcel.carrier_tracking_id,
                    uuid_ref=parcel.uuid_ref,
                    meta_data=parcel.meta_data,
                )
            # Its events may have come first, when nobody kept its history: under the lock
            # (expires_at cleared above), an event recorded now is seen here or keeps it itself.
            item_histories_write(item.pk for item in items)
            shipment_registered.send(sender=Shipment, shipment=shipment, tracked_items=items)
    except IntegrityError:
        # A concurrent request registered it first: answer as a repeat.
        existing = Shipment.objects.get(
            customer=customer, carrier_id=carrier_id, carrier_tracking_id=carrier_tracking_id
        )
        return _repeat(existing, uuid_ref), False
    return shipment, True


class CarrierNotDetected(LookupError):
    """No configured carrier, or more than one, issues numbers like this one."""

    def __init__(self, detection: CarrierDetection) -> None:
        self.detection = detection
        number = detection.tracking_id
        if detection.candidates:
            names = ", ".join(c.carrier_id for c in detection.candidates)
            message = f"{number!r} matches the number formats of several carriers ({names}); name one as carrier_id."
        else:
            configured = ", ".join(carrier_id for carrier_id, _ in detection.configured) or "none"
            message = f"{number!r} matches no configured carrier's number format (configured: {configured})."
        super().__init__(message)


def shipment_register_detected(
    *, customer: Customer, carrier_tracking_id: str, **fields: Any
) -> tuple[Shipment, bool, CarrierDetection]:
    """Register a number without a carrier: the one configured carrier whose format it matches.

    A customer who already follows the number with exactly one carrier gets that
    shipment back, as with a repeated registration. Raises ``CarrierNotDetected``
    when no carrier or several match, ``DetectionUnavailable`` when nothing can detect.
    """
    detection = carrier_detect(tracking_id=carrier_tracking_id)
    existing = list(Shipment.objects.filter(customer=customer, carrier_tracking_id=carrier_tracking_id)[:2])
    if len(existing) == 1:
        return _repeat(existing[0], fields.get("uuid_ref", "")), False, detection
    if len(detection.candidates) != 1:
        raise CarrierNotDetected(detection)
    winner = detection.candidates[0]
    shipment, created = shipment_register(
        customer=customer,
        carrier_id=winner.carrier_id,
        carrier_tracking_id=carrier_tracking_id,
        detected_format=winner.format_id,
        **fields,
    )
    return shipment, created, detection


def _repeat(existing: Shipment, uuid_ref: str) -> Shipment:
    if uuid_ref and existing.uuid_ref != uuid_ref:
        raise RegistrationConflict(existing, uuid_ref)
    return existing
