"""Signal receivers of the Event Service, connected in CarriersConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_migrate, post_save

from carriers.models import Carrier
from tracking.signals import shipment_registered


def on_shipment_registered(sender: Any, *, shipment: Any, tracked_items: Any, **kwargs: Any) -> None:
    """Polling carriers check a newly registered number at the next dispatch."""
    from carriers.services.polling import tracked_items_schedule_first_check

    tracked_items_schedule_first_check(tracked_items=tracked_items)


def on_carrier_saved(sender: Any, instance: Carrier, raw: bool = False, **kwargs: Any) -> None:
    from carriers.views import carrier_cache_forget

    carrier_cache_forget(instance.pk)
    if raw:  # loaddata
        return
    from carriers.services.schedules import carrier_schedules_sync

    carrier_schedules_sync(carrier=instance)


def on_carrier_deleted(sender: Any, instance: Carrier, **kwargs: Any) -> None:
    from carriers.views import carrier_cache_forget

    carrier_cache_forget(instance.pk)
    from carriers.services.schedules import carrier_schedules_remove

    carrier_schedules_remove(carrier_id=instance.pk)


def on_post_migrate(sender: Any, **kwargs: Any) -> None:
    if getattr(sender, "name", "") != "carriers":
        return
    from django.db import connection

    tables = set(connection.introspection.table_names())
    if "django_celery_beat_periodictask" not in tables or "carriers_carrier" not in tables:
        return
    from carriers.services.schedules import schedules_ensure

    schedules_ensure()


def connect() -> None:
    shipment_registered.connect(on_shipment_registered, dispatch_uid="carriers.first_check")
    post_save.connect(on_carrier_saved, sender=Carrier, dispatch_uid="carriers.schedules")
    post_delete.connect(on_carrier_deleted, sender=Carrier, dispatch_uid="carriers.schedules_remove")
    post_migrate.connect(on_post_migrate, dispatch_uid="carriers.schedules_ensure")
