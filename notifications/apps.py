from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import services
        from tracking.signals import events_recorded

        events_recorded.connect(services.outbox_write_for_events, dispatch_uid="notifications.outbox")
