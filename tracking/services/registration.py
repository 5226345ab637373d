"""Registration: customers, their API keys and the shipments they follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from tracking.models import Customer, CustomerAPIKey, Parcel, Shipment, TrackedItem, TrackingEvent
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
    pass


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
) -> tuple[Shipment, bool]:
    """Register a tracking number for a customer; returns (shipment, created).

    Registering the same (carrier, tracking id) again returns the existing
    shipment unchanged. Events already recorded for the number (it may have
    arrived before anyone registered it) become visible at once.
    """
    carrier_model = Shipment._meta.get_field("carrier").related_model
    if not carrier_model.objects.filter(pk=carrier_id).exists():  # type: ignore[union-attr]
        raise UnknownCarrier(f"unknown carrier_id {carrier_id!r}")
    existing = Shipment.objects.filter(
        customer=customer, carrier_id=carrier_id, carrier_tracking_id=carrier_tracking_id
    ).first()
    if existing is not None:
        return existing, False
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
            shipment_registered.send(sender=Shipment, shipment=shipment, tracked_items=items)
    except IntegrityError:
        # A concurrent request registered it first: answer as a repeat.
        return (
            Shipment.objects.get(customer=customer, carrier_id=carrier_id, carrier_tracking_id=carrier_tracking_id),
            False,
        )
    return shipment, True
