from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_periodic_tasks(sender: AppConfig, **kwargs: Any) -> None:
    from notifications.services.periodic import periodic_tasks_ensure

    periodic_tasks_ensure()


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import services
        from tracking.signals import events_recorded

        events_recorded.connect(services.outbox_write_for_events, dispatch_uid="notifications.outbox")
        post_migrate.connect(_ensure_periodic_tasks, sender=self, dispatch_uid="notifications.periodic")

        from django.db.models.signals import post_delete, post_save

        from notifications import signals
        from notifications.models import SftpDestination

        post_save.connect(signals.destination_saved, sender=SftpDestination, dispatch_uid="notifications.dest_saved")
        post_delete.connect(
            signals.destination_deleted, sender=SftpDestination, dispatch_uid="notifications.dest_deleted"
        )
